"""Anomaly maps from a VAE trained on normal images only (Liu et al. 2020, Sec. 3.2, Eq. 4) and the
reconstruction baselines they are compared with.

Normal statistics. The aggregate posterior of the normal training set, q(z) = (1/N) sum_n N(mu_n,
sigma_n^2), is summarised per dimension by its mean and variance: ``mu_x = mean_n mu_n`` and
``var_x = mean_n sigma_n^2 + var_n mu_n`` (law of total variance).

Eq. 4. For a test image y with posterior N(mu_y, sigma_y^2) the "normal-difference distribution" is
``N(mu_x - mu_y, var_x + sigma_y^2)`` per dimension. The paper says a latent drawn from it replaces z in
Eqs. 1-3 but never says how the draw is made; we use the reparameterised draw

    u_i = (mu_x,i - mu_y,i) + sqrt(var_x,i + sigma_y,i^2) * eps_i

and compute the attention of every dimension u_i (Eqs. 1-3, ReLU, mean over dimensions):

``paper``          eps = 0 (the distribution's mean, deterministic). Since mu_x is a constant,
                   du_i/dA = -dmu_y,i/dA: the map keeps the evidence that pulls mu_y *down*, and the
                   normal statistics do not enter the map at all (they cannot, to first order).
``paper-sampled``  the mean of the maps of K draws (``samples``, seeded). du_i/dA is linear in eps,
                   ``alpha(eps) = alpha(-mu_i) + eps_i * alpha(s_i)`` with s_i the standard deviation
                   above, so the 2D weights are computed in one batched backward and all K maps follow
                   exactly, without K backward passes.
``official``       the released code's map: one backward of sum(mu) with batch-RMS scaling and |.|
                   (Eq. 4 is not implemented there), see :mod:`latentlens.explain.vae_attention`.
``nd-weighted``    (ours, not in the paper) Grad-CAM of the negative log-density of "no difference"
                   under Eq. 4, ``sum_i (mu_x,i - mu_y,i)^2 / (2 (var_x,i + sigma_y,i^2))`` + its
                   log-normaliser: every dimension is weighted by how abnormal its value is and by the
                   direction of its deviation; one backward pass.
``recon-l2``       squared reconstruction error per pixel, summed over channels (decoder mean at mu_y).
``recon-ssim``     1 - SSIM(x, x_hat) per pixel on the grey image, 11 x 11 Gaussian window, sigma 1.5
                   (the AE-SSIM baseline of Bergmann et al. 2019).

Image scores are the maximum of the map (anomalib's convention). Maps are never normalised per image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LatentLensError
from .vae_attention import DEFAULT_LAYER, VAEAttention, combine, eval_mode, official_map_features, upsample

METHODS = ("paper", "paper-sampled", "official", "nd-weighted", "recon-l2", "recon-ssim")
GRADIENT_METHODS = ("paper", "paper-sampled", "official", "nd-weighted")
#: The method ``latentlens anomaly test`` puts first, chosen by measurement: on the synthetic defect
#: benchmark (benchmarks/anomaly_synthetic.py, CPU-sized VAEs) the squared reconstruction error localises
#: best; Liu et al.'s Eq. 4 attention maps stay far behind it (as the MLRC 2020 reproduction found on
#: UCSD Ped1 and MVTec AD). The attention methods remain available by name.
DEFAULT_METHOD = "recon-l2"


@dataclass
class NormalStats:
    """Moments of the normal training set's aggregate posterior, per latent dimension."""

    mu: torch.Tensor
    var: torch.Tensor

    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {"normal_mu": self.mu, "normal_var": self.var}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> "NormalStats":
        try:
            return cls(tensors["normal_mu"], tensors["normal_var"])
        except KeyError as exc:
            raise LatentLensError(f"normal statistics are missing {exc}") from None


