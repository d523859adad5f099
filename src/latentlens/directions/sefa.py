"""SeFa: closed-form factorisation of latent semantics (Shen & Zhou, "Closed-Form Factorization of Latent
Semantics in GANs", CVPR 2021; research/directions.md §3).

The first map of the generator reads the latent affinely, ``y = A z + b``. Moving ``z`` by ``alpha n``
moves ``y`` by ``alpha A n`` wherever ``z`` is, so the directions that change the first layer the most solve

    max_{N}  sum_i ||A n_i||^2 - sum_i lambda_i (n_i^T n_i - 1)        (paper, Eq. 5)

whose stationarity condition ``A^T A n_i = lambda_i n_i`` (Eq. 6) makes the ``n_i`` the top eigenvectors of
``A^T A``. Implementation choices (research/directions.md §3.1 and §3.3):

- rows of ``A`` (one per output unit) are scaled to unit L2 norm first, as the official code does
  (``normalize=True``; ``False`` gives plain ``A^T A``, i.e. the right singular vectors of ``A``);
- several layers can be stacked along the output axis (``layers=[...]``), as for StyleGAN layer ranges;
- everything is computed in float64 with ``eigh`` (symmetric), eigenvalues are sorted **descending**
  explicitly, and each eigenvector's largest-magnitude entry is made positive (sign convention).

Scores are the eigenvalues; scales are 1 (unit directions in a N(0, I) latent).
"""

from __future__ import annotations

import torch

from ..errors import LatentLensError
from ..registry import register
from .base import DirectionFinder, sign_convention


def sefa_directions(weight: torch.Tensor, k: int, normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` eigenvectors (rows) and eigenvalues of ``A^T A`` for ``A = weight`` (``(out, D)``), float64."""
    a = weight.detach().to(torch.float64)
    if a.ndim != 2:
        raise LatentLensError(f"SeFa needs a 2-D weight (out, latent_dim), got shape {tuple(a.shape)}")
    if normalize:
        a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    evals, evecs = torch.linalg.eigh(a.T @ a)  # ascending
    order = torch.argsort(evals, descending=True, stable=True)[:k]
    basis = sign_convention(evecs[:, order].T.contiguous())
    return basis, evals[order].clamp_min(0)


@register("directions", "sefa")
class SeFa(DirectionFinder):
    """Closed-form directions from the first layer's weight (Shen & Zhou 2021, Eq. 6).

    Parameters
    ----------
    n_directions: number of directions ``K <= D`` (default: all).
    normalize: unit-normalise each output unit's weight row first (the official code; default True).
    layers: dotted names of affine layers reading the latent, stacked along the output axis; default the
        generator's ``first_layer_weight()``.
    """

    name = "sefa"
    orthonormal = True

    def __init__(self, n_directions: int | None = None, normalize: bool = True, layers: list[str] | None = None):
        self.n_directions = n_directions
        self.normalize = normalize
        self.layers = layers

    def _fit(self, generator, seed: int) -> dict:
        k = self._check_k(generator.latent_dim)
        weight = self._weight(generator)
        if weight.shape[1] != generator.latent_dim:
            raise LatentLensError(
                f"first-layer weight has {weight.shape[1]} input columns, the latent has {generator.latent_dim}"
            )
        basis, evals = sefa_directions(weight, k, normalize=self.normalize)
        return {"basis": basis.float(), "scores": evals.float(), "score_name": "eigenvalue"}

    def _weight(self, generator) -> torch.Tensor:
        if self.layers:
            if not hasattr(generator, "first_layer") or not hasattr(generator, "_layer"):
                raise LatentLensError("layers= needs a latentlens generator adapter")
            mats = []
            saved = generator.first_layer
            try:
                for name in self.layers:
                    generator._layer(name)
                    generator.first_layer = name
                    mats.append(generator.first_layer_weight())
            finally:
                generator.first_layer = saved
            return torch.cat(mats, dim=0)
        fn = getattr(generator, "first_layer_weight", None)
        if fn is None:
            raise LatentLensError("SeFa needs a generator with first_layer_weight() (an affine first layer)")
        return fn()
