"""GANSpace: principal components of a generator's latents or early activations (Härkönen, Hertzmann,
Lehtinen & Paris, "GANSpace: Discovering Interpretable GAN Controls", NeurIPS 2020; research/directions.md §2).

Two recipes (paper §3.1):

- **latent PCA** (``layer="latent"``; the paper's StyleGAN recipe in ``W``): sample ``z_1..N`` from the
  prior, PCA of the samples; the components are the directions and their standard deviations the scales.
  For a plain N(0, I) latent this is isotropic (every basis is a PCA basis), which is why the paper runs it
  on ``W``; it is still offered for generators whose ``sample_latents`` is not isotropic.
- **activation PCA + regression** (``layer=<name>``, the paper's BigGAN recipe; ``"auto"`` picks the
  generator's first layer): PCA of ``y = G_1(z)`` gives components ``X`` (``K x F``) with standard
  deviations ``sigma``; the standardised coordinates ``c_i = (y_i - mu) X^T / sigma`` of each sample are regressed
  on its latent, ``min_M || C M^T - Z ||_F`` (least squares, paper §3.1 "Principal components in latent
  space"), and the rows of ``M`` scaled to unit norm are the latent directions ``u_k``.

When the chosen layer is the first affine layer, ``y = A z + b`` with ``z ~ N(0, I)`` and the regression
recovers the right singular vectors of ``A`` — SeFa without row normalisation; a test checks this identity.

Scores are the explained-variance ratios of the components; scales are the standard deviation of the
latent samples' projections on each direction (the paper's ``lat_stdev``). Narrow layers (``F <= 512``) use
an exact float64 eigendecomposition; wider ones a randomised SVD (4 power iterations) of the centred
activations, which is exact up to rounding when the layer is affine in ``z`` (rank ``<= D``). The network runs
only up to the hooked layer.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..errors import LatentLensError
from ..registry import register
from .base import DirectionFinder, normalize_rows, sign_convention, torch_generator


def pca_top(cov: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` eigenpairs of a symmetric PSD matrix, descending: (values ``(k,)``, vectors ``(k, F)``)."""
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(-vals, kind="stable")[:k]
    return np.clip(vals[order], 0, None), vecs[:, order].T


def randomized_pca(y: torch.Tensor, mean: torch.Tensor, k: int, gen: torch.Generator, n_iter: int = 4):
    """Top-``k`` singular values and right singular vectors (rows) of the centred ``y - mean``, without
    forming it: a randomised range finder with ``n_iter`` power iterations (Halko, Martinsson & Tropp 2011,
    Alg. 4.4), 10 extra columns, and an exact float64 SVD of the small projected matrix."""
    m, f = y.shape
    q = min(k + 10, f, m)
    mean = mean.to(y.dtype)

    def times(x):  # (y - mean) @ x
        return y @ x - mean[None] @ x

    def times_t(x):  # (y - mean)^T @ x
        return y.T @ x - mean[:, None] * x.sum(0, keepdim=True)

    basis = torch.linalg.qr(times(torch.randn(f, q, generator=gen, dtype=y.dtype))).Q
    for _ in range(n_iter):
        basis = torch.linalg.qr(times(torch.linalg.qr(times_t(basis)).Q)).Q
    small = times_t(basis).T.double()  # (q, F) = basis^T (y - mean)
    _, svals, vh = torch.linalg.svd(small, full_matrices=False)
    return svals[:k], vh[:k]


