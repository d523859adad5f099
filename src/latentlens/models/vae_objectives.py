"""Training objectives for :class:`~latentlens.models.vae.ConvVAE`, registered by name.

- ``beta-vae`` (Higgins et al. 2017, Eq. 4): rec + beta * KL.
- ``beta-tcvae`` (Chen et al. 2018, Eq. 4 with the minibatch-weighted-sampling estimate of Sec. 3.1):
  rec + KL + (beta - 1) * TC.
- ``factorvae`` (Kim & Mnih 2018, Eq. 2-3): rec + KL + gamma * TC, TC estimated by a discriminator
  trained to tell q(z) from the product of its marginals, sampled by permuting each latent dimension
  across the batch (Alg. 2). As in disentanglement_lib the permuted codes come from the same batch; the
  paper draws a second batch.

Reconstruction is the Bernoulli negative log-likelihood summed over pixels, averaged over the batch;
KL is against N(0, I). Each objective returns a dict of scalars whose ``"loss"`` entry is minimised (and
the decoder's ``"recon_logits"``, for terms added outside the objective, such as a classifier's KL).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import register


def bernoulli_reconstruction(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z_j | x) || N(0, 1)) per latent dimension, averaged over the batch: ``(D,)`` nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).mean(0)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1).mean()


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def minibatch_total_correlation(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Minibatch-weighted-sampling TC estimate (Chen et al. 2018, Eq. S4).

    As in disentanglement_lib the ``log(N * M)`` normalisers are dropped: the value is offset by
    ``-(D - 1) * log(N * M)`` (so it is usually negative, about -35 for D = 10, M = 64 on dSprites), while
    its gradients, all that training uses, are exact.
    """
    log_q = gaussian_log_density(z[:, None, :], mu[None, :, :], logvar[None, :, :])  # (B, B, D)
    log_qz = torch.logsumexp(log_q.sum(2), dim=1)
    log_prod_qzi = torch.logsumexp(log_q, dim=1).sum(1)
    return (log_qz - log_prod_qzi).mean()


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shuffle every latent dimension independently across the batch (Kim & Mnih, Alg. 2)."""
    batch, dims = z.shape
    order = torch.argsort(torch.rand(batch, dims, generator=generator), dim=0)
    return torch.gather(z, 0, order.to(z.device))


class VAEObjective(nn.Module):
    """Base: ``forward(model, x, generator)`` returns a dict with ``loss`` and logged terms."""

    has_discriminator = False

    def hparams(self) -> dict:
        return {}

    def terms(self, model, x, generator):
        logits, mu, logvar, z = model(x, generator=generator)
        terms = {"rec": bernoulli_reconstruction(logits, x), "kl": gaussian_kl(mu, logvar),
                 "kl_per_dim": gaussian_kl_per_dim(mu.detach(), logvar.detach()), "recon_logits": logits}  # fmt: skip
        return terms, mu, logvar, z


@register("objective", "beta-vae")
class BetaVAE(VAEObjective):
    def __init__(self, beta: float = 4.0):
        super().__init__()
        self.beta = float(beta)

    def hparams(self) -> dict:
        return {"beta": self.beta}

    def forward(self, model, x, generator=None):
        out, *_ = self.terms(model, x, generator)
        out["loss"] = out["rec"] + self.beta * out["kl"]
        return out


@register("objective", "beta-tcvae")
class BetaTCVAE(VAEObjective):
    """Chen et al. 2018, Eq. 4: the KL term split into index-code MI, total correlation and dimension-wise KL,
    weighted alpha, ``beta`` and gamma. ``kl_weight`` is alpha = gamma (the paper's choice, 1 by default): loss =
    rec + kl_weight * KL + (beta - kl_weight) * TC. A weight below 1 keeps dim images (few bright pixels, a small
    reconstruction term) from giving up their latents, as beta < 1 does for the beta-VAE."""

    def __init__(self, beta: float = 6.0, kl_weight: float = 1.0):
        super().__init__()
        self.beta, self.kl_weight = float(beta), float(kl_weight)

    def hparams(self) -> dict:
        return {"beta": self.beta} if self.kl_weight == 1.0 else {"beta": self.beta, "kl_weight": self.kl_weight}

    def forward(self, model, x, generator=None):
        out, mu, logvar, z = self.terms(model, x, generator)
        out["tc"] = minibatch_total_correlation(z, mu, logvar)
        out["loss"] = out["rec"] + self.kl_weight * out["kl"] + (self.beta - self.kl_weight) * out["tc"]
        return out


class TCDiscriminator(nn.Sequential):
    """Six dense layers of 1000 units with LeakyReLU(0.2) and two logits (real, permuted)."""

    def __init__(self, latent_dim: int, width: int = 1000, depth: int = 6):
        layers: list[nn.Module] = []
        size = latent_dim
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.LeakyReLU(0.2)]
            size = width
        super().__init__(*layers, nn.Linear(size, 2))


@register("objective", "factorvae")
class FactorVAE(VAEObjective):
    has_discriminator = True

    def __init__(self, latent_dim: int = 10, gamma: float = 35.0, disc_width: int = 1000):
        super().__init__()
        self.gamma = float(gamma)
        self.latent_dim = int(latent_dim)
        self.disc_width = int(disc_width)
        self.discriminator = TCDiscriminator(latent_dim, disc_width)

    def hparams(self) -> dict:
        return {"gamma": self.gamma, "latent_dim": self.latent_dim, "disc_width": self.disc_width}

    def forward(self, model, x, generator=None):
        out, mu, logvar, z = self.terms(model, x, generator)
        logits = self.discriminator(z)
        out["tc"] = (logits[:, 0] - logits[:, 1]).mean()
        out["loss"] = out["rec"] + out["kl"] + self.gamma * out["tc"]
        out["z"] = z
        return out

    def discriminator_loss(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Cross-entropy of telling q(z) (class 0) from the permuted product of marginals (class 1)."""
        z = z.detach()
        real, fake = self.discriminator(z), self.discriminator(permute_dims(z, generator))
        zeros = torch.zeros(len(z), dtype=torch.long, device=z.device)
        return 0.5 * (F.cross_entropy(real, zeros) + F.cross_entropy(fake, zeros + 1))


def build_objective(name: str, latent_dim: int, **hparams) -> VAEObjective:
    from ..registry import get

    cls = get("objective", name)
    if cls.has_discriminator:
        hparams.setdefault("latent_dim", latent_dim)
    return cls(**hparams)
