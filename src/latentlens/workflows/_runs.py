"""What a workflow reads: a run folder, ``zoo:NAME``, or a model object the caller already holds."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import LatentLensError


def open_model(source, out=None, device="cpu", adapter: dict | None = None):
    """``(run_dir, config, model)`` for ``source``: a run folder or ``zoo:NAME`` (``run_dir`` is that folder), or
    an ``nn.Module``/generator object (``run_dir`` is ``out``, which is then required). ``adapter`` holds
    options for the model's adapter (``latent_dim``, ``output_range``, ...), recorded in the config."""
    from ..adapters import resolve_device
    from ..train.checkpoint import load_model, load_run_config
    from ..zoo import resolve_run

    device = resolve_device(device)
    if isinstance(source, (str, Path)):
        run_dir = resolve_run(source)
        config = load_run_config(run_dir)
        if config["kind"] != "external" and not (run_dir / "model.safetensors").is_file():
            raise LatentLensError(f"{run_dir} has no trained model (model.safetensors)")
        model = load_model(run_dir, device=device)
        if config["kind"] == "external":
            adapter = {**config["model"].get("adapter", {}), **(adapter or {})}
        return run_dir, {**config, "adapter": adapter or {}}, model
    if out is None:
        raise LatentLensError("pass out= (the folder to write into) when giving a model object instead of a run folder")
    if isinstance(source, torch.nn.Module):
        source = source.to(device).eval()
    config = {"kind": "module", "model": {"class": type(source).__name__}, "adapter": adapter or {}}
    return Path(out), config, source


def run_data(config: dict) -> str | None:
    """The data a run was trained on (or declared with ``--data`` for a user's model), if known."""
    return config.get("train", {}).get("data") or config.get("data")


GENERATOR_OPTIONS = ("latent_dim", "output_range", "first_layer", "latent_shape", "condition")


def generator_options(config: dict) -> dict:
    """The recorded adapter options that :func:`latentlens.directions.as_generator` takes."""
    return {k: v for k, v in config.get("adapter", {}).items() if k in GENERATOR_OPTIONS and v is not None}