@torch.inference_mode()
def aggregate_posterior(model: nn.Module, images: torch.Tensor, batch_size: int = 128) -> NormalStats:
    """Mean and variance of q(z) = mean_n N(mu_n, sigma_n^2) over ``images``."""
    with eval_mode(model):
        mus, variances = [], []
        for start in range(0, len(images), batch_size):
            mu, logvar = model.encode(images[start : start + batch_size])
            mus.append(mu)
            variances.append(logvar.exp())
    mu = torch.cat(mus).double()
    var = torch.cat(variances).double()
    return NormalStats(mu.mean(0).float(), (var.mean(0) + mu.var(0, unbiased=False)).float())


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM (Wang et al. 2004) of grey versions of ``x`` and ``y`` in [0, 1]: (N, 1, H, W)."""
    gx, gy = x.mean(dim=1, keepdim=True), y.mean(dim=1, keepdim=True)
    t = torch.arange(window, dtype=x.dtype, device=x.device) - (window - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :])[None, None]
    pad = window // 2

    def blur(a):
        return F.conv2d(F.pad(a, (pad,) * 4, mode="reflect"), kernel)

    mx, my = blur(gx), blur(gy)
    vx = blur(gx * gx) - mx * mx
    vy = blur(gy * gy) - my * my
    cov = blur(gx * gy) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


class AnomalyMapper:
    """Anomaly maps of a VAE trained on normal data: ``AnomalyMapper(model).fit(normal).maps(x, method)``.

    ``layer`` is the encoder layer of the gradient maps; ``samples`` the K of ``paper-sampled``;
    ``batch_size`` also fixes the batches over which the ``official`` variant's RMS is taken.
    """

    def __init__(
        self,
        model: nn.Module,
        layer: str = DEFAULT_LAYER,
        stats: NormalStats | None = None,
        samples: int = 16,
        seed: int = 0,
        batch_size: int = 32,
    ):
        self.model, self.layer, self.samples, self.seed, self.batch_size = model, layer, samples, seed, batch_size
        self.stats_ = stats
        self._attention = VAEAttention(model, layer)

    def fit(self, normal_images: torch.Tensor) -> "AnomalyMapper":
        self.stats_ = aggregate_posterior(self.model, normal_images)
        return self

    def maps(self, images: torch.Tensor, method: str = DEFAULT_METHOD) -> torch.Tensor:
        """Anomaly maps (N, 1, H, W) of ``images`` with ``method`` (one of :data:`METHODS`)."""
        if method not in METHODS:
            raise LatentLensError(f"unknown anomaly method {method!r} (known: {', '.join(METHODS)})")
        if method in ("paper", "paper-sampled", "nd-weighted") and self.stats_ is None:
            raise LatentLensError("call fit(normal_images) first: the method needs the normal statistics")
        generator = torch.Generator().manual_seed(self.seed)
        out = []
        with eval_mode(self.model):
            for start in range(0, len(images), self.batch_size):
                xb = images[start : start + self.batch_size]
                if method.startswith("recon"):
                    out.append(self._recon(xb, method))
                else:
                    with torch.enable_grad():
                        out.append(self._gradient(xb, method, generator).detach())
        return torch.cat(out)

    @staticmethod
    def image_scores(maps: torch.Tensor) -> torch.Tensor:
        return maps.flatten(1).amax(dim=1)

    @torch.inference_mode()
    def _recon(self, xb: torch.Tensor, method: str) -> torch.Tensor:
        mu, _ = self.model.encode(xb)
        recon = self.model.decode(mu)
        if method == "recon-l2":
            return (xb - recon).pow(2).sum(dim=1, keepdim=True)
        return 1.0 - ssim_map(xb, recon)

    def _gradient(self, xb: torch.Tensor, method: str, generator: torch.Generator) -> torch.Tensor:
        att = self._attention
        mu, logvar, cap = att.capture(xb, detach=True)
        n, d = mu.shape
        size = xb.shape[-2:]
        eye = torch.eye(d, dtype=mu.dtype, device=mu.device)[:, None, :].expand(d, n, d)
        if method == "official":
            feats = official_map_features(mu, cap.activation, torch.eye(d, dtype=mu.dtype))
            return upsample(feats, size).abs()
        stats = self.stats_
        mu_x, var_x = stats.mu.to(mu), stats.var.to(mu)
        if method == "nd-weighted":
            var = var_x + logvar.exp()
            nll = ((mu_x - mu) ** 2 / (2 * var) + 0.5 * torch.log(2 * math.pi * var)).sum(dim=1)
            go = torch.ones(1, n, dtype=mu.dtype, device=mu.device)
            alpha = att.weights(nll[:, None], cap, go[..., None])  # (1, N, C)
            return upsample(combine(alpha, cap.activation).relu(), size)
        diff = mu_x - mu  # mean of the normal-difference distribution
        if method == "paper":
            alpha = att.weights(diff, cap, eye)  # (D, N, C)
            return upsample(combine(alpha, cap.activation).relu().mean(dim=1, keepdim=True), size)
        spread = torch.sqrt(var_x + logvar.exp())
        both = torch.cat([diff, spread], dim=1)  # one batched pass for the weights of -mu_i and s_i
        zeros = torch.zeros_like(eye)
        go = torch.cat([torch.cat([eye, zeros], dim=2), torch.cat([zeros, eye], dim=2)], dim=0)
        alpha = att.weights(both, cap, go)
        a_mean, a_spread = alpha[:d], alpha[d:]  # (D, N, C) each
        total = torch.zeros(n, 1, *cap.activation.shape[-2:], dtype=mu.dtype, device=mu.device)
        for _ in range(self.samples):
            eps = torch.randn(n, d, generator=generator).to(mu)
            a = a_mean + eps.T[:, :, None] * a_spread
            total += combine(a, cap.activation).relu().mean(dim=1, keepdim=True)
        return upsample(total / self.samples, size)


__all__ = [
    "DEFAULT_METHOD",
    "GRADIENT_METHODS",
    "METHODS",
    "AnomalyMapper",
    "NormalStats",
    "aggregate_posterior",
    "ssim_map",
]
