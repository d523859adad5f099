"""Training loop for the DCGAN: non-saturating GAN loss (Goodfellow et al. 2014, Sec. 3), Adam 2e-4, betas
(0.5, 0.999) as in Radford et al. (2016), and the R1 penalty on real images (Mescheder et al. 2018, Eq. 9):
the discriminator also minimises ``r1_gamma / 2 * ||grad_x D(x_real)||^2``. Without it the plain recipe
collapses on dSprites within about 200 steps (the discriminator wins, its loss goes to 0 and the generator
draws noise); ``r1_gamma=0`` trains the plain recipe. Models and batches are channels_last.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..data.sources import step_generator, step_rng
from ..errors import LatentLensError
from ..models import build_model
from .loop import RunWriter, StepTimer, TrainSettings, distributed_context, progress_bar
from .loop import set_lr, stop_if_diverged, to_channels_last, training_device, wrap_ddp

R1_GAMMA = 10.0  # default weight of the R1 penalty


def r1_penalty(critic, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, mean_i ||grad_x D(x_i)||^2)`` with a graph through the gradient (Mescheder et al., Eq. 9)."""
    real = real.detach().requires_grad_(True)
    logits = critic(real)
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return logits, grad.pow(2).flatten(1).sum(1).mean()


def train_gan(
    source,
    out_dir,
    settings: TrainSettings,
    model_config: dict | None = None,
    resume: bool = False,
    r1_gamma: float = R1_GAMMA,
):
    """Train a :class:`DCGAN` on ``source`` into ``out_dir``; returns the model (eval mode)."""
    settings.validate()
    if not r1_gamma >= 0:
        raise LatentLensError(f"--r1-gamma must be non-negative, got {r1_gamma}")
    rank, world = distributed_context()
    model_config = {"in_channels": source.channels, **(model_config or {})}
    torch.manual_seed(settings.seed)
    device = training_device(settings, world)
    model = build_model("gan", model_config).to(device=device, memory_format=torch.channels_last)
    config = {
        "kind": "gan",
        "model": model.config_dict(),
        "objective": {"name": "non-saturating", "hparams": {"r1_gamma": r1_gamma}},
        "train": {**vars(settings), "data": source.name, "world_size": world},
    }
    writer = RunWriter(out_dir, config, resume, rank)
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=settings.lr, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(model.discriminator.parameters(), lr=settings.lr, betas=(0.5, 0.999))
    modules, optimizers = {"model": model}, {"generator": g_opt, "discriminator": d_opt}
    start = writer.start_step(modules, optimizers, resume)
    generator_net, critic = wrap_ddp(model.generator, world), wrap_ddp(model.discriminator, world)
    model.train()
    timer, began = StepTimer(), time.perf_counter()
    bar = progress_bar(settings.steps, start, settings.progress and rank == 0, "train gan")
    for step in range(start, settings.steps):
        set_lr(g_opt, settings.lr_at(step))
        set_lr(d_opt, settings.lr_at(step))
        real = to_channels_last(source.batch(settings.batch_size, step_rng(settings.seed, step, rank)).to(device))
        noise = step_generator(settings.seed, step, rank)
        fake = generator_net(model.sample_latents(len(real), noise).to(device))
        # The penalty runs through the unwrapped critic: autograd.grad does not fire DDP's reducer, and the
        # one backward below sums both paths into each parameter's gradient before it is all-reduced.
        if r1_gamma > 0:
            real_logits, r1 = r1_penalty(model.discriminator, real)
        else:
            real_logits, r1 = critic(real), torch.zeros(())
        d_loss = F.softplus(-real_logits).mean() + F.softplus(critic(fake.detach())).mean() + r1_gamma / 2 * r1
        stop_if_diverged(d_loss, step, out_dir, bar, "the discriminator loss")
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        g_loss = F.softplus(-critic(fake)).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        timer.add(len(real) * world)
        bar.update(1)
        done = step + 1
        if done % settings.log_every == 0 or done == settings.steps:
            g_value, d_value = float(g_loss.detach()), float(d_loss.detach())
            record = {"step": done, "loss": g_value, "g_loss": g_value, "d_loss": d_value, "r1": float(r1.detach()),
                      "images_per_s": round(timer.rate(), 1),
                      "time_s": round(writer.elapsed_s + time.perf_counter() - began, 2)}  # fmt: skip
            writer.log(record)
            bar.set_postfix(d=f"{d_value:.2f}", g=f"{g_value:.2f}")
        if done % settings.checkpoint_every == 0 and done < settings.steps:
            writer.checkpoint(done, modules, optimizers, model)
    bar.close()
    writer.checkpoint(settings.steps, modules, optimizers, model)
    seconds = round(writer.elapsed_s + time.perf_counter() - began, 2)
    writer.finish(settings.steps, model, {"steps": settings.steps, "seconds": seconds})
    return model.eval()
