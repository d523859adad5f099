"""A small denoising diffusion model: an epsilon-predicting U-Net and its noise schedule.

Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models" (NeurIPS 2020): the forward process
``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` (Eq. 4) and the simple loss ``|| eps - eps_theta(x_t, t) ||^2``
(Eq. 14), with the linear schedule beta_1 = 1e-4 ... beta_T = 0.02, T = 1000; or the cosine schedule of Nichol &
Dhariwal, "Improved DDPM" (ICML 2021, Eq. 17, s = 0.008, betas clipped at 0.999).

The U-Net follows Ho et al.'s layout at a CPU-sized scale: a sinusoidal timestep embedding and MLP,
residual blocks (GroupNorm, SiLU, 3x3 convolutions, the embedding added between them), strided-convolution
downsampling and nearest-neighbour upsampling with skip connections, and a **middle block** ResBlock ->
self-attention -> ResBlock at the lowest resolution. Its output is Asyrp's h-space (Kwon et al., ICLR 2023):
``DDPM.h_layer`` names it for the h-space tools. With ``skip_connections = "stem"`` only the stem's output
(a 3x3 convolution of x_t) reaches the decoder: the image's content must pass through h, which a small U-Net
with every skip ignores on simple data (its high-resolution skips denoise alone). An optional
pixel-unshuffle stem (``patch_size = 2``) runs the U-Net at half the image side with 4x the channels (as
ViT/DiT patchify), which makes 64x64 models affordable on a CPU. Images are in [0, 1] outside and in [-1, 1] inside the model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LatentLensError
from ..registry import register

SCHEDULES = ("linear", "cosine")
SKIP_CONNECTIONS = ("all", "stem")


@dataclass(frozen=True)
class DDPMConfig:
    in_channels: int = 1
    image_size: int = 64
    patch_size: int = 2  # pixel-unshuffle stem: the U-Net works at image_size / patch_size
    base_channels: int = 32
    channel_mult: tuple = (1, 2, 2, 2)  # one resolution level per entry; the middle block is below the last
    num_res_blocks: int = 1
    attention_heads: int = 4
    num_timesteps: int = 1000
    schedule: str = "linear"
    groups: int = 8
    cond_dim: int = 0  # > 0: a conditioning vector (e.g. a diffusion autoencoder's z_sem) joins the time embedding
    skip_connections: str = "all"  # "stem": only the stem's output reaches the decoder, the rest passes through h

    def validate(self) -> "DDPMConfig":
        if self.in_channels not in (1, 3):
            raise LatentLensError(f"in_channels must be 1 or 3, got {self.in_channels}")
        if self.patch_size not in (1, 2, 4):
            raise LatentLensError(f"patch_size must be 1, 2 or 4, got {self.patch_size}")
        if not self.channel_mult or any(not isinstance(m, int) or isinstance(m, bool) or not 1 <= m <= 64 for m in self.channel_mult):
            raise LatentLensError(f"channel_mult must be whole numbers in [1, 64], got {list(self.channel_mult)}")
        factor = self.patch_size * 2 ** (len(self.channel_mult) - 1)
        if self.image_size < factor or self.image_size % factor:
            raise LatentLensError(f"image_size must be a multiple of {factor} for this U-Net, got {self.image_size}")
        if self.schedule not in SCHEDULES:
            raise LatentLensError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.skip_connections not in SKIP_CONNECTIONS:
            raise LatentLensError(f"skip_connections must be one of {', '.join(SKIP_CONNECTIONS)}, got {self.skip_connections!r}")
        if self.num_timesteps < 2:
            raise LatentLensError(f"num_timesteps must be at least 2, got {self.num_timesteps}")
        widths = {self.base_channels * m for m in self.channel_mult}
        if self.base_channels < 1 or self.groups < 1 or any(w % self.groups for w in widths):
            raise LatentLensError(f"every level's channels must be a multiple of groups={self.groups}")
        if self.attention_heads < 1 or (self.base_channels * self.channel_mult[-1]) % self.attention_heads:
            raise LatentLensError("the bottleneck's channels must be a multiple of attention_heads")
        return self

    @property
    def bottleneck_shape(self) -> tuple[int, int, int]:
        """Shape of h (one image): channels x side x side of the middle block's output."""
        side = self.image_size // (self.patch_size * 2 ** (len(self.channel_mult) - 1))
        return (self.base_channels * self.channel_mult[-1], side, side)


def noise_schedule(name: str, num_timesteps: int) -> torch.Tensor:
    """``betas`` (float64, length T) of the linear (Ho et al.) or cosine (Nichol & Dhariwal) schedule; the
    linear one is scaled by 1000 / T so that other T keep the same signal-to-noise path."""
    if name == "linear":
        scale = 1000.0 / num_timesteps
        return torch.linspace(scale * 1e-4, scale * 0.02, num_timesteps, dtype=torch.float64)
    if name == "cosine":
        steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
        f = torch.cos((steps + 0.008) / 1.008 * math.pi / 2) ** 2
        return (1 - f[1:] / f[:-1]).clamp(max=0.999)
    raise LatentLensError(f"unknown noise schedule {name!r} (use {', '.join(SCHEDULES)})")


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al. 2017, as used by Ho et al.)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, hh, ww = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, hh * ww).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q, k, v)  # (n, heads, hw, c / heads)
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, hh, ww))


class MiddleBlock(nn.Module):
    """ResBlock -> self-attention -> ResBlock at the bottleneck; its output is h-space."""

    def __init__(self, channels: int, emb_dim: int, heads: int, groups: int):
        super().__init__()
        self.res1 = ResBlock(channels, channels, emb_dim, groups)
        self.attention = SelfAttention(channels, heads, groups)
        self.res2 = ResBlock(channels, channels, emb_dim, groups)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return self.res2(self.attention(self.res1(x, emb)), emb)


