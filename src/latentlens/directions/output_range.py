"""What range a generator's outputs lie in, and mapping them to images in [0, 1].

A user's module may end in a sigmoid (``unit``), a ``tanh`` (``[-1, 1]``) or nothing (``logits``);
:func:`infer_output_range` reads which from one forward pass, so the user need not say.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from ..errors import LatentLensError

log = logging.getLogger(__name__)

OUTPUT_RANGES = ("unit", "tanh", "logits")


def map_output_range(out: torch.Tensor, output_range: str) -> torch.Tensor:
    """Images in [0, 1] from a model output in ``output_range`` (``unit`` as is, ``tanh`` from [-1, 1],
    ``logits`` through a sigmoid)."""
    if output_range == "tanh":
        return (out + 1) * 0.5
    if output_range == "logits":
        return torch.sigmoid(out)
    return out


@torch.inference_mode()
def infer_output_range(forward: Callable, latent_dim: int, what: str = "the generator", latent_shape=None,
                       n: int = 16, device=None) -> str:  # fmt: skip
    """``unit`` or ``tanh``, read off ``forward`` on ``n`` standard-normal latents (seed 0): outputs in [0, 1]
    are ``unit``, outputs in [-1, 1] with negatives are ``tanh``; anything else is an error asking for
    ``output_range=`` (a decoder of logits is ``logits``)."""
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(0))
    if latent_shape is not None:
        z = z.view(n, *latent_shape)
    if device is not None:
        z = z.to(device)
    out = forward(z)
    if isinstance(out, (tuple, list)):
        out = out[0]
    lo, hi = float(out.min()), float(out.max())
    tol = 1e-4
    if lo >= -tol and hi <= 1 + tol:
        return "unit"
    if lo >= -1 - tol and hi <= 1 + tol:
        log.info("%s outputs lie in [%.3f, %.3f]: treated as tanh output in [-1, 1]", what, lo, hi)
        return "tanh"
    raise LatentLensError(
        f"{what} outputs lie in [{lo:.3g}, {hi:.3g}], neither [0, 1] nor [-1, 1]: pass output_range="
        "'logits' (a sigmoid is applied), 'tanh' or 'unit'"
    )
