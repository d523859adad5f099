"""DDIM sampling and inversion, with the asymmetric reverse process of Asyrp.

Song, Meng & Ermon, "Denoising Diffusion Implicit Models" (ICLR 2021), Eq. 12:

    x_{t-1} = sqrt(abar_{t-1}) P_t(eps) + D_t(eps) + sigma_t z,
    P_t(eps) = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)          (the predicted x_0)
    D_t(eps) = sqrt(1 - abar_{t-1} - sigma_t^2) eps                 (the direction pointing to x_t)
    sigma_t  = eta sqrt((1 - abar_{t-1}) / (1 - abar_t)) sqrt(1 - abar_t / abar_{t-1})  (Eq. 16)

``eta = 0`` is deterministic. Kwon, Jeong & Uh (Asyrp, ICLR 2023, Eq. 4) edit with the *asymmetric* step
``x_{t-1} = sqrt(abar_{t-1}) P_t(eps~) + D_t(eps)``: the predicted x_0 uses the edited network output eps~, the
direction term keeps the original eps. Their Theorem 1 is why: shifting eps in both terms nearly cancels.
The *symmetric* variant (Haas et al., FG 2024) uses eps~ in both. Asyrp's three phases are: edit on
``[T, t_edit]``, plain DDIM below, and optional stochastic "quality boosting" (eta = 1) on the last steps.
DDIM inversion runs Eq. 12 (eta = 0) upwards, using the network's eps at the lower timestep.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from ..errors import LatentLensError

EDIT_MODES = ("asyrp", "symmetric")

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class DDIM:
    """A DDIM sampler over ``steps`` evenly spaced timesteps of a model trained with ``alphas_cumprod``.

    ``eps_model(x_t, t)`` predicts the noise for model-space images ``x_t`` and integer timesteps ``t (N,)``.
    Step ``i`` goes from ``timesteps[i]`` to the next lower timestep (to x_0 after the last).
    """

    def __init__(self, eps_model: EpsModel, alphas_cumprod: torch.Tensor, steps: int = 50, eta: float = 0.0):
        alphas_cumprod = torch.as_tensor(alphas_cumprod, dtype=torch.float64).cpu()
        num = len(alphas_cumprod)
        if not 1 <= steps <= num:
            raise LatentLensError(f"DDIM steps must be in [1, {num}], got {steps}")
        if not 0 <= eta:
            raise LatentLensError(f"eta must be non-negative, got {eta}")
        self.eps_model = eps_model
        self.eta = float(eta)
        self.timesteps = torch.linspace(num - 1, 0, steps, dtype=torch.float64).round().long().unique_consecutive()
        self.alpha = alphas_cumprod[self.timesteps]
        self.alpha_prev = torch.cat([self.alpha[1:], torch.ones(1, dtype=torch.float64)])

    def __len__(self) -> int:
        return len(self.timesteps)

    def edit_steps(self, t_edit: float) -> int:
        """Number of leading steps whose timestep is at least ``t_edit * T`` (the edit interval [T, t_edit])."""
        if not 0 <= t_edit <= 1:
            raise LatentLensError(f"t_edit must be a fraction of T in [0, 1], got {t_edit}")
        total = int(self.timesteps[0]) + 1
        return int((self.timesteps >= t_edit * (total - 1)).sum())

    def t_batch(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return torch.full((len(x),), int(self.timesteps[i]), device=x.device, dtype=torch.long)

    def step(self, x: torch.Tensor, i: int, *, edited: EpsModel | None = None, mode: str = "asyrp",
             eta: float | None = None, generator: torch.Generator | None = None,
             noise: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """One step ``x_{t_i} -> x_{t_{i+1}}``; with ``edited`` (a second eps model, e.g. the network with an h
        shift) the asymmetric (``asyrp``) or symmetric step. For eta > 0 the fresh noise is ``noise`` when
        given (a step that must be repeatable, e.g. inside a checkpointed chain), else drawn from ``generator``."""
        if mode not in EDIT_MODES:
            raise LatentLensError(f"mode must be one of {', '.join(EDIT_MODES)}, got {mode!r}")
        t = self.t_batch(i, x)
        if edited is None:
            eps = eps_x0 = self.eps_model(x, t)
        elif mode == "symmetric":
            eps = eps_x0 = edited(x, t)
        else:
            eps, eps_x0 = self.eps_model(x, t), edited(x, t)
        eta = self.eta if eta is None else eta
        a, a_prev = float(self.alpha[i]), float(self.alpha_prev[i])
        sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)) ** 0.5 if a_prev < 1 else 0.0
        x0 = (x - (1 - a) ** 0.5 * eps_x0) / a ** 0.5
        out = a_prev**0.5 * x0 + max(1 - a_prev - sigma**2, 0.0) ** 0.5 * eps
        if sigma > 0:
            z = noise if noise is not None else torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
            out = out + sigma * z
        return out

    def predicted_x0(self, x: torch.Tensor, i: int, eps: torch.Tensor) -> torch.Tensor:
        """``P_t(eps)`` at step ``i``."""
        a = float(self.alpha[i])
        return (x - (1 - a) ** 0.5 * eps) / a**0.5

    def sample(self, x_T: torch.Tensor, *, edited: EpsModel | None = None, mode: str = "asyrp",
               edit_steps: int | None = None, boost_steps: int = 0, generator: torch.Generator | None = None,
               progress: bool = False) -> torch.Tensor:  # fmt: skip
        """x_0 (model space) from ``x_T``: the edit on the first ``edit_steps`` steps (all by default), plain
        DDIM after, and eta = 1 on the last ``boost_steps`` steps (Asyrp's quality boosting)."""
        n = len(self)
        edit_steps = n if edit_steps is None else edit_steps
        if not 0 <= boost_steps <= n:
            raise LatentLensError(f"boost_steps must be in [0, {n}], got {boost_steps}")
        x = x_T
        for i in tqdm(range(n), disable=not progress, desc="ddim", unit="step", leave=False):
            x = self.step(x, i, edited=edited if i < edit_steps else None, mode=mode,
                          eta=1.0 if i >= n - boost_steps else None, generator=generator)  # fmt: skip
        return x

    def invert(self, x0: torch.Tensor, progress: bool = False) -> torch.Tensor:
        """DDIM inversion (eta = 0): the x_T whose deterministic sample is (approximately) ``x0``."""
        x = x0
        for i in tqdm(reversed(range(len(self))), total=len(self), disable=not progress, desc="invert", leave=False):
            a_low, a_high = float(self.alpha_prev[i]), float(self.alpha[i])
            t = self.t_batch(i + 1, x) if i + 1 < len(self) else self.t_batch(i, x)
            eps = self.eps_model(x, t)
            pred = (x - (1 - a_low) ** 0.5 * eps) / a_low**0.5
            x = a_high**0.5 * pred + (1 - a_high) ** 0.5 * eps
        return x
