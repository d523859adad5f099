"""h-space of a diffusion model: read and shift the U-Net's bottleneck, and edit with it.

Kwon, Jeong & Uh, "Diffusion Models Already Have a Semantic Latent Space" (Asyrp, ICLR 2023): h_t is the output
of the U-Net's middle block. An edit replaces h_t by h_t + dh_t while the decoder keeps the *unchanged*
skip tensors of the encoder, giving an edited noise prediction eps~ next to the original eps; the
asymmetric reverse process (:class:`~latentlens.models.ddim.DDIM`) uses eps~ only in the predicted x_0.
An edit ``dh`` is

- a *global* shift: one tensor of h's shape (or one per image), the same at every step;
- a *per-step* shift (:class:`PerStepShift`): one tensor per DDIM step;
- Asyrp's *implicit function* f_t(h, t) (:class:`ImplicitDelta`): Conv1x1 -> + Linear(SiLU(temb(t))) ->
  GroupNorm -> SiLU -> Conv1x1, channels unchanged.

:class:`Diffusion` adapts latentlens' :class:`~latentlens.models.ddpm.DDPM` or any user module called
``model(x_t, t)`` (outputs with ``.sample`` or tuples are unwrapped) given its ``alphas_cumprod`` (or ``betas``)
and the name of its middle block. The hooks are forward hooks on that block, always released.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..errors import LatentLensError
from ..models.ddim import DDIM, EDIT_MODES
from ..models.ddpm import timestep_embedding

H_LAYER_NAMES = ("unet.middle", "mid_block", "middle_block", "middle", "mid", "unet.mid_block")


class PerStepShift:
    """A shift of h per DDIM step: ``deltas`` ``(S, C, H, W)`` (or ``(S, N, C, H, W)``), step ``i`` adds
    ``deltas[i]``."""

    def __init__(self, deltas: torch.Tensor):
        self.deltas = deltas

    def at(self, i: int) -> torch.Tensor:
        if not 0 <= i < len(self.deltas):
            raise LatentLensError(f"the per-step shift holds {len(self.deltas)} steps, step {i} was asked")
        return self.deltas[i]


class ImplicitDelta(nn.Module):
    """Asyrp's ``f_t(h, t)`` (the official DeltaBlock): the shift is a small function of h and the timestep."""

    def __init__(self, channels: int, groups: int = 8, emb_dim: int = 64):
        super().__init__()
        self.emb_dim = emb_dim
        self.conv_in = nn.Conv2d(channels, channels, 1)
        self.emb = nn.Linear(emb_dim, channels)
        self.norm = nn.GroupNorm(groups if channels % groups == 0 else 1, channels)
        self.conv_out = nn.Conv2d(channels, channels, 1)

    def forward(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.emb(torch.nn.functional.silu(timestep_embedding(t, self.emb_dim).to(h.dtype)))
        return self.conv_out(torch.nn.functional.silu(self.norm(self.conv_in(h) + emb[:, :, None, None])))


class _StopForward(Exception):
    pass


def _unwrap(out):
    if hasattr(out, "sample") and torch.is_tensor(out.sample):
        return out.sample
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


def _rewrap(out, h):
    """``out`` (a tensor, a tuple/list led by h, or an object with ``.sample``) with its h replaced."""
    if hasattr(out, "sample") and torch.is_tensor(out.sample):
        out.sample = h
        return out
    if isinstance(out, (tuple, list)):
        return type(out)([h, *out[1:]])
    return h


class Diffusion:
    """A diffusion model as the h-space tools use it.

    Parameters
    ----------
    model: latentlens' DDPM, or any ``nn.Module`` with ``model(x_t, t) -> eps`` (model-space images in
        [-1, 1], integer timesteps ``(N,)``).
    layer: dotted name of the middle block (default: ``model.h_layer``, else the first of
        ``unet.middle, mid_block, middle_block, middle, mid``).
    alphas_cumprod, betas: the training schedule (default: ``model.alphas_cumprod``).
    image_shape: ``(C, H, W)`` (default: ``model.image_shape``, or ``in_channels`` and ``sample_size`` /
        ``image_size`` of ``model.config``).
    forward: ``(model, x_t, t) -> eps`` when the module is not called as ``model(x_t, t)``.
    """

    def __init__(self, model: nn.Module, *, layer: str | None = None, alphas_cumprod=None, betas=None,
                 image_shape: tuple | None = None, forward: Callable | None = None):  # fmt: skip
        if not isinstance(model, nn.Module):
            raise LatentLensError(f"expected a diffusion model (nn.Module), got {type(model).__name__}")
        self.model = model.eval()
        self._forward = forward
        if alphas_cumprod is None and betas is not None:
            alphas_cumprod = torch.cumprod(1 - torch.as_tensor(betas, dtype=torch.float64), 0)
        if alphas_cumprod is None:
            alphas_cumprod = getattr(model, "alphas_cumprod", None)
        if alphas_cumprod is None:
            raise LatentLensError("pass alphas_cumprod= or betas= (the noise schedule the model was trained with)")
        self.alphas_cumprod = torch.as_tensor(alphas_cumprod, dtype=torch.float64).detach().cpu()
        if self.alphas_cumprod.dim() != 1 or not bool(((self.alphas_cumprod > 0) & (self.alphas_cumprod < 1)).all()):
            raise LatentLensError("alphas_cumprod must be a 1-D schedule with values in (0, 1)")
        self.layer = layer or getattr(model, "h_layer", None) or self._find_layer()
        try:
            self.h_module = model.get_submodule(self.layer)
        except AttributeError:
            raise LatentLensError(f"no layer {self.layer!r} in {type(model).__name__} (pass layer=, the middle block)") from None
        self.image_shape = tuple(image_shape or getattr(model, "image_shape", None) or self._config_shape())
        probe = torch.zeros(1, *self.image_shape, device=self.device, dtype=self.dtype)
        self.h_shape = tuple(self.h(probe, self.num_timesteps - 1).shape[1:])

    @property
    def num_timesteps(self) -> int:
        return len(self.alphas_cumprod)

    @property
    def device(self) -> torch.device:
        p = next(iter(self.model.parameters()), None)
        return p.device if p is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        p = next(iter(self.model.parameters()), None)
        return p.dtype if p is not None else torch.float32

    def _find_layer(self) -> str:
        names = {name for name, _ in self.model.named_modules()}
        for name in H_LAYER_NAMES:
            if name in names:
                return name
        raise LatentLensError(f"cannot find the middle block of {type(self.model).__name__}: pass layer=")

    def _config_shape(self) -> tuple:
        cfg = getattr(self.model, "config", None)
        get = (lambda k: cfg.get(k)) if isinstance(cfg, dict) else (lambda k: getattr(cfg, k, None))
        channels, size = get("in_channels"), get("sample_size") or get("image_size")
        if not channels or not size:
            raise LatentLensError("cannot infer the image shape: pass image_shape=(C, H, W)")
        return (int(channels), int(size), int(size))

    def _t(self, t, x: torch.Tensor) -> torch.Tensor:
        if torch.is_tensor(t) and t.dim() == 1:
            return t.to(x.device)
        return torch.full((len(x),), int(t), device=x.device, dtype=torch.long)

    def eps(self, x: torch.Tensor, t) -> torch.Tensor:
        """The model's noise prediction for model-space ``x`` at timestep(s) ``t``."""
        t = self._t(t, x)
        out = self._forward(self.model, x, t) if self._forward is not None else self.model(x, t)
        return _unwrap(out)

    def h(self, x: torch.Tensor, t) -> torch.Tensor:
        """h_t: the middle block's output (the rest of the network is skipped)."""
        captured: list[torch.Tensor] = []

        def hook(_m, _i, output):
            captured.append(_unwrap(output))
            raise _StopForward

        handle = self.h_module.register_forward_hook(hook)
        try:
            self.eps(x, t)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if not captured:
            raise LatentLensError(f"layer {self.layer!r} did not run in the model's forward pass")
        return captured[0]

    @contextmanager
    def shifted(self, delta) -> Iterator[None]:
        """Inside the block, the middle block's output h becomes ``h + delta(h)`` (``delta`` a tensor
        broadcastable to h, or a function of h)."""

        def hook(_m, _i, output):
            h = _unwrap(output)
            d = delta(h) if callable(delta) else delta
            return _rewrap(output, h + d.to(h.device, h.dtype))

        handle = self.h_module.register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    def edited_eps(self, edit, sampler: DDIM, strength: float = 1.0) -> Callable:
        """``(x_t, t) -> eps~``: the model with h shifted by ``edit`` (global tensor, :class:`PerStepShift` or
        an ``f(h, t)`` module) scaled by ``strength``."""
        step_of = {int(t): i for i, t in enumerate(sampler.timesteps)}

        def eps_tilde(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            if isinstance(edit, PerStepShift):
                delta = strength * edit.at(step_of[int(t[0])])
            elif isinstance(edit, nn.Module) or (callable(edit) and not torch.is_tensor(edit)):
                delta = lambda h: strength * edit(h, t)
            else:
                delta = strength * edit
            with self.shifted(delta):
                return self.eps(x, t)

        return eps_tilde

    def sampler(self, steps: int = 20, eta: float = 0.0) -> DDIM:
        return DDIM(self.eps, self.alphas_cumprod, steps=steps, eta=eta)


def as_diffusion(model, **kwargs) -> Diffusion:
    """``model`` as a :class:`Diffusion` (returned unchanged when it already is one)."""
    if isinstance(model, Diffusion):
        if kwargs:
            raise LatentLensError("the model is already adapted; pass options when adapting the module")
        return model
    return Diffusion(model, **kwargs)


def edit_images(model, x_T: torch.Tensor, edit=None, *, steps: int = 20, mode: str = "asyrp", t_edit: float = 0.0,
                boost_steps: int = 0, eta: float = 0.0, strength: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """Images in [0, 1] from noise ``x_T`` with an h-space ``edit`` on the interval [T, t_edit * T], plain DDIM
    after it and eta = 1 on the last ``boost_steps`` steps (Asyrp's three phases); ``edit=None`` is the
    unedited sample."""
    if mode not in EDIT_MODES:
        raise LatentLensError(f"mode must be one of {', '.join(EDIT_MODES)}, got {mode!r}")
    diffusion = as_diffusion(model)
    sampler = diffusion.sampler(steps, eta)
    edited = None if edit is None else diffusion.edited_eps(edit, sampler, strength)
    with torch.no_grad():
        x0 = sampler.sample(x_T.to(diffusion.device, diffusion.dtype), edited=edited, mode=mode, edit_steps=sampler.edit_steps(t_edit),
                            boost_steps=boost_steps, generator=generator)  # fmt: skip
    return ((x0.float() + 1) / 2).clamp(0, 1)


def invert_images(model, images: torch.Tensor, steps: int = 20) -> torch.Tensor:
    """x_T of ``images`` (in [0, 1]) by DDIM inversion, so that real images can be edited."""
    diffusion = as_diffusion(model)
    with torch.no_grad():
        return diffusion.sampler(steps).invert(images.to(diffusion.device, diffusion.dtype) * 2 - 1)
