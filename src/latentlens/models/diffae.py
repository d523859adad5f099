"""A classifier-aware diffusion autoencoder ("DiffAE-lite"): the attribute source of DiffEx.

Preechakul et al., "Diffusion Autoencoders" (CVPR 2022): a semantic encoder maps an image to ``z_sem`` and a
conditional DDIM decodes ``(z_sem, x_T)`` back to it, where ``x_T`` is the image's *stochastic encoding* (DDIM
inversion conditioned on ``z_sem``), so ``z_sem`` holds what the noise does not. Bourou et al. (DiffEx, arXiv
2502.09663, ``Classifier_Component``) make ``z_sem`` aware of the classifier ``C`` to be explained:

    z_sem = Linear(concat(softmax C(x), Enc(x)))

and train with ``(1 - w) L_diffusion + w KL(C(x) || C(x_hat))``, ``x_hat`` the decoded round trip, ``w``
annealed from 0 (see :mod:`latentlens.train.diffae`). Here the decoder is latentlens' DDPM U-Net with
``z_sem`` added to its time embedding, and the encoder four strided convolutions with global pooling.
``n_classes = 0`` drops the classifier component (the ablation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LatentLensError
from ..registry import register
from .ddim import DDIM
from .ddpm import DDPM, DDPMConfig


@dataclass(frozen=True)
class DiffAEConfig:
    in_channels: int = 1
    image_size: int = 64
    patch_size: int = 4
    base_channels: int = 32
    channel_mult: tuple = (1, 2, 2)
    num_res_blocks: int = 1
    num_timesteps: int = 1000
    schedule: str = "linear"
    sem_dim: int = 64
    encoder_width: int = 32
    n_classes: int = 2  # classes of the classifier whose probabilities join z_sem (0: no classifier component)

    def ddpm_config(self) -> DDPMConfig:
        return DDPMConfig(in_channels=self.in_channels, image_size=self.image_size, patch_size=self.patch_size,
                          base_channels=self.base_channels, channel_mult=tuple(self.channel_mult),
                          num_res_blocks=self.num_res_blocks, num_timesteps=self.num_timesteps,
                          schedule=self.schedule, cond_dim=self.sem_dim)  # fmt: skip

    def validate(self) -> "DiffAEConfig":
        self.ddpm_config().validate()
        if self.image_size % 16:
            raise LatentLensError(f"the semantic encoder needs image_size divisible by 16, got {self.image_size}")
        if self.sem_dim < 1 or self.encoder_width < 1 or self.n_classes < 0:
            raise LatentLensError("sem_dim and encoder_width must be positive and n_classes >= 0")
        return self


@register("model", "diffae")
class DiffAE(nn.Module):
    """``semantic(x, probs) -> z_sem``; ``stochastic_encode(x, z_sem) -> x_T``; ``render(z_sem, x_T) -> x``."""

    def __init__(self, config: DiffAEConfig | None = None, **kwargs):
        super().__init__()
        if isinstance(kwargs.get("channel_mult"), list):
            kwargs["channel_mult"] = tuple(kwargs["channel_mult"])
        self.config = (config or DiffAEConfig(**kwargs)).validate()
        c, w = self.config.in_channels, self.config.encoder_width
        self.ddpm = DDPM(self.config.ddpm_config())

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 4, 2, 1), nn.GroupNorm(8 if cout % 8 == 0 else 1, cout), nn.SiLU()]

        self.encoder = nn.Sequential(*block(c, w), *block(w, 2 * w), *block(2 * w, 4 * w), *block(4 * w, 4 * w))
        self.encoder_out = nn.Linear(4 * w, self.config.sem_dim)
        self.fuse = nn.Linear(self.config.sem_dim + self.config.n_classes, self.config.sem_dim)

    @property
    def latent_dim(self) -> int:
        return self.config.sem_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.ddpm.image_shape

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        return self.ddpm.alphas_cumprod

    def config_dict(self) -> dict:
        d = asdict(self.config)
        d["channel_mult"] = list(d["channel_mult"])
        return d

    def semantic(self, images: torch.Tensor, class_probs: torch.Tensor | None = None) -> torch.Tensor:
        """z_sem of ``images`` in [0, 1]; ``class_probs`` ``(N, n_classes)`` = softmax of the classifier's logits."""
        h = self.encoder_out(self.encoder(images * 2 - 1).mean(dim=(2, 3)))
        if self.config.n_classes:
            if class_probs is None or class_probs.shape != (len(images), self.config.n_classes):
                raise LatentLensError(f"this autoencoder reads the classifier: pass class_probs ({len(images)}, "
                                      f"{self.config.n_classes})")  # fmt: skip
            h = torch.cat([class_probs.to(h.dtype), h], dim=1)
        return self.fuse(h)

    def eps(self, x_t: torch.Tensor, t: torch.Tensor, z_sem: torch.Tensor) -> torch.Tensor:
        return self.ddpm(x_t, t, z_sem)

    def loss(self, images: torch.Tensor, z_sem: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The simple diffusion loss of the decoder conditioned on ``z_sem``."""
        x0 = images * 2 - 1
        t = torch.randint(0, self.ddpm.num_timesteps, (len(x0),), generator=generator).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
        return F.mse_loss(self.eps(self.ddpm.noisy(x0, t, noise), t, z_sem), noise)

    def sampler(self, z_sem: torch.Tensor, steps: int) -> DDIM:
        return DDIM(lambda x, t: self.eps(x, t, z_sem), self.alphas_cumprod, steps=steps)

    def stochastic_encode(self, images: torch.Tensor, z_sem: torch.Tensor, steps: int = 20) -> torch.Tensor:
        """x_T of ``images`` by DDIM inversion of the decoder conditioned on their ``z_sem``."""
        return self.sampler(z_sem, steps).invert(images * 2 - 1)

    def render(self, z_sem: torch.Tensor, x_T: torch.Tensor, steps: int = 20) -> torch.Tensor:
        """Images in [0, 1] decoded from ``(z_sem, x_T)`` (deterministic DDIM)."""
        return ((self.sampler(z_sem, steps).sample(x_T) + 1) / 2).clamp(0, 1)
