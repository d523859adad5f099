"""Pure image helpers: tensors to uint8 arrays, image grids, latent traversals. numpy + PIL only."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image


def to_uint8(images) -> np.ndarray:
    """``(N, C, H, W)`` floats in [0, 1] (tensor or array) to ``(N, H, W, C)`` uint8 with C in {1, 3}."""
    array = images.detach().float().cpu().numpy() if torch.is_tensor(images) else np.asarray(images, np.float32)
    if array.ndim == 3:
        array = array[:, None]
    array = np.clip(array, 0.0, 1.0).transpose(0, 2, 3, 1)
    return (array * 255.0 + 0.5).astype(np.uint8)


def image_grid(images, nrow: int, pad: int = 2, pad_value: int = 255, scale: int = 1) -> Image.Image:
    """Tile ``N`` images into rows of ``nrow``; ``scale`` enlarges each pixel (nearest) for small images."""
    tiles = to_uint8(images) if not (isinstance(images, np.ndarray) and images.dtype == np.uint8) else images
    n, h, w, c = tiles.shape
    ncol = max(1, min(nrow, n))
    rows = -(-n // ncol)
    canvas = np.full((rows * (h + pad) + pad, ncol * (w + pad) + pad, c), pad_value, np.uint8)
    for i in range(n):
        r, q = divmod(i, ncol)
        canvas[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + q * (w + pad) : pad + q * (w + pad) + w] = tiles[i]
    image = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    return image


@torch.inference_mode()
def traverse(
    decode: Callable[[torch.Tensor], torch.Tensor],
    z: torch.Tensor,
    directions: torch.Tensor,
    values: Sequence[float],
) -> torch.Tensor:
    """Images ``decode(z + v * d)`` for every direction ``d`` (rows) and shift ``v`` (columns).

    ``z`` is one latent ``(D,)``, ``directions`` is ``(K, D)``; returns ``(K * len(values), C, H, W)`` in
    row-major order, decoded in one batch.
    """
    shifts = torch.as_tensor(list(values), dtype=z.dtype)
    latents = z[None, None, :] + shifts[None, :, None] * directions[:, None, :]
    return decode(latents.reshape(-1, z.shape[-1]))


def traversal_values(limit: float = 2.5, steps: int = 9) -> list[float]:
    return np.linspace(-limit, limit, steps).round(4).tolist()


DIRECTION_SHIFTS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)  # in units of each direction's scale


@torch.inference_mode()
def direction_sheet(generator, directions, z: torch.Tensor, shifts=DIRECTION_SHIFTS, scale: int = 2) -> Image.Image:
    """All directions of a :class:`~latentlens.directions.Directions` artifact from one latent ``z`` (``(D,)``
    or ``(1, D)``): a row per direction, a column per shift (in units of the direction's scale)."""
    z0 = z.reshape(1, -1)
    rows = torch.cat([directions.traverse(generator, z0, k, list(shifts)).cpu() for k in range(len(directions))])
    return image_grid(rows, len(shifts), scale=scale)


@torch.inference_mode()
def direction_grid(generator, directions, k: int, z: torch.Tensor, shifts=DIRECTION_SHIFTS, scale: int = 2) -> Image.Image:
    """One direction ``k`` from several latents ``z`` (``(N, D)``): a row per latent, a column per shift (is the
    change the same wherever it starts?)."""
    return image_grid(directions.traverse(generator, z, k, list(shifts)).cpu(), len(shifts), scale=scale)
