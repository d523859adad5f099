"""Run-folder checkpoints: ``config.json`` + ``model.safetensors`` (+ ``checkpoint.safetensors`` to resume).

``model.safetensors`` holds the model's weights only and is what every other command reads.
``checkpoint.safetensors`` additionally holds the optimizers' moments and the step, so that ``--resume``
continues exactly where a killed run last saved. Both are written atomically; nothing is pickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .. import __version__
from ..errors import LatentLensError
from ..io import FORMAT_VERSION, load_state_into, load_tensors, read_json, save_tensors, write_json

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
RESUME = "checkpoint.safetensors"


def write_run_config(run_dir: str | os.PathLike, config: dict) -> dict:
    config = {"format_version": FORMAT_VERSION, "latentlens_version": __version__, **config}
    write_json(Path(run_dir) / CONFIG, config)
    return config


def load_run_config(run_dir: str | os.PathLike) -> dict:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LatentLensError(f"run folder not found: {run_dir}")
    config = read_json(run_dir / CONFIG)
    where = run_dir / CONFIG
    if not isinstance(config, dict) or "kind" not in config or "model" not in config:
        raise LatentLensError(f"{where} is not a latentlens run config (no 'kind'/'model')")
    version = config.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise LatentLensError(f"{where}: format_version must be a non-negative whole number, got {version!r}")
    if version > FORMAT_VERSION:
        raise LatentLensError(f"{run_dir} was written by a newer latentlens (format {version})")
    if not isinstance(config["kind"], str) or not isinstance(config["model"], dict):
        raise LatentLensError(f"{where}: 'kind' must be a name and 'model' an object")
    for key in ("train", "objective"):
        if key in config and not isinstance(config[key], dict):
            raise LatentLensError(f"{where}: {key!r} must be an object, got {type(config[key]).__name__}")
    return config


def save_model(run_dir: str | os.PathLike, model: torch.nn.Module, step: int | None = None) -> Path:
    return save_tensors(Path(run_dir) / WEIGHTS, model.state_dict(), metadata={"step": step})


def write_external_run(run_dir, spec: str, weights=None, role: str = "generator", adapter: dict | None = None,
                       data: str | None = None) -> dict:  # fmt: skip
    """A run folder for a user's own model (``--model package.module:factory --weights FILE``): ``config.json``
    records how to rebuild it (``kind: external``), so every command and the report read it like any run."""
    from ..errors import LatentLensError

    if role not in EXTERNAL_ROLES:
        raise LatentLensError(f"role must be one of {', '.join(EXTERNAL_ROLES)}, got {role!r}")
    model = {"spec": spec, "weights": str(Path(weights).resolve()) if weights else None, "role": role,
             "adapter": {k: v for k, v in (adapter or {}).items() if v is not None}}  # fmt: skip
    config = {"kind": "external", "model": model}
    if data:
        config["data"] = data
    existing = Path(run_dir) / CONFIG
    if existing.is_file():
        old = load_run_config(run_dir)
        if old.get("kind") != "external" or old.get("model") != model:
            raise LatentLensError(f"{run_dir} already holds another run; choose a new --out")
        return old
    return write_run_config(run_dir, config)


EXTERNAL_ROLES = ("generator", "vae", "classifier", "diffusion")


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the run's model from ``config.json`` and load ``model.safetensors`` (or, for a user's model
    recorded by :func:`write_external_run`, import and load it); eval mode, on ``device``."""
    from ..models import build_model

    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    if config["kind"] == "external":
        from ..adapters import load_user_model

        spec = config["model"].get("spec")
        if not isinstance(spec, str):
            raise LatentLensError(f"{run_dir / CONFIG}: an external run needs model.spec (package.module:factory)")
        weights = config["model"].get("weights")
        return load_user_model(spec, weights if isinstance(weights, str) else None, device)
    try:
        model = build_model(config["kind"], config["model"])
    except (TypeError, ValueError, OverflowError) as exc:
        raise LatentLensError(f"{run_dir / CONFIG}: invalid model config: {exc}") from None
    state = load_tensors(run_dir / WEIGHTS)
    bad = [name for name, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise LatentLensError(f"{run_dir / WEIGHTS} holds NaN or infinite weights (e.g. {bad[0]}); the model is unusable")
    load_state_into(model, state, run_dir / WEIGHTS)
    return model.to(device).eval()


def optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str) -> dict[str, torch.Tensor]:
    """Flatten an optimizer's per-parameter state into named tensors (Adam: step, exp_avg, exp_avg_sq)."""
    flat = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            flat[f"{prefix}.{index}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return flat


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value.clone()
    groups = optimizer.state_dict()["param_groups"]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    # Saved moments are contiguous; give them their parameter's layout (channels_last convolutions), since
    # the fused Adam kernel walks a parameter and its moments in the same memory order.
    for param, param_state in optimizer.state.items():
        for key, value in param_state.items():
            if torch.is_tensor(value) and value.shape == param.shape:
                param_state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def save_resume_state(
    run_dir: str | os.PathLike,
    step: int,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
) -> None:
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        tensors.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
    for name, optimizer in optimizers.items():
        tensors.update(optimizer_tensors(optimizer, f"optim.{name}"))
    save_tensors(Path(run_dir) / RESUME, tensors, metadata={"step": step})


def checkpoint_step(run_dir: str | os.PathLike) -> int:
    """The step ``checkpoint.safetensors`` was saved at (0 when there is none)."""
    path = Path(run_dir) / RESUME
    if not path.is_file():
        return 0
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return int(json.loads(handle.metadata().get("step", "0")))
    except (SafetensorError, OSError, ValueError, TypeError):
        return 0


def load_resume_state(
    run_dir: str | os.PathLike,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
) -> int:
    """Load modules and optimizers from ``checkpoint.safetensors``; return the step it was saved at."""
    path = Path(run_dir) / RESUME
    if not path.exists():
        return 0
    tensors = load_tensors(path)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        step = int(handle.metadata().get("step", "0"))
    for name, module in modules.items():
        own = {k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(name + ".")}
        load_state_into(module, own, path)
    for name, optimizer in optimizers.items():
        restore_optimizer(optimizer, tensors, f"optim.{name}")
    return step