class UNet(nn.Module):
    """``(x_t, t) -> eps``: ``x_t`` ``(N, C, H, W)`` in model space, ``t`` integer timesteps ``(N,)``."""

    def __init__(self, config: DDPMConfig):
        super().__init__()
        c, p, g = config.in_channels, config.patch_size, config.groups
        widths = [config.base_channels * m for m in config.channel_mult]
        self.patch_size = p
        self.emb_dim = 4 * config.base_channels
        self.time_mlp = nn.Sequential(nn.Linear(config.base_channels, self.emb_dim), nn.SiLU(),
                                      nn.Linear(self.emb_dim, self.emb_dim))  # fmt: skip
        self.cond_proj = nn.Linear(config.cond_dim, self.emb_dim) if config.cond_dim > 0 else None
        self.stem = nn.Conv2d(c * p * p, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        skip_widths, width = [widths[0]], widths[0]
        for level, w in enumerate(widths):
            for _ in range(config.num_res_blocks):
                self.down.append(ResBlock(width, w, self.emb_dim, g))
                width = w
                skip_widths.append(w)
            if level < len(widths) - 1:
                self.down.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
                skip_widths.append(width)
        self.middle = MiddleBlock(width, self.emb_dim, config.attention_heads, g)
        self.stem_skip_only = config.skip_connections == "stem"
        if self.stem_skip_only:
            skip_widths = [widths[0]] + [0] * (len(skip_widths) - 1)
        self.up = nn.ModuleList()
        for level, w in reversed(list(enumerate(widths))):
            for _ in range(config.num_res_blocks + 1):
                self.up.append(ResBlock(width + skip_widths.pop(), w, self.emb_dim, g))
                width = w
            if level > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, width, 3, padding=1)))
        self.out_norm = nn.GroupNorm(g, width)
        self.out = nn.Conv2d(width, c * p * p, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.stem.out_channels).to(self.stem.weight.dtype))
        if self.cond_proj is not None:
            if cond is None:
                raise LatentLensError("this U-Net is conditional: pass cond (N, cond_dim)")
            emb = emb + self.cond_proj(cond)
        if self.patch_size > 1:
            x = F.pixel_unshuffle(x, self.patch_size)
        h = self.stem(x)
        skips = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        h = self.middle(h, emb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                skip = skips.pop()
                h = layer(h if self.stem_skip_only and skips else torch.cat([h, skip], dim=1), emb)
            else:
                h = layer(h)
        out = self.out(F.silu(self.out_norm(h)))
        return F.pixel_shuffle(out, self.patch_size) if self.patch_size > 1 else out


@register("model", "ddpm")
class DDPM(nn.Module):
    """An epsilon-prediction diffusion model: ``forward(x_t, t) -> eps`` in model space ([-1, 1]).

    ``alphas_cumprod`` (abar_t, float64) is a buffer derived from the config, not stored in the weights.
    ``h_layer`` names the middle block, whose output is h-space.
    """

    h_layer = "unet.middle"

    def __init__(self, config: DDPMConfig | None = None, **kwargs):
        super().__init__()
        if "channel_mult" in kwargs and isinstance(kwargs["channel_mult"], list):
            kwargs["channel_mult"] = tuple(kwargs["channel_mult"])
        if config is not None and isinstance(config.channel_mult, list):
            config = DDPMConfig(**{**asdict(config), "channel_mult": tuple(config.channel_mult)})
        self.config = (config or DDPMConfig(**kwargs)).validate()
        self.unet = UNet(self.config)
        betas = noise_schedule(self.config.schedule, self.config.num_timesteps)
        self.register_buffer("alphas_cumprod", torch.cumprod(1 - betas, 0), persistent=False)

    @property
    def num_timesteps(self) -> int:
        return self.config.num_timesteps

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.config.in_channels, self.config.image_size, self.config.image_size)

    def config_dict(self) -> dict:
        d = asdict(self.config)
        d["channel_mult"] = list(d["channel_mult"])
        return d

    def forward(self, x: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor | None = None) -> torch.Tensor:
        if not torch.is_tensor(t) or t.dim() == 0:
            t = torch.full((len(x),), int(t), device=x.device, dtype=torch.long)
        return self.unet(x, t, cond)

    def noisy(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` (Ho et al., Eq. 4), ``x0`` in model space."""
        a = self.alphas_cumprod.to(x0.device)[t].float()[:, None, None, None]
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def loss(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The simple loss (Ho et al., Eq. 14) on ``images`` in [0, 1], with t and eps drawn from ``generator``."""
        x0 = images * 2 - 1
        t = torch.randint(0, self.num_timesteps, (len(x0),), generator=generator).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
        return F.mse_loss(self(self.noisy(x0, t, noise), t), noise)

    @torch.inference_mode()
    def sample(self, n: int, steps: int = 50, eta: float = 0.0, generator: torch.Generator | None = None,
               batch_size: int = 256) -> torch.Tensor:  # fmt: skip
        """``n`` images in [0, 1] by DDIM with ``steps`` steps (``eta = 0``: deterministic given the noise)."""
        from .ddim import DDIM

        sampler = DDIM(self, self.alphas_cumprod, steps=steps, eta=eta)
        device = next(self.parameters()).device
        out = []
        for s in range(0, n, batch_size):
            x_T = torch.randn(min(batch_size, n - s), *self.image_shape, generator=generator)
            out.append(sampler.sample(x_T.to(device), generator=generator).float().cpu())
        return ((torch.cat(out) + 1) / 2).clamp(0, 1)
