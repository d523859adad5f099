"""Learn an h-space edit from an objective on the predicted x_0: Asyrp's training (Kwon, Jeong & Uh, ICLR 2023).

Asyrp trains the shift of the U-Net's bottleneck per timestep, without backpropagating through the chain
(official code: ``xt_next.detach()`` at every step). At each step ``t`` of the edit interval ``[T, t_edit]`` it
compares the predicted x_0 of the edited network, ``P_t(eps~)``, with that of the original one, ``P_t(eps)``:

    L_t = objective(P_t(eps~), P_t(eps)) + lambda_rec * | P_t(eps~) - P_t(eps) |_1          (Asyrp Eq. 8, 9)

takes a gradient step, and moves on with the asymmetric step ``x_{t-1} = sqrt(abar_{t-1}) P_t(eps~) + D_t(eps)``.
Asyrp's objective is the directional CLIP loss towards a text; here it is any differentiable function of the
two predicted images (in [0, 1]): a classifier's logit, a brightness, a distance to a target. ``lambda_rec`` is
3 as in Asyrp. The edit is one of the three forms of :mod:`latentlens.directions.hspace`: a **global** shift,
one shift **per step** of the interval, or the **implicit** function f_t(h, t) (Asyrp's DeltaBlock).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from ..errors import LatentLensError
from .generators import frozen
from .hspace import ImplicitDelta, PerStepShift, as_diffusion

EDIT_KINDS = ("global", "per-step", "implicit")


def train_asyrp_edit(model, objective: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, kind: str = "global",
                     n_images: int = 32, batch_size: int = 8, epochs: int = 5, steps: int = 20, t_edit: float = 0.5,
                     lr: float = 0.05, rec_weight: float = 3.0, seed: int = 0, show_progress: bool = False):  # fmt: skip
    """Train an edit of ``kind`` on ``n_images`` seeded noises for ``epochs`` passes; returns ``(edit, history)``
    where ``edit`` goes straight into :func:`~latentlens.directions.hspace.edit_images` (with the same
    ``steps``; a per-step edit covers the steps of the edit interval and then stops)."""
    if kind not in EDIT_KINDS:
        raise LatentLensError(f"kind must be one of {', '.join(EDIT_KINDS)}, got {kind!r}")
    if n_images < 1 or batch_size < 1 or epochs < 1 or not lr > 0 or not rec_weight >= 0:
        raise LatentLensError("n_images, batch_size and epochs must be positive, lr > 0 and rec_weight >= 0")
    diffusion = as_diffusion(model)
    with frozen(diffusion.model):
        return _train(diffusion, objective, kind, n_images, batch_size, epochs, steps, t_edit, lr, rec_weight, seed,
                      show_progress)  # fmt: skip


def _train(diffusion, objective, kind, n_images, batch_size, epochs, steps, t_edit, lr, rec_weight, seed, show_progress):
    sampler = diffusion.sampler(steps)
    n_edit = sampler.edit_steps(t_edit)
    device, dtype = diffusion.device, diffusion.dtype
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "global":
            param = torch.zeros(diffusion.h_shape, device=device, dtype=dtype, requires_grad=True)
            edit, params = param, [param]
        elif kind == "per-step":
            param = torch.zeros(steps, *diffusion.h_shape, device=device, dtype=dtype, requires_grad=True)
            edit, params = PerStepShift(param), [param]
        else:
            edit = ImplicitDelta(diffusion.h_shape[0]).to(device, dtype)
            torch.nn.init.zeros_(edit.conv_out.weight)  # starts as the identity edit
            torch.nn.init.zeros_(edit.conv_out.bias)
            params = list(edit.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    noise = torch.randn(n_images, *diffusion.image_shape, generator=torch.Generator().manual_seed(seed)).to(device, dtype)
    edited = diffusion.edited_eps(edit, sampler)
    history = []
    bar = tqdm(total=epochs * ((n_images + batch_size - 1) // batch_size), disable=not show_progress, desc="asyrp")
    for epoch in range(epochs):
        total = 0.0
        for start in range(0, n_images, batch_size):
            x = noise[start : start + batch_size]
            for i in range(n_edit):
                t = sampler.t_batch(i, x)
                with torch.no_grad():
                    eps = diffusion.eps(x, t)
                    source = (sampler.predicted_x0(x, i, eps) + 1) / 2
                eps_tilde = edited(x, t)
                target = (sampler.predicted_x0(x, i, eps_tilde) + 1) / 2
                loss = objective(target, source) + rec_weight * (target - source).abs().mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(x) / n_edit
                with torch.no_grad():
                    x = sampler.step(x, i, edited=edited, mode="asyrp")
            bar.update(1)
        history.append({"epoch": epoch + 1, "loss": total / n_images})
    bar.close()
    if isinstance(edit, torch.Tensor):
        edit = edit.detach()
    elif isinstance(edit, PerStepShift):
        edit = PerStepShift(torch.cat([edit.deltas.detach()[:n_edit], torch.zeros_like(edit.deltas[n_edit:])]))
    else:
        edit.eval().requires_grad_(False)
    return edit, history
