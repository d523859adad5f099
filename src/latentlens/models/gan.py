"""A DCGAN-style GAN for 64x64 images with 1 or 3 channels (Radford et al. 2016).

The generator's first layer is a dense map from the latent to a 4x4 feature block, so its weight is
the matrix ``A`` whose ``A^T A`` eigenvectors SeFa (Shen & Zhou 2021, Eq. 5) reads. Four transposed
convolutions (4x4, stride 2) with BatchNorm and ReLU upsample to 64x64; a sigmoid gives images in [0, 1].
The discriminator mirrors it with strided convolutions and LeakyReLU(0.2), with BatchNorm as in DCGAN or,
``discriminator_norm="none"``, without normalisation, as the critics trained with a gradient penalty are
(Gulrajani et al. 2017, Sec. 4; Mescheder et al. 2018's R1 models): batch statistics couple the images of a
batch, and the penalty on one real image's gradient then reaches the others.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import LatentLensError
from ..registry import register


@dataclass(frozen=True)
class GANConfig:
    in_channels: int = 1
    image_size: int = 64
    latent_dim: int = 10
    width: int = 32  # channels of the last generator block; earlier blocks use 2x, 4x, 8x
    discriminator_norm: str = "batch"  # "batch" (DCGAN) or "none"

    def validate(self) -> "GANConfig":
        if self.in_channels not in (1, 3):
            raise LatentLensError(f"in_channels must be 1 or 3, got {self.in_channels}")
        if self.image_size != 64:
            raise LatentLensError(f"the DCGAN generates 64x64 images, got image_size={self.image_size}")
        if self.latent_dim < 1 or self.width < 1:
            raise LatentLensError("latent_dim and width must be positive")
        if self.discriminator_norm not in ("batch", "none"):
            raise LatentLensError(f"discriminator_norm must be 'batch' or 'none', got {self.discriminator_norm!r}")
        return self


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class Generator(nn.Module):
    """Maps ``z ~ N(0, I)`` to images in [0, 1]; follows the generator protocol of DESIGN.md."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.first = nn.Linear(config.latent_dim, 8 * w * 16)
        self.first_norm = nn.Sequential(nn.BatchNorm2d(8 * w), nn.ReLU())
        self.blocks = nn.Sequential(*_up(8 * w, 4 * w), *_up(4 * w, 2 * w), *_up(2 * w, w))
        self.to_image = nn.ConvTranspose2d(w, config.in_channels, 4, 2, 1)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator)

    def first_layer_weight(self) -> torch.Tensor:
        """Weight of the dense latent projection, ``(out_features, latent_dim)``."""
        return self.first.weight

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.first(z).view(-1, 8 * self.config.width, 4, 4)
        return torch.sigmoid(self.to_image(self.blocks(self.first_norm(x))))


class Discriminator(nn.Module):
    """Strided-convolution critic returning one logit per image."""

    def __init__(self, config: GANConfig):
        super().__init__()
        w = config.width
        batch_norm = config.discriminator_norm == "batch"

        def down(cin: int, cout: int) -> list[nn.Module]:
            norm = [nn.BatchNorm2d(cout)] if batch_norm else []
            return [nn.Conv2d(cin, cout, 4, 2, 1, bias=not batch_norm), *norm, nn.LeakyReLU(0.2)]

        self.net = nn.Sequential(
            nn.Conv2d(config.in_channels, w, 4, 2, 1), nn.LeakyReLU(0.2),
            *down(w, 2 * w), *down(2 * w, 4 * w), *down(4 * w, 8 * w),
            nn.Conv2d(8 * w, 1, 4, 1, 0),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1).squeeze(1)


@register("model", "gan")
class DCGAN(nn.Module):
    """Generator and discriminator pair; ``self(z)`` generates."""

    def __init__(self, config: GANConfig | None = None, **kwargs):
        super().__init__()
        self.config = (config or GANConfig(**kwargs)).validate()
        self.generator = Generator(self.config)
        self.discriminator = Discriminator(self.config)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def config_dict(self) -> dict:
        """The config; ``discriminator_norm`` only where it is not DCGAN's BatchNorm, so the configs of runs
        trained before the option existed (and resuming them) stay as they were."""
        config = asdict(self.config)
        if config["discriminator_norm"] == "batch":
            del config["discriminator_norm"]
        return config

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.generator.sample_latents(n, generator)

    def first_layer_weight(self) -> torch.Tensor:
        return self.generator.first_layer_weight()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)