@register("directions", "ganspace")
class GANSpace(DirectionFinder):
    """PCA directions (Härkönen et al. 2020, §3.1).

    Parameters
    ----------
    n_directions: number of components ``K`` (default: the latent dimension).
    layer: ``"auto"`` (the generator's first affine layer if it has one, else the latent), ``"latent"``, or
        a dotted layer name whose activations are decomposed.
    n_samples: latent samples drawn from the prior (paper: 1e5-1e6; for a first layer ``K`` times the
        latent dimension already pins the answer down).
    batch_size: generator batch for the activation passes.
    max_memory_mb: activations held in memory for the PCA (float32); beyond it the PCA uses the first
        samples that fit, and the remaining samples only enter the regression.
    random_state: seed for the latent samples.
    """

    name = "ganspace"

    def __init__(
        self,
        n_directions: int | None = None,
        layer: str = "auto",
        n_samples: int = 10_000,
        batch_size: int = 1000,
        max_memory_mb: int = 256,
        random_state: int | None = None,
    ):
        self.n_directions = n_directions
        self.layer = layer
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.max_memory_mb = max_memory_mb
        self.random_state = random_state

    def _resolve_layer(self, generator) -> str | None:
        if self.layer in (None, "latent"):
            return None
        if self.layer == "auto":
            layer = getattr(generator, "first_layer", None)
            if layer is None:
                raise LatentLensError(
                    "GANSpace found no first layer reading the latent in this generator: pass layer='<name>' "
                    "(a layer whose activations to decompose) or layer='latent' (PCA of the latent samples, "
                    "meaningful only for a non-isotropic prior)"
                )
            return layer
        return self.layer

    def _fit(self, generator, seed: int) -> dict:
        k = self._check_k(generator.latent_dim)
        if self.n_samples < 2 * k + 2:
            raise LatentLensError(f"n_samples={self.n_samples} is too small for {k} components")
        z = generator.sample_latents(self.n_samples, torch_generator(seed, 2)).double()
        layer = self._resolve_layer(generator)
        if layer is None:
            return self._latent_pca(z, k)
        if not hasattr(generator, "features"):
            raise LatentLensError("GANSpace on activations needs a generator with features(z, layer)")
        return self._activation_pca(generator, z, k, layer, seed)

    def _latent_pca(self, z: torch.Tensor, k: int) -> dict:
        zc = (z - z.mean(0)).numpy()
        cov = zc.T @ zc / (len(zc) - 1)
        vals, vecs = pca_top(cov, k)
        spectrum = np.linalg.eigvalsh(cov)
        # an isotropic prior's sample eigenvalues spread to about (1 +- sqrt(D/n))^2 (Marchenko-Pastur): a
        # spectrum inside that band (with margin) has no preferred axes
        r = 1.5 * np.sqrt(z.shape[1] / z.shape[0])
        if r < 0.9 and spectrum[-1] < ((1 + r) / (1 - r)) ** 2 * max(spectrum[0], 1e-12):
            warnings.warn("GANSpace on the latent: the prior is (nearly) isotropic, so its principal axes are "
                          "arbitrary; use layer='auto' or a named layer", stacklevel=4)  # fmt: skip
        basis = sign_convention(torch.from_numpy(vecs))
        total = float(np.trace(cov))
        return {
            "basis": basis.float(), "scales": torch.from_numpy(np.sqrt(vals)).float(),
            "scores": torch.from_numpy(vals / total).float(), "score_name": "explained_variance_ratio",
            "extra": {"layer": "latent", "explained_variance": vals.tolist()},
        }  # fmt: skip

    @torch.inference_mode()
    def _feats(self, generator, z: torch.Tensor, layer: str) -> torch.Tensor:
        return generator.features(z.float(), layer).flatten(1).float()

    def _activation_pca(self, generator, z: torch.Tensor, k: int, layer: str, seed: int) -> dict:
        n, bs = z.shape[0], self.batch_size
        f = self._feats(generator, z[:2], layer).shape[1]
        m = int(min(n, max(4 * k, self.max_memory_mb * 2**20 // (4 * f))))  # samples held for the PCA
        if k > min(f, m - 1):
            raise LatentLensError(f"layer {layer!r} has {f} features: cannot extract {k} components")
        y = torch.cat([self._feats(generator, z[s : min(s + bs, m)], layer) for s in range(0, m, bs)])
        mean = y.mean(0, dtype=torch.float64)
        total = float((y - mean.float()).pow(2).sum(dtype=torch.float64) / (m - 1))
        if f <= 512:  # exact eigendecomposition of the covariance
            yc = (y.double() - mean).numpy()
            vals, comps = pca_top(yc.T @ yc / (m - 1), k)
            comps = torch.from_numpy(comps)
        else:
            svals, comps = randomized_pca(y, mean.float(), k, torch_generator(seed, 3))
            vals = (svals**2 / (m - 1)).numpy()
        sigma = torch.from_numpy(np.sqrt(np.maximum(vals, 1e-300)))
        mean32, proj = mean.float(), (comps / sigma[:, None]).T.float()  # (F, K)

        # standardised coordinates of every sample on the components, then least squares against z
        def coords_of(feats):
            return (feats - mean32) @ proj

        parts = [coords_of(y)] + [coords_of(self._feats(generator, z[s : s + bs], layer)) for s in range(m, n, bs)]
        coords = torch.cat(parts).double().numpy()
        m_t, *_ = np.linalg.lstsq(coords, z.numpy(), rcond=None)  # (K, D): row k is u_k up to scale
        basis = sign_convention(normalize_rows(torch.from_numpy(m_t)))
        return {
            "basis": basis.float(), "scales": (z @ basis.T).std(0).float(),
            "scores": torch.from_numpy(vals / max(total, 1e-300)).float(), "score_name": "explained_variance_ratio",
            "extra": {"layer": layer, "n_features": f, "n_pca_samples": m, "explained_variance": vals.tolist()},
        }  # fmt: skip
