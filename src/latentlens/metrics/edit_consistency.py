"""Are edits along a direction the same edit everywhere, and do they scale? Homogeneity and linearity.

Asyrp (Kwon et al., ICLR 2023, Sec. 5) reports two properties of h-space edits, which Zhang et al.
(arXiv 2310.09912) use for their global h-directions; both apply to any generator:

- **homogeneity**: the same shift gives the same attribute change on different samples. Measured as the
  mean cosine similarity between the image changes ``dx_i = G(z_i + a d) - G(z_i)`` of one direction ``d``
  on different base latents ``z_i != z_j``, averaged over directions. Reported next to the same number for
  random unit directions (the baseline) and as their difference (``homogeneity_gain``).
- **linearity**: doubling the shift doubles the change, ``||G(z + 2a d) - G(z)|| / ||G(z + a d) - G(z)||``
  (2 for a perfectly linear edit), median over samples and directions. With ``curve_octaves = m`` it is also
  measured at ``a / 2, a / 4, ..., a / 2^m`` (``linearity_curve``, amplitude -> linearity): an edit that
  saturates at ``a`` can still be linear at smaller shifts, and the curve shows where it stops being so.
"""

from __future__ import annotations

import torch


@torch.inference_mode()
def _changes(generator, basis: torch.Tensor, z: torch.Tensor, amplitudes, batch_size: int) -> list[torch.Tensor]:
    """Image changes ``G(z + a d_k) - G(z)`` for each amplitude: ``(K, n, pixels)`` per amplitude."""
    from ..directions.base import shifted_images

    k, n = len(basis), len(z)
    shifts = [torch.zeros_like(z)] + [(a * basis[:, None]).expand(k, n, -1).reshape(k * n, -1) for a in amplitudes]
    shifts = torch.cat(shifts).to(z.dtype)
    rows = z.repeat(1 + k * len(amplitudes), 1)
    images = torch.cat([shifted_images(generator, rows[s : s + batch_size], shifts[s : s + batch_size]).float().cpu()
                        for s in range(0, len(rows), batch_size)])  # fmt: skip
    base = images[:n].flatten(1)
    out = []
    for i in range(len(amplitudes)):
        shifted = images[n + i * k * n : n + (i + 1) * k * n].flatten(1).view(k, n, -1)
        out.append(shifted - base[None])
    return out


def _homogeneity(changes: torch.Tensor) -> torch.Tensor:
    """Mean pairwise cosine of the ``n`` change vectors of each direction, ``(K,)``."""
    unit = changes / changes.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    gram = unit @ unit.transpose(1, 2)
    n = changes.shape[1]
    return (gram.sum(dim=(1, 2)) - gram.diagonal(dim1=1, dim2=2).sum(1)) / (n * (n - 1))


def _linearity(once: torch.Tensor, twice: torch.Tensor) -> tuple[float, list[float]]:
    """Median ``||change at 2a|| / ||change at a||`` over the samples that moved: overall and per direction."""
    ratio = twice.norm(dim=-1) / once.norm(dim=-1).clamp_min(1e-12)
    moved = once.norm(dim=-1) > 1e-6
    overall = float(ratio[moved].median()) if bool(moved.any()) else float("nan")
    return overall, [float(r[m].median()) if bool(m.any()) else float("nan") for r, m in zip(ratio, moved)]


def edit_consistency(generator, directions, *, amplitude: float = 2.0, n_samples: int = 16, n_random: int = 8,
                     random_state: int = 0, batch_size: int = 256, curve_octaves: int = 0) -> dict:  # fmt: skip
    """Homogeneity (vs random directions) and linearity of ``directions`` (a Directions or ``(K, D)`` rows,
    used at unit norm) at shift ``amplitude`` on ``n_samples`` base latents of ``generator``; with
    ``curve_octaves`` > 0 also the linearity at ``amplitude / 2^j``, j = 1..curve_octaves."""
    if curve_octaves < 0:
        raise ValueError(f"curve_octaves must be >= 0, got {curve_octaves}")
    from ..directions.generators import as_generator

    gen = as_generator(generator)
    basis = torch.as_tensor(getattr(directions, "basis", directions), dtype=torch.float32)
    basis = basis / basis.norm(dim=1, keepdim=True).clamp_min(1e-12)
    g = torch.Generator().manual_seed(random_state + 777)
    z = gen.sample_latents(n_samples, g).float()
    smaller = [amplitude / 2**j for j in range(curve_octaves, 0, -1)]
    *below, once, twice = _changes(gen, basis, z, (*smaller, amplitude, 2 * amplitude), batch_size)
    random_basis = torch.randn(n_random, basis.shape[1], generator=g)
    random_basis = random_basis / random_basis.norm(dim=1, keepdim=True)
    (random_once,) = _changes(gen, random_basis, z, (amplitude,), batch_size)
    per_direction = _homogeneity(once)
    baseline = float(_homogeneity(random_once).mean())
    linearity, linearity_per_direction = _linearity(once, twice)
    changes = [*below, once]
    curve = {a: _linearity(lo, hi)[0] for a, lo, hi in zip(smaller, changes, changes[1:])} | {amplitude: linearity}
    return {
        "homogeneity": float(per_direction.mean()),
        "homogeneity_random": baseline,
        "homogeneity_gain": float(per_direction.mean()) - baseline,
        "homogeneity_per_direction": per_direction.tolist(),
        "linearity": linearity,
        "linearity_per_direction": linearity_per_direction,
        "linearity_curve": curve,
        "amplitude": amplitude,
        "n_samples": n_samples,
    }
