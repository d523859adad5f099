"""The model zoo: reference models trained by latentlens' own commands, shipped as package data.

Each model is a normal run folder under ``latentlens/zoo/weights/NAME``: ``config.json``,
``model.safetensors``, ``log.jsonl``, ``metrics.json`` and ``provenance.json`` (the exact command, the commit,
steps, wall time, the machine and the metrics measured on it). Nothing is downloaded.

::

    from latentlens import zoo
    zoo.list_models()                      # [{"name", "kind", "data", "metrics", ...}, ...]
    model = zoo.load("dsprites-factorvae")  # ConvVAE, eval mode
    run = zoo.resolve_run("zoo:dsprites-gan")  # a writable run folder (exported once to the cache)
    zoo.export("dsprites-gan", "runs/gan")      # the same as a folder of your choice
    zoo.train("dsprites-betavae", "runs/bvae")  # reproduce it from scratch with its recorded recipe
"""

from __future__ import annotations

import hashlib
import json
import logging
import operator
import os
import platform
import subprocess
import time
from pathlib import Path

from ..errors import LatentLensError
from ..io import read_json, write_json
from .recipes import RECIPES, Recipe, get_recipe

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
PREFIX = "zoo:"
RUN_FILES = ("config.json", "model.safetensors", "log.jsonl", "metrics.json", "train_summary.json", "provenance.json")


def model_dir(name: str) -> Path:
    """The packaged folder of zoo model ``name``; a clear error when it is not shipped."""
    recipe = get_recipe(name)
    path = WEIGHTS_DIR / recipe.name
    if not (path / "model.safetensors").is_file():
        raise LatentLensError(
            f"zoo model {name!r} is not shipped in this installation; train it with "
            f"`latentlens zoo train {name} --out DIR`"
        )
    return path


def available() -> list[str]:
    """Names of the zoo models whose weights are shipped."""
    return [name for name in sorted(RECIPES) if (WEIGHTS_DIR / name / "model.safetensors").is_file()]


def info(name: str) -> dict:
    """Provenance of a shipped model: name, kind, data, description, command, commit, steps, wall time,
    machine, metrics."""
    path = model_dir(name)
    recipe = get_recipe(name)
    prov = read_json(path / "provenance.json") if (path / "provenance.json").is_file() else {}
    return {"name": recipe.name, "kind": recipe.kind, "data": recipe.data, "description": recipe.description,
            "metrics": prov.get("metrics", {}), **prov}  # fmt: skip


def list_models() -> list[dict]:
    """One provenance dict per shipped model (see :func:`info`)."""
    return [info(name) for name in available()]


def load(name: str, device: str = "cpu"):
    """The zoo model ``name`` as a module in eval mode on ``device``."""
    from ..train.checkpoint import load_model

    return load_model(model_dir(name), device=device)


def _digest(path: Path) -> str:
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()[:12]


def export(name: str, out: str | os.PathLike) -> Path:
    """Copy zoo model ``name`` into the run folder ``out`` (created); every command accepts it as ``--run``."""
    from ..io import atomic_write_bytes, output_folder

    source = model_dir(name)
    out = Path(out)
    if (out / "model.safetensors").exists() and (out / "config.json").exists() and _digest(out) == _digest(source):
        return out
    if any((out / f).exists() for f in ("config.json", "model.safetensors", "checkpoint.safetensors")):
        raise LatentLensError(f"{out} already holds another run; choose a new folder")
    output_folder(out)
    for file in RUN_FILES:
        if (source / file).is_file():
            atomic_write_bytes(out / file, (source / file).read_bytes())
    return out


def resolve_run(spec: str | os.PathLike) -> Path:
    """A run folder for ``--run`` values: ``zoo:NAME`` is exported once to ``$LATENTLENS_CACHE/zoo/NAME-<hash>``
    (so commands can write their outputs beside it); anything else is taken as a path."""
    text = str(spec)
    if not text.startswith(PREFIX):
        return Path(spec)
    from ..metrics.factor_predictor import default_cache_dir

    name = text[len(PREFIX) :]
    source = model_dir(name)
    return export(name, default_cache_dir() / "zoo" / f"{name}-{_digest(source)}")


def _git_commit() -> str:
    """HEAD of the checkout latentlens runs from (``-dirty`` with uncommitted changes); in a copy without
    ``.git`` (a tree sent to another machine), ``$LATENTLENS_COMMIT`` or ``unknown``."""
    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return os.environ.get("LATENTLENS_COMMIT", "unknown")
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def machine() -> dict:
    """What trained a model: platform, CPU count, torch threads and version, and the accelerator if any."""
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "device": device}  # fmt: skip


TRAINING_RECORD = "zoo_training.json"  # the command, commit and machine of the training, written when it starts


