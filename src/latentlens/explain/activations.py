"""Activations of a named layer of any ``nn.Module`` over a set of images: one value per unit (channel) and
image, the spatial mean (as in Klindt et al. and the IMI dataset) or the value at one location.

The forward pass stops right after the layer (its hook raises), runs in batches under
``torch.inference_mode`` on the model's device, and the hook is always removed. A user's own recordings
(images x units, ``.npy`` or ``.csv``) are read by :func:`load_activation_matrix`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import LatentLensError


class _Stop(Exception):
    pass


@torch.inference_mode()
def layer_activations(model: nn.Module, layer, images: torch.Tensor, batch_size: int = 256,
                      location: str | tuple[int, int] = "mean", forward=None) -> np.ndarray:  # fmt: skip
    """``(N, units)`` activations of ``layer`` (a dotted name in ``model`` or the module) for ``images``.

    ``location``: ``"mean"`` over the spatial axes, ``"center"``, or ``(row, col)``; a layer without spatial
    axes gives its units as they are. ``forward``: the function to run (default ``model``; e.g. a VAE's
    ``encode``)."""
    if isinstance(layer, str):
        try:
            module = model.get_submodule(layer)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n][:15]
            raise LatentLensError(f"no layer {layer!r} in the model (layers: {', '.join(names)}, ...)") from None
    else:
        module = layer
    captured: list[torch.Tensor] = []

    def hook(_m, _i, out):
        if not torch.is_tensor(out):
            raise LatentLensError(f"layer {layer!r} does not return a tensor")
        captured.append(out)
        raise _Stop

    device = next(iter(model.parameters()), torch.zeros(())).device
    run = forward or model
    was_training = model.training
    model.eval()
    handle = module.register_forward_hook(hook)
    chunks = []
    try:
        for start in range(0, len(images), batch_size):
            captured.clear()
            try:
                run(images[start : start + batch_size].float().to(device))
            except _Stop:
                pass
            if not captured:
                raise LatentLensError(f"layer {layer!r} did not run in the model's forward pass")
            chunks.append(_reduce(captured[0], location).float().cpu())
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(chunks).numpy()


def _reduce(out: torch.Tensor, location) -> torch.Tensor:
    if out.dim() == 2:
        return out
    if out.dim() != 4:
        return out.flatten(1)
    if location == "mean":
        return out.mean(dim=(-2, -1))
    h, w = out.shape[-2:]
    row, col = (h // 2, w // 2) if location == "center" else location
    if not (0 <= row < h and 0 <= col < w):
        raise LatentLensError(f"location {(row, col)} is outside the {h} x {w} feature map")
    return out[:, :, row, col]


def load_activation_matrix(path) -> np.ndarray:
    """A user's activations (images x units) from ``.npy`` or ``.csv`` (no header, or a header row of names)."""
    path = Path(path)
    if not path.is_file():
        raise LatentLensError(f"activation file not found: {path}")
    try:
        if path.suffix == ".npy":
            a = np.load(path, allow_pickle=False)
        else:
            try:
                a = np.loadtxt(path, delimiter=",", ndmin=2)
            except ValueError:
                a = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)
    except (ValueError, OSError) as exc:
        raise LatentLensError(f"cannot read activations {path}: {exc}") from None
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] < 1:
        raise LatentLensError(f"{path}: activations must be a 2-D table (images x units), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise LatentLensError(f"{path}: activations contain NaN or infinite values")
    return a
