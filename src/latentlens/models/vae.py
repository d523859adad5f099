"""The standard convolutional VAE of the disentanglement literature (Locatello et al. 2019, Table 2).

Encoder: conv 32-32-64-64 (stride 2) -> dense 256 -> (mu, log sigma^2); decoder: dense 256-1024 ->
transposed conv 64-32-32-C (4x4, stride 2) giving Bernoulli logits. ``encoder_kernels="4x4"`` follows
the paper's table; ``"2x2"`` is the variant of disentanglement_lib's code and released models, whose
third and fourth encoder convolutions use 2x2 kernels (its issue #23).

The encoder's convolutions are ``encoder.0``, ``encoder.2``, ``encoder.4``, ``encoder.6`` and their
ReLUs ``encoder.1`` ... ``encoder.7``: names that attention explainers take as ``layer=``.

``train_precision = "bf16"`` (``latentlens train vae --precision bf16``) runs the two convolution stacks in
bfloat16 while training (mixed precision, Micikevicius et al. 2018, with bfloat16's float32 range); the
dense layers, the posterior moments, the sampling and every loss stay in float32. It is not part of the
config: a model trained either way is used the same way, and evaluation runs in float32.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import LatentLensError
from ..registry import register


@dataclass(frozen=True)
class VAEConfig:
    in_channels: int = 1
    image_size: int = 64
    latent_dim: int = 10
    encoder_kernels: str = "4x4"  # "4x4" (paper, Table 2) or "2x2" (disentanglement_lib code)
    hidden: int = 256

    def validate(self) -> "VAEConfig":
        if self.in_channels not in (1, 3):
            raise LatentLensError(f"in_channels must be 1 or 3, got {self.in_channels}")
        if self.image_size < 16 or self.image_size % 16:
            raise LatentLensError(f"image_size must be a multiple of 16, got {self.image_size}")
        if self.latent_dim < 1:
            raise LatentLensError(f"latent_dim must be positive, got {self.latent_dim}")
        if self.encoder_kernels not in ("4x4", "2x2"):
            raise LatentLensError(f"encoder_kernels must be '4x4' or '2x2', got {self.encoder_kernels!r}")
        return self


@register("model", "vae")
class ConvVAE(nn.Module):
    """Gaussian-encoder, Bernoulli-decoder VAE; ``forward`` returns ``(logits, mu, logvar, z)``."""

    train_precision = "fp32"  # "bf16": the convolutions run in bfloat16 while training

    def __init__(self, config: VAEConfig | None = None, **kwargs):
        super().__init__()
        self.config = (config or VAEConfig(**kwargs)).validate()
        c, d, h = self.config.in_channels, self.config.latent_dim, self.config.hidden
        small = self.config.encoder_kernels == "2x2"
        late = dict(kernel_size=2, stride=2, padding=0) if small else dict(kernel_size=4, stride=2, padding=1)
        self.encoder = nn.Sequential(
            nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, **late), nn.ReLU(),
            nn.Conv2d(64, 64, **late), nn.ReLU(),
        )  # fmt: skip
        self.feature_side = self.config.image_size // 16
        flat = 64 * self.feature_side**2
        self.encoder_fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, h), nn.ReLU())
        self.to_moments = nn.Linear(h, 2 * d)
        self.decoder_fc = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, flat), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, c, 4, 2, 1),
        )  # fmt: skip

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def config_dict(self) -> dict:
        return asdict(self.config)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the posterior moments ``(mu, logvar)``, each ``(N, latent_dim)``."""
        moments = self.to_moments(self.encoder_fc(self._convolve(self.encoder, x)))
        mu, logvar = moments.chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        features = self.decoder_fc(z).view(-1, 64, self.feature_side, self.feature_side)
        return self._convolve(self.decoder, features)

    def _convolve(self, stack: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.train_precision == "bf16":
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                return stack(x).float()
        return stack(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of the Bernoulli decoder: images in [0, 1], ``(N, C, H, W)``."""
        return torch.sigmoid(self.decode_logits(z))

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None):
        # drawn where the generator lives (a CPU generator seeds GPU runs too), then moved to mu's device
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype,
                          device=generator.device if generator is not None else mu.device).to(mu.device)  # fmt: skip
        return mu + eps * torch.exp(0.5 * logvar)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator) if self.training else mu
        return self.decode_logits(z), mu, logvar, z
