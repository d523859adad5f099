"""Train the dSprites factor predictor into a run folder (``latentlens train factor-predictor``).

The maths and the training batches live in :mod:`latentlens.metrics.factor_predictor`; this writes the
usual run folder (``config.json``, ``model.safetensors``, ``train_summary.json``) so that the predictor can
be shipped in the model zoo and loaded like any other model.
"""

from __future__ import annotations

import time

from ..metrics.factor_predictor import DEFAULT_TRAINING, PREDICTOR_VERSION, train_factor_predictor
from . import checkpoint as ckpt
from .loop import RunWriter


def train_factor_predictor_run(out_dir, steps: int | None = None, batch_size: int | None = None,
                               lr: float | None = None, seed: int = 0, progress: bool = True):  # fmt: skip
    """Train with :data:`DEFAULT_TRAINING` where an argument is None; returns the model (eval mode)."""
    params = {
        "n_steps": steps or DEFAULT_TRAINING["n_steps"],
        "batch_size": batch_size or DEFAULT_TRAINING["batch_size"],
        "lr": lr or DEFAULT_TRAINING["lr"],
        "random_state": seed,
    }
    config = {"kind": "factor-predictor", "model": {"width": 16}, "predictor_version": PREDICTOR_VERSION,
              "train": {"data": "dsprites", "steps": params["n_steps"], "batch_size": params["batch_size"],
                        "lr": params["lr"], "seed": seed}}  # fmt: skip
    writer = RunWriter(out_dir, config, resume=False)
    began = time.perf_counter()
    model = train_factor_predictor(show_progress=progress, **params)
    ckpt.save_model(out_dir, model, params["n_steps"])
    writer.finish(params["n_steps"], model, {"steps": params["n_steps"], "seconds": round(time.perf_counter() - began, 2)})
    return model
