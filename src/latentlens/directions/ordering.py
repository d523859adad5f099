"""Ordering of directions for methods that have none of their own (Voynov & Babenko, random, coordinate).

Khrulkov et al. (2021, §4.2) attribute the weak post-hoc disentanglement of learned directions partly to
the missing "natural top-k ordering"; research/directions.md §7 lists the candidates. Two are here:

- ``"effect"``: image-space effect per unit latent shift,
  ``e_k = E_z[ rms(G(z + s d_k) - G(z - s d_k)) ] / (2 s)`` with ``s = 1`` (one prior standard deviation),
  averaged over a fixed sample of ``z``. Directions that barely change the image sink to the end.
- ``"rca"``: per-direction reconstructor accuracy, i.e. how reliably a reconstructor recognises shifts
  along ``d_k`` (available when the method trained one, e.g. Voynov's ``per_direction_accuracy``).

All directions and sample points are evaluated in a few large batched generator calls.
"""

from __future__ import annotations

import torch

from ..errors import LatentLensError


@torch.inference_mode()
def image_effect(
    generator, basis: torch.Tensor, n_samples: int = 64, step: float = 1.0, seed: int = 0, batch_size: int = 512
) -> torch.Tensor:
    """Mean RMS pixel change per unit shift along each row of ``basis`` -> ``(K,)``.

    Every (sample, direction, sign) triple is one row of a latent batch; the generator runs on chunks of
    ``batch_size`` rows.
    """
    basis = torch.as_tensor(basis, dtype=torch.float32)
    k, d = basis.shape
    z = generator.sample_latents(n_samples, torch.Generator().manual_seed(seed + 7919)).float()
    from .base import shifted_images

    signs = torch.tensor([1.0, -1.0])
    shifts = (step * signs[None, None, :, None] * basis[None, :, None, :]).expand(n_samples, k, 2, d).reshape(-1, d)
    rows = z.repeat_interleave(2 * k, dim=0)  # (n, K, 2) rows
    out = torch.empty(n_samples * k)
    pairs = batch_size // 2 * 2
    for start in range(0, rows.shape[0], pairs):
        imgs = shifted_images(generator, rows[start : start + pairs], shifts[start : start + pairs]).float()
        diff = imgs[0::2] - imgs[1::2]
        out[start // 2 : start // 2 + diff.shape[0]] = diff.pow(2).flatten(1).mean(1).sqrt()
    return out.view(n_samples, k).mean(0) / (2 * step)


def order_directions(generator, basis: torch.Tensor, ordering: str, seed: int = 0, per_direction_accuracy=None):
    """Permutation (descending score), the scores in that order, and the score's name."""
    if ordering == "effect":
        scores = image_effect(generator, basis, seed=seed)
        name = "image_effect"
    elif ordering == "rca":
        per = per_direction_accuracy
        if per is None:
            raise LatentLensError("ordering='rca' needs a method that trains a reconstructor (e.g. voynov)")
        scores = torch.as_tensor(per, dtype=torch.float32)
        name = "rca"
    else:
        raise LatentLensError(f"unknown ordering {ordering!r} (use 'none', 'effect' or 'rca')")
    perm = torch.argsort(scores, descending=True, stable=True)
    return perm, scores[perm], name
