"""The networks of Voynov & Babenko's method (ICML 2020): the latent deformator ``A`` in its three variants,
the LeNet-style reconstructor ``R`` and the realism discriminator of Zhang et al. (arXiv 2310.09912). The
training loop and the finder are in :mod:`latentlens.directions.deformator`, whose docstring describes the method.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LatentLensError

DEFORMATOR_KINDS = ("ortho", "proj", "linear")


class LinearDeformator(nn.Module):
    """Maps a one-hot shift ``eps e_k`` to a latent shift ``eps a_k``; ``directions()`` is ``(K, D)``.

    ``init_basis`` (``(K, D)``, orthonormal rows) starts the deformator at those directions instead of the
    coordinate axes: for ``"ortho"`` the matrix becomes ``Q expm(S - S^T)[:, :K]`` with ``Q`` a fixed
    orthogonal completion of ``init_basis^T`` and ``S`` near 0; for ``"proj"``/``"linear"`` the weight starts
    at ``init_basis^T``.
    """

    def __init__(self, latent_dim: int, n_directions: int, kind: str = "ortho", random_init: bool = False,
                 init_basis: torch.Tensor | None = None):  # fmt: skip
        super().__init__()
        if kind not in DEFORMATOR_KINDS:
            raise LatentLensError(f"unknown deformator {kind!r} (use {', '.join(DEFORMATOR_KINDS)})")
        if kind == "ortho" and n_directions > latent_dim:
            raise LatentLensError(f"an orthonormal deformator has at most {latent_dim} directions, got {n_directions}")
        self.kind, self.latent_dim, self.n_directions = kind, latent_dim, n_directions
        base = torch.eye(latent_dim)
        if init_basis is not None:
            init_basis = torch.as_tensor(init_basis, dtype=torch.float64)
            if init_basis.shape[1] != latent_dim or init_basis.shape[0] > n_directions:
                raise LatentLensError(f"init_basis must be (<= {n_directions}, {latent_dim}), got {tuple(init_basis.shape)}")
            base = orthogonal_completion(init_basis).float()
        self.register_buffer("base", base)
        if kind == "ortho":
            self.weight = nn.Parameter(torch.randn(latent_dim, latent_dim) * (1.0 if random_init else 0.001))
        else:
            init = 0.1 * torch.randn(latent_dim, n_directions) if random_init else torch.eye(latent_dim, n_directions)
            if not random_init and n_directions > latent_dim:
                init[:, latent_dim:] = 0.1 * torch.randn(latent_dim, n_directions - latent_dim)
            if init_basis is not None:
                init[:, : len(init_basis)] = init_basis.T.float()
            self.weight = nn.Parameter(init)

    def matrix(self) -> torch.Tensor:
        """The ``D x K`` deformator matrix (columns = directions)."""
        if self.kind == "ortho":
            skew = self.weight - self.weight.T
            return self.base @ torch.linalg.matrix_exp(skew)[:, : self.n_directions]
        if self.kind == "proj":
            return self.weight / self.weight.norm(dim=0, keepdim=True).clamp_min(1e-8)
        return self.weight

    def directions(self) -> torch.Tensor:
        return self.matrix().T

    def forward(self, k: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return eps[:, None] * self.directions()[k]


def orthogonal_completion(rows: torch.Tensor) -> torch.Tensor:
    """A ``D x D`` orthogonal matrix whose first ``K`` columns are the orthonormal ``rows`` (``K x D``)."""
    k, d = rows.shape
    g = torch.Generator().manual_seed(0)
    filler = torch.randn(d, d - k, generator=g, dtype=rows.dtype)
    q, r = torch.linalg.qr(torch.cat([rows.T, filler], dim=1))
    return q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(()))[None, :].to(q.dtype)


class Reconstructor(nn.Module):
    """LeNet-style reconstructor ``R(x, x') -> (logits (B, K), shift (B,))``; ``width=2`` is 6-16-120 channels."""

    def __init__(self, in_channels: int, n_directions: int, width: int = 2, input_size: int | None = None):
        super().__init__()
        self.input_size = input_size
        c1, c2, c3, hidden = 3 * width, 8 * width, 60 * width, 42 * width

        def block(cin, cout, pool):
            layers = [nn.Conv2d(cin, cout, 5), nn.BatchNorm2d(cout), nn.ReLU()]
            return layers + ([nn.MaxPool2d(2)] if pool else [])

        self.features = nn.Sequential(*block(2 * in_channels, c1, True), *block(c1, c2, True), *block(c2, c3, False))

        def head(out):
            return nn.Sequential(nn.Linear(c3, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out))

        self.direction_head = head(n_directions)
        self.shift_head = head(1)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([x0, x1], dim=1)
        size = self.input_size or max(x.shape[-1], 32)  # three 5x5 convolutions need at least 32 pixels
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
        h = self.features(x.contiguous(memory_format=torch.channels_last)).mean(dim=(2, 3))
        return self.direction_head(h), self.shift_head(h).squeeze(1)


class ShiftDiscriminator(nn.Module):
    """A small CNN ``D(x) -> logit`` (real: unshifted samples), three 4x4 stride-2 convolutions, LeakyReLU."""

    def __init__(self, in_channels: int, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 4, 2, 1), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.head = nn.Linear(4 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x).mean(dim=(2, 3))).squeeze(1)


__all__ = ["DEFORMATOR_KINDS", "LinearDeformator", "Reconstructor", "ShiftDiscriminator", "orthogonal_completion"]
