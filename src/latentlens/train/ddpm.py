"""Training loop for :class:`~latentlens.models.ddpm.DDPM`: the simple loss (Ho et al. 2020, Eq. 14), Adam,
an exponential moving average of the weights (decay 0.999, as Ho et al.) that becomes the saved model, and
the run-folder, resume, DDP and progress conventions of the VAE and GAN loops.

Optionally the loss is reweighted per timestep by Choi et al.'s perception-prioritized weighting ("P2",
CVPR 2022, Eq. 8): ``lambda_t = 1 / (k + SNR(t))^gamma`` with ``SNR(t) = abar_t / (1 - abar_t)``. ``gamma = 0``
is the simple loss; ``gamma = 1`` takes weight off the nearly clean steps, where a U-Net can denoise from its
high-resolution skips alone, and puts it on the noisy steps that decide an image's coarse content (the
shape, its place) and that a U-Net learns through its bottleneck, h-space.

``model.safetensors`` holds the EMA weights (what sampling and every other command uses); the raw weights
and the optimizer live in ``checkpoint.safetensors`` for ``--resume``.
"""

from __future__ import annotations

import copy
import time

import torch

from ..data.sources import step_generator, step_rng
from ..errors import LatentLensError
from ..models import build_model
from .loop import RunWriter, StepTimer, TrainSettings, distributed_context, progress_bar
from .loop import set_lr, stop_if_diverged, training_device, wrap_ddp

EMA_DECAY = 0.999


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - decay)


def ema_decay_at(step: int, decay: float) -> float:
    """Warm-up of the EMA decay, ``min(decay, (1 + step) / (10 + step))``: early weights are forgotten fast."""
    return min(decay, (1 + step) / (10 + step))


def p2_weight(alphas_cumprod: torch.Tensor, t: torch.Tensor, gamma: float, k: float = 1.0) -> torch.Tensor:
    """Choi et al.'s P2 weight ``1 / (k + SNR(t))^gamma`` per timestep in ``t`` (float32, ``(N,)``)."""
    abar = alphas_cumprod[t]
    return ((k + abar / (1 - abar)) ** -gamma).float()


def train_ddpm(source, out_dir, settings: TrainSettings, model_config: dict | None = None, resume: bool = False,
               ema_decay: float = EMA_DECAY, p2_gamma: float = 0.0, p2_k: float = 1.0):  # fmt: skip
    """Train a DDPM on ``source`` (images in [0, 1]) into ``out_dir``; returns the EMA model (eval mode).

    ``p2_gamma > 0`` weights each image's loss by :func:`p2_weight` (the simple loss when 0)."""
    settings.validate()
    if not 0 <= ema_decay < 1:
        raise LatentLensError(f"ema_decay must be in [0, 1), got {ema_decay}")
    if not 0 <= p2_gamma <= 4 or not p2_k > 0:
        raise LatentLensError(f"p2_gamma must be in [0, 4] and p2_k positive, got {p2_gamma} and {p2_k}")
    rank, world = distributed_context()
    model_config = {"in_channels": source.channels, "image_size": source.image_size, **(model_config or {})}
    torch.manual_seed(settings.seed)
    device = training_device(settings, world)
    model = build_model("ddpm", model_config).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    config = {
        "kind": "ddpm",
        "model": model.config_dict(),
        "objective": {"name": "eps-mse", "hparams": {"ema_decay": ema_decay, "p2_gamma": p2_gamma, "p2_k": p2_k}},
        "train": {**vars(settings), "data": source.name, "world_size": world},
    }
    writer = RunWriter(out_dir, config, resume, rank)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    modules, optimizers = {"model": model, "ema": ema}, {"model": optimizer}
    start = writer.start_step(modules, optimizers, resume)
    net = wrap_ddp(model, world)
    model.train()
    timer, began = StepTimer(), time.perf_counter()
    bar = progress_bar(settings.steps, start, settings.progress and rank == 0, "train ddpm")
    for step in range(start, settings.steps):
        set_lr(optimizer, settings.lr_at(step))
        images = source.batch(settings.batch_size, step_rng(settings.seed, step, rank)).to(device)
        noise_gen = step_generator(settings.seed, step, rank)
        x0 = images * 2 - 1
        t = torch.randint(0, model.num_timesteps, (len(x0),), generator=noise_gen).to(device)
        noise = torch.randn(x0.shape, generator=noise_gen).to(device)
        errors = torch.nn.functional.mse_loss(net(model.noisy(x0, t, noise), t), noise, reduction="none").flatten(1).mean(1)
        if p2_gamma:
            errors = errors * p2_weight(model.alphas_cumprod, t, p2_gamma, p2_k)
        loss = errors.mean()
        stop_if_diverged(loss, step, out_dir, bar)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        update_ema(ema, model, ema_decay_at(step, ema_decay))
        timer.add(len(x0) * world)
        bar.update(1)
        done = step + 1
        if done % settings.log_every == 0 or done == settings.steps:
            value = float(loss.detach())
            writer.log({"step": done, "loss": value, "lr": settings.lr_at(step), "images_per_s": round(timer.rate(), 1),
                        "time_s": round(writer.elapsed_s + time.perf_counter() - began, 2)})  # fmt: skip
            bar.set_postfix(loss=f"{value:.4f}")
        if done % settings.checkpoint_every == 0 and done < settings.steps:
            writer.checkpoint(done, modules, optimizers, ema)
    bar.close()
    writer.checkpoint(settings.steps, modules, optimizers, ema)
    seconds = round(writer.elapsed_s + time.perf_counter() - began, 2)
    writer.finish(settings.steps, ema, {"steps": settings.steps, "seconds": seconds})
    return ema.eval()
