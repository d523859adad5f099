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


def is_diffusion(config: dict, model) -> bool:
    """A diffusion model: a DDPM run, a user's model recorded with role ``diffusion``, or any module with a
    noise schedule (``alphas_cumprod``) or whose adapter options give one."""
    role = config.get("model", {}).get("role") if config.get("kind") == "external" else None
    adapter = config.get("adapter", {})
    return (config.get("kind") == "ddpm" or role == "diffusion" or hasattr(model, "alphas_cumprod")
            or "schedule" in adapter or "betas" in adapter or "alphas_cumprod" in adapter)  # fmt: skip


def diffusion_options(config: dict, model) -> dict:
    """Keyword arguments of :func:`latentlens.directions.hspace.as_diffusion` from a run's adapter options:
    the schedule (``schedule`` + ``num_timesteps``, or ``betas`` / ``alphas_cumprod``), ``h_layer``, and the image
    shape (``image_shape``, or ``image_size`` with the channel count the module accepts)."""
    from ..models.ddpm import noise_schedule

    adapter = config.get("adapter", {})
    options = {}
    for key in ("betas", "alphas_cumprod"):
        if adapter.get(key) is not None:
            options[key] = torch.as_tensor(adapter[key], dtype=torch.float64)
    if "schedule" in adapter and not options and not hasattr(model, "alphas_cumprod"):
        options["betas"] = noise_schedule(adapter["schedule"], int(adapter.get("num_timesteps") or 1000))
    if adapter.get("h_layer"):
        options["layer"] = adapter["h_layer"]
    if adapter.get("image_shape"):
        options["image_shape"] = tuple(adapter["image_shape"])
    elif adapter.get("image_size") and not hasattr(model, "image_shape"):
        options["image_shape"] = _probe_channels(model, int(adapter["image_size"]))
    return options


def _probe_channels(model, size: int) -> tuple[int, int, int]:
    """``(C, size, size)`` with the first channel count in (1, 3) that the module's forward accepts."""
    device = next(iter(model.parameters()), torch.zeros(())).device
    for channels in (1, 3):
        try:
            with torch.no_grad():
                model(torch.zeros(1, channels, size, size, device=device), torch.zeros(1, dtype=torch.long, device=device))
            return (channels, size, size)
        except (RuntimeError, ValueError, TypeError):
            continue
    raise LatentLensError(f"the model reads neither 1- nor 3-channel {size}x{size} images with forward(x, t)")


def generator_options(config: dict) -> dict:
    """The recorded adapter options that :func:`latentlens.directions.as_generator` takes."""
    return {k: v for k, v in config.get("adapter", {}).items() if k in GENERATOR_OPTIONS and v is not None}
