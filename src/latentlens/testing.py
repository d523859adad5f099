"""Tiny deterministic models whose answers are known, for tests and for checking your own adapters.

:class:`KnownDirectionsGenerator` is a generator whose interpretable directions are known exactly: a linear
first layer ``f = W z`` whose ``F`` rows are orthogonal directions with distinct norms (the rest of the
latent space is its null space, so it changes nothing), followed by a renderer that turns each factor
``f_i`` into one visible property of a Gaussian blob (horizontal position, vertical position, width,
brightness). A direction finder is right when its directions match the rows of ``W`` up to sign; a
direction in the null space changes nothing at all.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

FACTOR_NAMES = ("x", "y", "width", "brightness")


class KnownDirectionsGenerator(nn.Module):
    """``z (N, latent_dim) -> (N, 1, size, size)`` images in [0, 1] with known factor directions.

    Parameters
    ----------
    latent_dim: size of ``z`` (at least ``n_factors``).
    n_factors: how many rows ``W`` has (1-4: x, y, width, brightness, in that order).
    norms: the norm of each row (distinct norms make the directions identifiable by SeFa, which reads the
        eigenvectors of ``W^T W``); default ``2.0, 1.6, 1.3, 1.0``.
    seed: the random rotation that places the rows in latent space (not along the coordinate axes).
    size: image side in pixels.
    """

    def __init__(self, latent_dim: int = 8, n_factors: int = 4, norms=None, seed: int = 0, size: int = 32):
        super().__init__()
        if not 1 <= n_factors <= len(FACTOR_NAMES) or latent_dim < n_factors:
            raise ValueError(f"need 1 <= n_factors <= 4 and latent_dim >= n_factors, got {n_factors}, {latent_dim}")
        norms = torch.tensor(norms if norms is not None else [2.0, 1.6, 1.3, 1.0][:n_factors], dtype=torch.float32)
        g = torch.Generator().manual_seed(seed)
        rotation, _ = torch.linalg.qr(torch.randn(latent_dim, latent_dim, generator=g, dtype=torch.float64))
        self.latent_dim, self.n_factors = latent_dim, n_factors
        self.first = nn.Linear(latent_dim, n_factors, bias=False)
        with torch.no_grad():
            self.first.weight.copy_(norms[:, None] * rotation[:n_factors].float())
        grid = torch.linspace(-1, 1, size)
        self.register_buffer("gy", grid.view(1, size, 1))
        self.register_buffer("gx", grid.view(1, 1, size))

    def true_directions(self) -> torch.Tensor:
        """The unit rows of ``W``, ``(n_factors, latent_dim)``: the directions a finder should recover."""
        w = self.first.weight.detach()
        return w / w.norm(dim=1, keepdim=True)

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator)

    def factors(self, z: torch.Tensor) -> torch.Tensor:
        """The factor values ``W z`` (what each image shows), ``(N, n_factors)``."""
        return self.first(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        f = self.first(z)
        pad = torch.zeros(len(z), 4 - self.n_factors, dtype=f.dtype, device=f.device)
        f = torch.cat([f, pad], 1)
        cx = (0.6 * torch.tanh(f[:, 0] / 2))[:, None, None]
        cy = (0.6 * torch.tanh(f[:, 1] / 2))[:, None, None]
        width = (0.08 + 0.12 * torch.sigmoid(f[:, 2]))[:, None, None]
        amp = (0.25 + 0.75 * torch.sigmoid(f[:, 3]))[:, None, None]
        img = amp * torch.exp(-((self.gx - cx) ** 2 + (self.gy - cy) ** 2) / (2 * width**2))
        return img[:, None]


def matched_alignment(found: torch.Tensor, truth: torch.Tensor) -> dict:
    """Match each true direction to one found direction (Hungarian on ``|cos|``); return the mean and the
    per-direction ``|cos|`` of the matching and the found index matched to each true direction."""
    from scipy.optimize import linear_sum_assignment

    a = torch.as_tensor(found, dtype=torch.float64)
    b = torch.as_tensor(truth, dtype=torch.float64)
    a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    b = b / b.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cos = (b @ a.T).abs().numpy()
    rows, cols = linear_sum_assignment(-cos)
    values = cos[rows, cols]
    return {"mean_abs_cos": float(np.mean(values)), "abs_cos": values.tolist(), "matched": cols.tolist()}


def superposition_toy(n_neurons: int = 8, n_features: int | None = None, n_images: int = 2000, size: int = 12,
                      active: float = 0.15, seed: int = 0) -> dict:  # fmt: skip
    """The superposition toy of Klindt et al.: ``K = 2N`` sparse ground-truth features, each a distinct image
    pattern, mixed at random into ``N`` neurons (more features than neurons, so features lie on non-axis
    directions of the activation space).

    Returns ``images`` (n, 1, size, size) in [0, 1], ``activations`` (n, N), ``features`` (n, K) (the sparse
    feature strengths), ``patterns`` (K, size, size) and ``mixing`` (K, N) with unit rows."""
    k = n_features or 2 * n_neurons
    rng = np.random.default_rng(seed)
    patterns = (rng.random((k, size, size)) < 0.25).astype(np.float64)
    strengths = (rng.random((n_images, k)) < active) * rng.uniform(0.5, 1.0, (n_images, k))
    images = np.clip(np.einsum("nk,khw->nhw", strengths, patterns) / 2 + 0.02 * rng.normal(size=(n_images, size, size)), 0, 1)
    mixing = rng.normal(size=(k, n_neurons))
    mixing /= np.linalg.norm(mixing, axis=1, keepdims=True)
    activations = strengths @ mixing
    return {"images": torch.as_tensor(images[:, None], dtype=torch.float32), "activations": activations,
            "features": strengths, "patterns": patterns, "mixing": mixing}  # fmt: skip