def train(name: str, out: str | os.PathLike, preset: str = "fast", progress: bool = True, device: str = "cpu",
          seed: int | None = None) -> dict:
    """Reproduce zoo model ``name`` in ``out`` with its recorded command, score it, write ``provenance.json``.

    ``device`` (``cpu``, ``cuda``, ...) is passed on to the training command. The command, commit and
    machine are recorded in ``out/zoo_training.json`` when training starts, so a run trained on one machine
    (a GPU) and scored or resumed on another keeps the record of where it was trained. An interrupted run
    resumes when called again. Returns the provenance. ``preset`` is the metrics preset of a VAE's scoring
    (``fast`` or ``reference``). ``seed`` trains the recipe with another training seed (the recipe's own
    seed when ``None``): the same recipe over several seeds gives its spread.
    """
    from ..cli import main as cli_main

    recipe = get_recipe(name)
    seed = _checked_seed(seed)
    out = Path(out)
    device_flag = ["--device", device] if device != "cpu" else []
    argv = recipe.argv(str(out), seed) + device_flag
    if (out / "config.json").is_file():
        existing = read_json(out / "config.json")
        if existing.get("kind") not in (recipe.kind, "factor-predictor") or existing.get("train", {}).get("data") not in (
            None, recipe.data
        ):
            raise LatentLensError(f"{out} holds another run ({existing.get('kind')}); choose a new --out")
        trained = existing.get("train", {}).get("seed")
        wanted = recipe.seed if seed is None else seed
        if wanted is not None and trained is not None and str(trained) != str(wanted):
            raise LatentLensError(f"{out} was trained with seed {trained}, not {wanted}; choose a new --out")
    record_path = out / TRAINING_RECORD
    if not (out / "train_summary.json").is_file():
        resuming = (out / "checkpoint.safetensors").is_file()
        command = "latentlens " + " ".join(recipe.argv("OUT", seed) + device_flag)
        record = read_json(record_path) if resuming and record_path.is_file() else {}
        sessions = [*record.get("sessions", []), {"command": command, "machine": machine(),
                                                  "started": time.strftime("%Y-%m-%d %H:%M")}]  # fmt: skip
        # the code that trains it, read before training starts
        write_json(record_path, {"command": record.get("command", command), "commit": record.get("commit", _git_commit()),
                                 "sessions": sessions})  # fmt: skip
        if not progress:
            argv.append("--no-progress")
        if resuming:
            argv.append("--resume")
        began = time.perf_counter()
        code = cli_main(argv)
        if code != 0:
            raise LatentLensError(f"training zoo model {name} failed (exit {code})")
        log.info("trained %s in %.0f s", name, time.perf_counter() - began)
    summary = read_json(out / "train_summary.json")
    record = read_json(record_path) if record_path.is_file() else {}
    sessions = record.get("sessions") or [{"machine": machine()}]
    metrics = score(recipe, out, preset, progress)
    provenance = {
        "name": recipe.name, "kind": recipe.kind, "data": recipe.data, "description": recipe.description,
        "command": record.get("command", "latentlens " + " ".join(recipe.argv("OUT", seed))),
        "commit": record.get("commit", _git_commit()), "steps": summary.get("steps"),
        "wall_time_s": summary.get("seconds"), "machine": sessions[0]["machine"],
        "trained_at": sessions[0].get("started", time.strftime("%Y-%m-%d"))[:10], "metrics": metrics,
    }  # fmt: skip
    if len(sessions) > 1:
        provenance["resumed_on"] = [s["machine"] for s in sessions[1:]]
    write_json(out / "provenance.json", provenance)
    return provenance


def _checked_seed(seed) -> int | None:
    if seed is None:
        return None
    try:
        value = operator.index(seed)
    except TypeError:
        value = None
    if isinstance(seed, bool) or value is None or not 0 <= value < 2**32:
        raise LatentLensError(f"seed must be a whole number in [0, 2**32), got {seed!r}")
    return value


def score(recipe: Recipe, run_dir: Path, preset: str = "fast", progress: bool = False) -> dict:
    """The metrics a recipe records (see :mod:`latentlens.zoo.recipes`)."""
    if recipe.score == "disentanglement":
        from ..workflows.evaluate import evaluate_run
        from ..metrics.harness import SCORE_KEYS

        result = evaluate_run(run_dir, "all", preset, "mean", 0, progress)
        values = {k: round(float(result[k]), 4) for keys in SCORE_KEYS.values() for k in keys if k in result}
        return {"preset": preset, "seed": 0, **values}
    if recipe.score == "gan_shapes":
        from ..metrics.sample_statistics import gan_shape_statistics
        from ..train.checkpoint import load_model

        return gan_shape_statistics(load_model(run_dir), n=10_000)
    if recipe.score == "ddpm_shapes":
        from ..metrics.sample_statistics import ddpm_shape_statistics
        from ..train.checkpoint import load_model

        model = load_model(run_dir)
        first = ddpm_shape_statistics(model, n=100, steps=20)  # the same noise as the first 100 of the 2,000
        check = {k: first[k] for k in ("fraction_square", "fraction_ellipse", "fraction_heart", "intensity_ratio")}
        return {**ddpm_shape_statistics(model, n=2000, steps=20), "first_100_samples": check}
    if recipe.score == "factor_predictor":
        from ..metrics.factor_predictor import predictor_accuracy
        from ..train.checkpoint import load_model

        return {k: round(v, 4) for k, v in predictor_accuracy(load_model(run_dir)).items()}
    raise LatentLensError(f"unknown score {recipe.score!r}")


def dumps(models: list[dict]) -> str:
    return json.dumps(models, indent=2, sort_keys=True)


__all__ = ["RECIPES", "available", "export", "info", "list_models", "load", "machine", "resolve_run", "train"]
