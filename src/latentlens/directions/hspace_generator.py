"""A diffusion model's h-space as a generator of the toolkit's protocol.

The latent of :class:`HSpaceGenerator` is h itself, flattened and standardised: ``u = (h_T - mu) / s`` where
h_T is the middle block's output at the first DDIM step, ``mu`` its mean and ``s`` its root-mean-square
deviation per coordinate over calibration noises (so a shift of 1 along a unit direction is about one
standard deviation of h). ``sample_latents(n)`` draws n noises x_T and returns their u. An image for a latent
``z`` comes from the noise of the sampled latent nearest to it, edited by the global shift
``dh = s (z - u)``: every row of ``G(z)``, ``G(z + eps d)``, ``G(z - a d)`` ... keeps its own x_T, as every
finder and scorer of the toolkit expects. So "PCA of sampled h" is GANSpace's latent PCA
of this generator, and the Voynov & Babenko trainer on it is the method of Zhang et al. (arXiv 2310.09912):
K global h-directions and a reconstructor trained through the whole DDIM chain. When autograd is on, the
chain runs with step-level checkpointing (:func:`~latentlens.directions.checkpointed_chain.checkpointed_chain`),
so its memory is that of one step. A latent far from every sampled one (more than half-way to the
second-nearest) is refused: h-space latents are sampled points plus shifts. Shifts of any size go through
:meth:`HSpaceGenerator.shifted` (``G.shifted(z, delta)``, the form every finder and scorer uses via
:func:`~latentlens.directions.base.shifted_images`), which takes the noise from the sampled latent ``z``
itself instead of finding it again by nearest neighbour.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..errors import LatentLensError
from .checkpointed_chain import checkpointed_chain
from .hspace import as_diffusion


class HSpaceGenerator:
    """h-space of ``model`` (a DDPM or anything :func:`~latentlens.directions.hspace.as_diffusion` adapts).

    Parameters
    ----------
    steps, eta: the DDIM sampler (eta 0: deterministic given x_T).
    mode: ``"asyrp"`` (edited eps only in the predicted x_0) or ``"symmetric"``.
    t_edit: the shift is applied while ``t >= t_edit * T``; plain DDIM after (Asyrp's edit interval).
    n_calibration: noises for ``mu`` and ``s``. seed: their seed.
    max_anchors: sampled latents remembered (oldest forgotten first).
    checkpoint: gradients through the chain by step-level checkpointing (False: keep the full graph).
    """

    kind = "hspace"
    latent_space = "h"

    def __init__(self, model, *, steps: int = 10, eta: float = 0.0, mode: str = "asyrp", t_edit: float = 0.2,
                 n_calibration: int = 256, seed: int = 0, max_anchors: int = 50_000, checkpoint: bool = True,
                 **diffusion_kwargs):  # fmt: skip
        self.diffusion = as_diffusion(model, **diffusion_kwargs)
        self.sampler = self.diffusion.sampler(steps, eta)
        self.mode, self.t_edit, self.checkpoint = mode, t_edit, checkpoint
        self.edit_steps = self.sampler.edit_steps(t_edit)
        self.h_shape = self.diffusion.h_shape
        self.latent_dim = int(np.prod(self.h_shape))
        self.max_anchors = int(max_anchors)
        self._anchor_u = torch.empty(0, self.latent_dim)
        self._anchor_seed = torch.empty(0, dtype=torch.long)
        seeds = torch.randint(0, 2**62, (int(n_calibration),), generator=torch.Generator().manual_seed(seed))
        h = self._h_first(self.noise(seeds)).double()
        self.h_mean = h.mean(0).float()
        self.h_scale = float(((h - h.mean(0)) ** 2).mean().sqrt())
        if not self.h_scale > 0:
            raise LatentLensError("h does not vary over noises: the model's middle block output is constant")

    # -- protocol ---------------------------------------------------------------------------------------
    @property
    def module(self):
        return self.diffusion.model

    @property
    def device(self) -> torch.device:
        return self.diffusion.device

    def parameters(self):
        return self.diffusion.model.parameters()

    def noise(self, seeds: torch.Tensor) -> torch.Tensor:
        """x_T of each seed (a pure function of the seed)."""
        g = torch.Generator()
        return torch.stack([torch.randn(self.diffusion.image_shape, generator=g.manual_seed(int(s))) for s in seeds])

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latents u of fresh noises (remembered, so that images of them and of shifts of them can be drawn)."""
        seeds = torch.randint(0, 2**62, (n,), generator=generator)
        u = ((self._h_first(self.noise(seeds)) - self.h_mean) / self.h_scale).cpu()
        all_u, all_seeds = torch.cat([self._anchor_u, u]), torch.cat([self._anchor_seed, seeds])
        unique, inverse = torch.unique(all_seeds, return_inverse=True)  # a seed drawn again is one anchor
        last = torch.full((len(unique),), -1, dtype=torch.long).scatter_reduce(
            0, inverse, torch.arange(len(all_seeds)), reduce="amax"
        )
        keep = last.sort().values[-self.max_anchors :]
        self._anchor_u, self._anchor_seed = all_u[keep], all_seeds[keep]
        return u.clone()

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1]: each row's nearest sampled noise, with h shifted by ``s (z - u)``."""
        return self._edited(z, torch.zeros_like(z))

    def shifted(self, z: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """Images of the sampled latents ``z`` shifted by ``delta`` (same shape): each row keeps the noise of
        its own ``z`` however large the shift, where ``G(z + delta)`` must find that noise again by nearest
        neighbour and refuses shifts past half the distance to the next sampled latent."""
        if delta.shape != z.shape:
            raise LatentLensError(f"the shift must have the latents' shape {tuple(z.shape)}, got {tuple(delta.shape)}")
        return self._edited(z, delta)

    def _edited(self, z: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise LatentLensError(f"latents must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        index = self._nearest(z.detach().float().cpu())
        x_T = self.noise(self._anchor_seed[index])
        shift = ((z - self._anchor_u[index].to(z.device, z.dtype)) + delta) * self.h_scale
        return self.render(x_T, shift.view(len(z), *self.h_shape))

    def render(self, x_T: torch.Tensor, delta_h: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1] of noises ``x_T`` with the global h shift ``delta_h`` ``(N, C, H, W)`` (None: unedited)."""
        device = self.device
        x_T = x_T.to(device, self.diffusion.dtype)
        if delta_h is None:
            with torch.no_grad():
                x0 = self.sampler.sample(x_T)
            return ((x0.float() + 1) / 2).clamp(0, 1)
        delta_h = delta_h.to(device, self.diffusion.dtype)
        edited = self.diffusion.edited_eps(delta_h, self.sampler)

        def step(x, i):
            return self.sampler.step(x, i, edited=edited if i < self.edit_steps else None, mode=self.mode)

        wants_grad = delta_h.requires_grad and torch.is_grad_enabled()
        if wants_grad and self.checkpoint:
            x0 = checkpointed_chain(step, x_T, len(self.sampler), params=(delta_h,))
        else:
            with torch.set_grad_enabled(wants_grad):  # no graph through the weights when no shift wants one
                x0 = x_T
                for i in range(len(self.sampler)):
                    x0 = step(x0, i)
        return ((x0 + 1) / 2).clamp(0, 1)

    def model_hash(self) -> str:
        digest = hashlib.sha256()
        for name, tensor in sorted(self.diffusion.model.state_dict().items()):
            t = tensor.detach().to("cpu").contiguous()
            digest.update(name.encode())
            digest.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        return digest.hexdigest()[:16]

    # -- helpers ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def _h_first(self, x_T: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        t = int(self.sampler.timesteps[0])
        rows = [self.diffusion.h(x_T[s : s + batch_size].to(self.device, self.diffusion.dtype), t).flatten(1).float().cpu()
                for s in range(0, len(x_T), batch_size)]  # fmt: skip
        return torch.cat(rows)

    def _nearest(self, z: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
        if len(self._anchor_u) == 0:
            raise LatentLensError("no h-space latents were sampled yet: start from sample_latents(n)")
        index = torch.empty(len(z), dtype=torch.long)
        for s in range(0, len(z), chunk):
            d = torch.cdist(z[s : s + chunk], self._anchor_u)
            k = min(2, d.shape[1])
            best = d.topk(k, largest=False)
            index[s : s + chunk] = best.indices[:, 0]
            if k == 2:
                far = best.values[:, 0] > 0.5 * best.values[:, 1]
                if bool(far.any()):
                    raise LatentLensError(
                        "an h-space latent is not near any sampled latent (shift too large: "
                        f"{float(best.values[far][0, 0]):.1f} vs {float(best.values[far][0, 1]):.1f} to the next); "
                        f"use latents from sample_latents plus shifts of moderate size, or shifted(z, delta) for larger "
                        f"ones (sampled latents of this {self.latent_dim}-d h-space lie about "
                        f"{(2 * self.latent_dim) ** 0.5:.0f} apart)"
                    )
        return index

    def __repr__(self) -> str:
        return f"HSpaceGenerator(h_shape={self.h_shape}, steps={len(self.sampler)}, mode={self.mode!r})"

