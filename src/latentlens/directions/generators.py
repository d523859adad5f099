"""The generator protocol that every direction finder reads, and adapters onto it.

A *generator* maps latent codes to images (DESIGN.md, "Interfaces"):

- ``latent_dim``: size of the latent vector ``z``;
- ``sample_latents(n, generator)``: ``n`` codes from the latent prior (a ``torch.Generator`` seeds it);
- ``__call__(z)``: images in [0, 1], ``(N, C, H, W)``;
- ``first_layer_weight()`` (optional): the matrix ``A`` of the first affine map ``z -> A z + b``,
  shaped ``(out, latent_dim)`` — what SeFa factorises;
- ``features(z, layer)`` (optional): the activations of a named layer — what GANSpace runs PCA on.

Three adapters cover latentlens' own models and everything else:

- :class:`GANGenerator` wraps :class:`~latentlens.models.gan.DCGAN` (or its ``Generator``);
- :class:`VAEDecoderGenerator` wraps the decoder of a VAE (``decode(z)``, prior N(0, I) or, with
  ``latent_bank`` / :meth:`~VAEDecoderGenerator.with_posterior`, encoder means of real images; first layer
  ``decoder_fc.0``) — the setting of Schön et al. (2022), who ran Voynov & Babenko on VAE decoders;
- :class:`ModuleGenerator` wraps any ``nn.Module`` from latents to images (outputs in [-1, 1] are mapped
  to [0, 1] with ``output_range="tanh"``).

:func:`as_generator` picks the adapter. Adapters put the wrapped module in eval mode (BatchNorm uses its
running statistics, so an image does not depend on the rest of its batch) and never change its weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch
from torch import nn

from ..errors import LatentLensError
from .output_range import OUTPUT_RANGES, infer_output_range, map_output_range

LATENT_SIZE_ATTRS = ("latent_dim", "nz", "z_dim", "dim_z", "latent_size", "zdim")


class _StopForward(Exception):
    """Raised by a feature hook once the wanted layer has run, so the rest of the network is skipped."""


class ModuleGenerator:
    """Adapter for any ``nn.Module`` (or module + decode function) that maps latents to images.

    Parameters
    ----------
    module:
        The network. Its parameters are read (hash, first layer) and hooked (features), never changed.
    latent_dim:
        Size of the latent; inferred from ``module.latent_dim`` (or ``nz``, ``z_dim``, ...) or from the first
        layer of the module (``nn.Linear`` in_features, or the in_channels of a (transposed) convolution
        reading a ``1x1`` latent) if omitted.
    forward:
        Function ``z -> images``; defaults to ``module(z)``.
    first_layer:
        Dotted name of the first affine layer reading ``z`` (``nn.Linear``, or a transposed convolution on a
        ``1x1`` latent); defaults to the first such layer whose input size is ``latent_dim``.
    output_range:
        ``"auto"`` (default) reads it off a few samples (outputs in [0, 1]: ``"unit"``; in [-1, 1]:
        ``"tanh"``; anything else: an error asking for it); ``"unit"`` if ``forward`` already returns [0, 1];
        ``"tanh"`` maps [-1, 1] to [0, 1]; ``"logits"`` applies a sigmoid.
    latent_shape:
        Shape of one latent as the module expects it: ``(D,)`` or ``(D, 1, 1)`` (DCGAN-style). Default: ``(D, 1,
        1)`` when the first layer is a convolution, else ``(D,)``. Latents are always ``(N, D)`` outside.
    condition:
        For conditional generators: a class index (int) or one condition vector (1-D: a class embedding or
        one-hot), the same for every image, passed as the second argument, ``module(z, condition)``.
    latent_space:
        Name of the space directions live in (stored in every :class:`~latentlens.directions.base.Directions`).
    layers:
        The module whose dotted layer names ``first_layer`` and ``features(z, layer)`` use (default ``module``).
    """

    kind = "module"

    def __init__(
        self,
        module: nn.Module,
        latent_dim: int | None = None,
        forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
        first_layer: str | None = None,
        output_range: str = "auto",
        latent_space: str = "z",
        latent_shape: tuple | None = None,
        condition=None,
        layers: nn.Module | None = None,
    ):
        if not isinstance(module, nn.Module):
            raise LatentLensError(f"expected an nn.Module, got {type(module).__name__}")
        if output_range not in ("auto",) + OUTPUT_RANGES:
            raise LatentLensError(f"output_range must be 'auto', 'unit', 'tanh' or 'logits', got {output_range!r}")
        self.module = module.eval()
        self.layers = layers if layers is not None else module
        self._forward = forward or module
        self.latent_space = latent_space
        self.condition = condition
        dim = latent_dim
        if dim is None:
            dim = next((getattr(module, a) for a in LATENT_SIZE_ATTRS if isinstance(getattr(module, a, None), int)), None)
        first_name, first = self._first_module()
        if dim is None:
            if first is None:
                raise LatentLensError("cannot infer latent_dim: pass latent_dim= (the size of z)")
            dim = first.in_features if isinstance(first, nn.Linear) else first.in_channels
        self.latent_dim = int(dim)
        if latent_shape is None:
            conv_first = isinstance(first, (nn.ConvTranspose2d, nn.Conv2d)) and _in_size(first) == self.latent_dim
            latent_shape = (self.latent_dim, 1, 1) if conv_first else (self.latent_dim,)
        self.latent_shape = tuple(int(v) for v in latent_shape)
        if int(torch.tensor(self.latent_shape).prod()) != self.latent_dim:
            raise LatentLensError(f"latent_shape {self.latent_shape} does not hold latent_dim={self.latent_dim} values")
        self.first_layer = first_layer if first_layer is not None else self._find_first_layer()
        self.output_range = "unit"
        if output_range == "auto":
            output_range = infer_output_range(self._raw, self.latent_dim, f"{type(module).__name__}")
        self.output_range = output_range

    # -- protocol ---------------------------------------------------------------------------------------
    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes from the module's own prior when it defines ``sample_latents(n, generator)``, else from
        the standard normal; on CPU in float32."""
        own = getattr(self.module, "sample_latents", None)
        if callable(own):
            z = torch.as_tensor(own(n, generator)).float().cpu()
            if z.shape != (n, self.latent_dim):
                raise LatentLensError(f"{type(self.module).__name__}.sample_latents({n}) returned shape "
                                      f"{tuple(z.shape)}, expected ({n}, {self.latent_dim})")  # fmt: skip
            return z
        return torch.randn(n, self.latent_dim, generator=generator)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise LatentLensError(f"latents must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        out = self._raw(z)
        if not torch.is_tensor(out) or out.dim() != 4:
            got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            raise LatentLensError(f"the generator must return images (N, C, H, W), got {got}")
        return map_output_range(out, self.output_range)

    def _raw(self, z: torch.Tensor):
        """The module's own output for ``(N, D)`` latents (reshaped to ``latent_shape``, condition added)."""
        z = z.reshape(len(z), *self.latent_shape) if len(self.latent_shape) > 1 else z
        device = self.device
        if device is not None and z.device != device:
            z = z.to(device)
        if self.condition is None:
            return self._forward(z)
        return self._forward(z, self._condition_batch(len(z), z.device))

    def _condition_batch(self, n: int, device) -> torch.Tensor:
        """The condition for ``n`` images: an int (a class index), or one vector (a class embedding or
        one-hot), the same for every image."""
        c = self.condition
        if isinstance(c, int):
            return torch.full((n,), c, dtype=torch.long, device=device)
        c = torch.as_tensor(c).to(device)
        if c.dim() == 0:
            return c.expand(n)
        if c.dim() != 1:
            raise LatentLensError("condition must be a class index or one condition vector (1-D) for all images")
        return c.unsqueeze(0).expand(n, *c.shape)

    @property
    def device(self) -> torch.device | None:
        """The device of the module's first parameter (None for a module without parameters)."""
        try:
            return next(iter(self.module.parameters())).device
        except StopIteration:
            return None

    def first_layer_weight(self) -> torch.Tensor:
        """Weight of the first affine map as ``(out, latent_dim)`` (a detached copy-free view)."""
        if self.first_layer is None:
            raise LatentLensError("this generator has no first affine layer reading the latent (pass first_layer=)")
        layer = self._layer(self.first_layer)
        w = getattr(layer, "weight", None)
        if w is None:
            raise LatentLensError(f"layer {self.first_layer!r} has no weight")
        w = w.detach()
        if isinstance(layer, nn.Linear):
            return w
        if isinstance(layer, nn.ConvTranspose2d) and w.shape[0] == self.latent_dim:
            return w.permute(1, 2, 3, 0).reshape(-1, self.latent_dim)  # (in=D, out, kh, kw) -> (out*kh*kw, D)
        if isinstance(layer, nn.Conv2d) and w.shape[1] == self.latent_dim:
            return w.reshape(w.shape[0], self.latent_dim, -1).permute(0, 2, 1).reshape(-1, self.latent_dim)
        raise LatentLensError(f"layer {self.first_layer!r} ({type(layer).__name__}) is not an affine map of z")

    def features(self, z: torch.Tensor, layer: str) -> torch.Tensor:
        """Output of the named layer for latents ``z``; the forward pass stops right after that layer.
        Call it under ``torch.inference_mode()`` or ``torch.no_grad()`` unless you need gradients."""
        target = self._layer(layer)
        captured: list[torch.Tensor] = []

        def hook(_module, _inputs, output):
            captured.append(output)
            raise _StopForward

        handle = target.register_forward_hook(hook)
        try:
            self._raw(z)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if not captured:
            raise LatentLensError(f"layer {layer!r} did not run in the generator's forward pass")
        return captured[0]

    # -- helpers ----------------------------------------------------------------------------------------
    def parameters(self):
        return self.module.parameters()

    def layer_names(self) -> list[str]:
        return [name for name, _ in self.layers.named_modules() if name]

    def model_hash(self) -> str:
        """Short SHA-256 over the module's state dict (names, shapes, values): identifies the model."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.module.state_dict().items()):
            t = tensor.detach().to("cpu").contiguous()
            digest.update(name.encode())
            digest.update(str(tuple(t.shape)).encode())
            digest.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        return digest.hexdigest()[:16]

    def to_channels_last(self) -> None:
        """Switch the wrapped module to channels_last (faster convolutions on CPU); values are unchanged."""
        self.module.to(memory_format=torch.channels_last)

    def _layer(self, name: str) -> nn.Module:
        try:
            return self.layers.get_submodule(name)
        except AttributeError:
            known = ", ".join(self.layer_names()[:12])
            raise LatentLensError(f"no layer {name!r} in the generator (layers: {known}, ...)") from None

    def _first_module(self) -> tuple[str | None, nn.Module | None]:
        """The first Linear / (transposed) convolution of ``layers`` in registration order."""
        for name, m in self.layers.named_modules():
            if isinstance(m, (nn.Linear, nn.ConvTranspose2d, nn.Conv2d)):
                return name, m
        return None, None

    def _find_first_layer(self) -> str | None:
        """The first layer reading ``z``: a Linear with ``in_features == latent_dim``, or a (transposed)
        convolution with ``in_channels == latent_dim`` on a ``1x1`` latent."""
        for name, m in self.layers.named_modules():
            if isinstance(m, nn.Linear) and m.in_features == self.latent_dim:
                return name
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)) and m.in_channels == self.latent_dim:
                return name if len(self.latent_shape) == 3 else None
            if isinstance(m, (nn.Linear, nn.ConvTranspose2d, nn.Conv2d)):
                return None  # the first weight layer does not read z directly
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(latent_dim={self.latent_dim}, module={type(self.module).__name__})"


def _in_size(layer) -> int | None:
    if isinstance(layer, nn.Linear):
        return layer.in_features
    if isinstance(layer, (nn.ConvTranspose2d, nn.Conv2d)):
        return layer.in_channels
    return None


class GANGenerator(ModuleGenerator):
    """latentlens' DCGAN (or its ``Generator``): ``z ~ N(0, I)``, first layer ``first``."""

    kind = "gan"

    def __init__(self, model: nn.Module):
        gen = getattr(model, "generator", model)
        super().__init__(gen, latent_dim=gen.latent_dim, first_layer="first" if hasattr(gen, "first") else None,
                         output_range="unit")  # fmt: skip

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.module.sample_latents(n, generator)


class VAEDecoderGenerator(ModuleGenerator):
    """The decoder of a VAE as a generator: ``decode(z)`` with the prior N(0, I).

    ``model`` is latentlens' :class:`~latentlens.models.vae.ConvVAE` or any VAE :func:`latentlens.as_vae`
    accepts (``adapter_kwargs`` go to it: ``latent_dim=``, ``output_range=``, ``encode=``/``decode=``). The hash
    covers the whole VAE; only ``decode`` runs. The first affine layer is the decoder's first ``Linear`` (or
    transposed convolution on a ``1x1`` latent): ``decoder_fc.0`` for ConvVAE.
    """

    kind = "vae"

    def __init__(self, model: nn.Module, first_layer: str | None = None, latent_bank: torch.Tensor | None = None,
                 **adapter_kwargs):  # fmt: skip
        from ..adapters import as_vae

        vae = as_vae(model, **adapter_kwargs)
        user = getattr(vae, "layer_root", vae)
        if first_layer is None and hasattr(user, "decoder_fc"):
            first_layer = "decoder_fc.0"
        decoder = getattr(user, "decoder", None)
        if first_layer is None and isinstance(decoder, nn.Module):
            for name, m in decoder.named_modules():
                if isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
                    if _in_size(m) == vae.latent_dim:
                        first_layer = f"decoder.{name}" if name else "decoder"
                    break
        super().__init__(vae, latent_dim=vae.latent_dim, forward=vae.decode, first_layer=first_layer or "",
                         output_range="unit", layers=user)  # fmt: skip
        self.first_layer = first_layer
        self.vae = vae
        if latent_bank is not None:
            latent_bank = torch.as_tensor(latent_bank, dtype=torch.float32)
            if latent_bank.ndim != 2 or latent_bank.shape[1] != self.latent_dim or len(latent_bank) < 1:
                raise LatentLensError(f"latent_bank must be (N, {self.latent_dim}), got {tuple(latent_bank.shape)}")
            self.latent_space = "z (aggregate posterior)"
        self.latent_bank = latent_bank

    def _raw(self, z: torch.Tensor):
        device = self.device
        return self._forward(z.to(device) if device is not None else z)

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Prior samples, or rows drawn (with replacement) from ``latent_bank`` when one was given.

        A VAE's prior and its aggregate posterior can differ a lot early in training (the decoder of ``z = 0``
        may be an empty image); encoder means of real images keep traversals and metrics on data-like codes.
        """
        if self.latent_bank is None:
            return torch.randn(n, self.latent_dim, generator=generator)
        return self.latent_bank[torch.randint(0, len(self.latent_bank), (n,), generator=generator)]

    @classmethod
    def with_posterior(cls, model: nn.Module, images: torch.Tensor, batch_size: int = 512,
                       **adapter_kwargs) -> "VAEDecoderGenerator":  # fmt: skip
        """Adapter whose latents are the encoder means of ``images`` (``(N, C, H, W)`` in [0, 1])."""
        from ..adapters import as_vae

        first_layer = adapter_kwargs.pop("first_layer", None)
        vae_kwargs = {k: v for k, v in adapter_kwargs.items() if k in ("latent_dim", "output_range", "encode", "decode")}
        vae = as_vae(model, **vae_kwargs).eval()
        device = next(iter(vae.parameters()), torch.zeros(())).device
        with torch.inference_mode():
            mus = [vae.encode(images[s : s + batch_size].float().to(device))[0].cpu()
                   for s in range(0, len(images), batch_size)]  # fmt: skip
        return cls(vae, first_layer=first_layer, latent_bank=torch.cat(mus).clone())


def looks_like_vae(model) -> bool:
    """A module with ``decode``, or with ``encoder`` and ``decoder`` sub-modules."""
    if callable(getattr(model, "decode", None)) and callable(getattr(model, "encode", None)):
        return True
    return isinstance(getattr(model, "decoder", None), nn.Module) and (
        isinstance(getattr(model, "encoder", None), nn.Module) or callable(getattr(model, "encode", None))
    )


def as_generator(model, **kwargs) -> ModuleGenerator:
    """Wrap ``model`` in the matching adapter; generator-protocol objects are returned unchanged.

    - objects that already follow the protocol (have ``latent_dim``, ``sample_latents`` and are not a bare
      ``nn.Module``) pass through;
    - a VAE (``encode`` + ``decode`` methods, or ``encoder`` + ``decoder`` sub-modules) ->
      :class:`VAEDecoderGenerator` (its decoder; ``kwargs``: ``latent_dim``, ``output_range``, ``first_layer``,
      ``latent_bank``);
    - latentlens' GAN (:class:`~latentlens.models.gan.DCGAN` or its generator) -> :class:`GANGenerator`;
    - any other ``nn.Module`` -> :class:`ModuleGenerator` (``kwargs`` go to it: ``latent_dim``,
      ``output_range``, ``first_layer``, ``latent_shape``, ``condition``, ``forward``).
    """
    if isinstance(model, ModuleGenerator):
        if kwargs:
            raise LatentLensError(f"{type(model).__name__} is already adapted; pass options when adapting the module")
        return model
    if not isinstance(model, nn.Module):
        if all(hasattr(model, a) for a in ("latent_dim", "sample_latents")) and callable(model):
            return model
        raise LatentLensError(f"cannot use a {type(model).__name__} as a generator")
    if looks_like_vae(model):
        return VAEDecoderGenerator(model, **kwargs)
    from ..models.gan import DCGAN, Generator

    if not kwargs and isinstance(model, (DCGAN, Generator)):
        return GANGenerator(model)
    return ModuleGenerator(model, **kwargs)


def model_hash(generator) -> str:
    """The adapter's model hash, or ``"unknown"`` for protocol objects that do not define one."""
    fn = getattr(generator, "model_hash", None)
    return fn() if callable(fn) else "unknown"


def frozen(generator):
    """Context manager: the generator's parameters stop requiring gradients, and are restored afterwards.

    Gradients still flow through the generator to its *input* (what the Voynov deformator needs), but no
    weight gradient is computed or stored.
    """
    return _Frozen(list(generator.parameters()) if hasattr(generator, "parameters") else [])


class _Frozen:
    def __init__(self, params):
        self.params = params
        self.flags: list[bool] = []

    def __enter__(self):
        self.flags = [p.requires_grad for p in self.params]
        for p in self.params:
            p.requires_grad_(False)
        return self

    def __exit__(self, *exc):
        for p, flag in zip(self.params, self.flags):
            p.requires_grad_(flag)
        return False
