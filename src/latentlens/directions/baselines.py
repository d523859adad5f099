"""Baselines reported beside every direction finder: random orthonormal directions and coordinate axes.

Voynov & Babenko (ICML 2020, §4, "Baselines") score their learned directions against exactly these two:
the deformator frozen to a random orthogonal matrix (``--deformator random``) and to the identity
(``--deformator id``), with only the reconstructor trained. research/directions.md §6-7 asks for them to be
"always on". Neither has a natural order; ``ordering="effect"`` ranks by image change per unit shift (for
``coordinate`` with ``n_directions < latent_dim`` this keeps the ``K`` most effective axes).
"""

from __future__ import annotations

import torch

from ..registry import register
from .base import DirectionFinder, sign_convention, torch_generator


class _Baseline(DirectionFinder):
    """The two baselines' shared parameters; neither has a natural order."""

    orthonormal = True
    natural_order = False

    def __init__(self, n_directions: int | None = None, ordering: str = "none", random_state: int | None = None):
        self.n_directions = n_directions
        self.ordering = ordering
        self.random_state = random_state


@register("directions", "random")
class RandomDirections(_Baseline):
    """``K`` random orthonormal directions: QR of a ``D x K`` Gaussian matrix (Haar-distributed).

    Parameters
    ----------
    n_directions: number of directions ``K <= D`` (default: the latent dimension).
    ordering: ``"none"`` (default; index order) or ``"effect"``.
    random_state: seed.
    """

    name = "random"

    def _fit(self, generator, seed: int) -> dict:
        d = generator.latent_dim
        k = self._check_k(d)
        g = torch_generator(seed, 1)
        gauss = torch.randn(d, k, generator=g, dtype=torch.float64)
        q, r = torch.linalg.qr(gauss)
        q = q * torch.sign(torch.diagonal(r)).clamp_min(0).mul(2).sub(1)  # Haar measure: fix QR's signs
        basis = sign_convention(q.T.contiguous())
        return {"basis": basis.float(), "score_name": "none"}


@register("directions", "coordinate")
class CoordinateDirections(_Baseline):
    """The latent coordinate axes ``e_1 ... e_K``.

    With ``ordering="effect"`` all ``D`` axes are ranked by image effect and the top ``K`` kept; with
    ``"none"`` (default) the first ``K`` axes in index order.
    """

    name = "coordinate"

    def _fit(self, generator, seed: int) -> dict:
        d = generator.latent_dim
        k = self._check_k(d)
        eye = torch.eye(d)
        if self.ordering == "effect" and k < d:
            from .ordering import image_effect

            effect = image_effect(generator, eye, seed=seed)
            keep = torch.argsort(effect, descending=True, stable=True)[:k]
            return {"basis": eye[keep], "extra": {"axes": keep.tolist()}}
        return {"basis": eye[:k], "extra": {"axes": list(range(k))}}
