"""Forward hooks on a named layer and map resizing, shared by the gradient-map explainers.

:class:`LayerCapture` records a layer's output during one forward pass (and, for the linear-successor
shortcut of :mod:`latentlens.explain.vae_attention`, the output of the ``Conv2d`` that follows it);
:func:`eval_mode` switches a model to eval mode and restores every sub-module's mode; :func:`upsample` is
bilinear resizing (``align_corners=False``) as two small matrix products.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from ..errors import LatentLensError


def resolve_layer(model: nn.Module, name) -> nn.Module:
    """The sub-module called ``name`` (dotted path), or ``name`` itself when it is a module; unknown names
    raise :class:`LatentLensError`."""
    if isinstance(name, nn.Module):
        return name
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        conv_like = [n for n, m in modules.items() if n and isinstance(m, (nn.Conv2d, nn.ReLU))]
        raise LatentLensError(f"unknown layer {name!r}; try one of: {', '.join(conv_like[:12])}")
    return modules[name]


def linear_successor(model: nn.Module, name) -> str | None:
    """Name of the ``Conv2d`` that directly follows ``name`` inside an ``nn.Sequential``, if any."""
    if not isinstance(name, str):
        return None
    parent_name, _, last = name.rpartition(".")
    if not last.isdigit():
        return None
    parent = model.get_submodule(parent_name) if parent_name else model
    index = int(last) + 1
    if not isinstance(parent, nn.Sequential) or index >= len(parent):
        return None
    nxt = parent[index]
    if isinstance(nxt, nn.Conv2d) and nxt.padding_mode == "zeros" and isinstance(nxt.padding, tuple):
        return f"{parent_name}.{index}" if parent_name else str(index)
    return None


class LayerCapture:
    """Forward hooks that record a layer's output (and optionally its successor's output).

    Use as a context manager; the hooks are removed on exit, also when an exception is raised. With
    ``detach=True`` the recorded activation is cut from the graph of the layers before it (a leaf that
    requires grad), which saves memory when no gradient to those layers is needed.
    """

    def __init__(self, model: nn.Module, layer: str, successor: str | None = None, detach: bool = False):
        self.model, self.layer, self.successor, self.detach = model, layer, successor, detach
        self.activation: torch.Tensor | None = None
        self.successor_output: torch.Tensor | None = None
        self._successor_input: torch.Tensor | None = None
        self._handles: list = []

    def _on_layer(self, module, inputs, output):
        if not torch.is_tensor(output):
            raise LatentLensError(f"layer {self.layer!r} does not return a single tensor")
        if output.dim() != 4:
            raise LatentLensError(
                f"layer {self.layer!r} outputs shape {tuple(output.shape)}, not a (N, C, H, W) feature map: "
                "attention maps need a convolutional layer of the encoder (before it is flattened)"
            )
        if self.detach:
            output = output.detach().requires_grad_(True)
        self.activation = output
        # the network continues with a copy, so that an in-place operation after the layer (ReLU(inplace=True))
        # cannot overwrite the activation the maps are computed from
        self._passed_on = output.clone()
        return self._passed_on

    def _on_successor(self, module, inputs, output):
        self._successor_input = inputs[0] if inputs else None
        self.successor_output = output

    @property
    def successor_ok(self) -> bool:
        """True when the successor consumed exactly the recorded activation in the last forward."""
        return self.successor_output is not None and self._successor_input is getattr(self, "_passed_on", None)

    def __enter__(self) -> LayerCapture:
        self.activation = self.successor_output = self._successor_input = None
        module = resolve_layer(self.model, self.layer)
        self._handles.append(module.register_forward_hook(self._on_layer))
        if self.successor is not None:
            self._handles.append(resolve_layer(self.model, self.successor).register_forward_hook(self._on_successor))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


@contextlib.contextmanager
def eval_mode(model: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (when ``enabled``) and restore every sub-module's mode afterwards."""
    modes = {m: m.training for m in model.modules()}
    try:
        if enabled:
            model.eval()
        elif any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules()):
            warnings.warn(
                "BatchNorm layers in training mode couple the samples of a batch: each image's attention "
                "map then depends on the other images",
                stacklevel=3,
            )
        yield model
    finally:
        for module, mode in modes.items():
            module.training = mode


def bilinear_matrix(n_in: int, n_out: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """(n_out, n_in) weights of 1-d linear interpolation with half-pixel centres (``align_corners=False``,
    source coordinates clamped at 0), so that ``R_h @ m @ R_w.T`` is ``F.interpolate(m, mode="bilinear")``."""
    src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5).clamp_min(0)
    lower = src.floor().long().clamp_max(n_in - 1)
    upper = (lower + 1).clamp_max(n_in - 1)
    frac = src - lower
    rows = torch.arange(n_out)
    weights = torch.zeros(n_out, n_in, dtype=torch.float64)
    weights.index_put_((rows, lower), 1 - frac, accumulate=True)
    weights.index_put_((rows, upper), frac, accumulate=True)
    return weights.to(dtype=dtype, device=device)


def upsample(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear upsampling (``align_corners=False``) of (..., h, w) maps to ``size``, as two small matrix
    products: on a CPU several times faster than ``F.interpolate``, which also copies its output once more."""
    (h, w), (height, width) = maps.shape[-2:], tuple(size)
    if (h, w) == (height, width):
        return maps
    rows = bilinear_matrix(h, height, maps.dtype, maps.device)
    cols = rows if (w, width) == (h, height) else bilinear_matrix(w, width, maps.dtype, maps.device)
    return rows @ maps @ cols.T


def minmax(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-image (and per-target) min-max scaling to [0, 1] over the spatial axes."""
    lo = maps.amin(dim=(-2, -1), keepdim=True)
    hi = maps.amax(dim=(-2, -1), keepdim=True)
    return (maps - lo) / (hi - lo).clamp_min(eps)


__all__ = ["LayerCapture", "bilinear_matrix", "eval_mode", "linear_successor", "minmax", "resolve_layer", "upsample"]
