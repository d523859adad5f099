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


class _StopForward(Exception):
    """Raised by a feature hook once the wanted layer has run, so the rest of the network is skipped."""


class ModuleGenerator:
    """Adapter for any ``nn.Module`` (or module + decode function) that maps ``(N, D)`` latents to images.

    Parameters
    ----------
    module:
        The network. Its parameters are read (hash, first layer) and hooked (features), never changed.
    latent_dim:
        Size of the latent; inferred from ``module.latent_dim`` or from the first ``nn.Linear`` if omitted.
    forward:
        Function ``z -> images``; defaults to ``module(z)``.
    first_layer:
        Dotted name of the first affine layer reading ``z`` (``nn.Linear``, or a transposed convolution on a
        ``1x1`` latent); defaults to the first ``nn.Linear`` with ``in_features == latent_dim``.
    output_range:
        ``"unit"`` if ``forward`` already returns [0, 1]; ``"tanh"`` maps [-1, 1] to [0, 1];
        ``"logits"`` applies a sigmoid.
    latent_space:
        Name of the space directions live in (stored in every :class:`~latentlens.directions.base.Directions`).
    """

    kind = "module"

    def __init__(
        self,
        module: nn.Module,
        latent_dim: int | None = None,
        forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
        first_layer: str | None = None,
        output_range: str = "unit",
        latent_space: str = "z",
    ):
        if not isinstance(module, nn.Module):
            raise LatentLensError(f"expected an nn.Module, got {type(module).__name__}")
        if output_range not in ("unit", "tanh", "logits"):
            raise LatentLensError(f"output_range must be 'unit', 'tanh' or 'logits', got {output_range!r}")
        self.module = module.eval()
        self._forward = forward or module
        self.output_range = output_range
        self.latent_space = latent_space
        dim = latent_dim if latent_dim is not None else getattr(module, "latent_dim", None)
        if dim is None:
            first = next((m for m in module.modules() if isinstance(m, nn.Linear)), None)
            if first is None:
                raise LatentLensError("cannot infer latent_dim: pass latent_dim= for a module without nn.Linear")
            dim = first.in_features
        self.latent_dim = int(dim)
        self.first_layer = first_layer if first_layer is not None else self._find_first_layer()

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
        out = self._forward(z)
        if self.output_range == "tanh":
            out = (out + 1) * 0.5
        elif self.output_range == "logits":
            out = torch.sigmoid(out)
        return out

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
        """Output of the named layer for latents ``z``; the forward pass stops right after that layer."""
        target = self._layer(layer)
        captured: list[torch.Tensor] = []

        def hook(_module, _inputs, output):
            captured.append(output)
            raise _StopForward

        handle = target.register_forward_hook(hook)
        try:
            self._forward(z)
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
        return [name for name, _ in self.module.named_modules() if name]

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
            return self.module.get_submodule(name)
        except AttributeError:
            known = ", ".join(self.layer_names()[:12])
            raise LatentLensError(f"no layer {name!r} in the generator (layers: {known}, ...)") from None

    def _find_first_layer(self) -> str | None:
        for name, m in self.module.named_modules():
            if isinstance(m, nn.Linear) and m.in_features == self.latent_dim:
                return name
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(latent_dim={self.latent_dim}, module={type(self.module).__name__})"


class GANGenerator(ModuleGenerator):
    """latentlens' DCGAN (or its ``Generator``): ``z ~ N(0, I)``, first layer ``first``."""

    kind = "gan"

    def __init__(self, model: nn.Module):
        gen = getattr(model, "generator", model)
        super().__init__(gen, latent_dim=gen.latent_dim, first_layer="first" if hasattr(gen, "first") else None)

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.module.sample_latents(n, generator)


class VAEDecoderGenerator(ModuleGenerator):
    """The decoder of a VAE as a generator: ``decode(z)`` with the prior N(0, I).

    The wrapped module is the whole VAE (so its hash identifies the checkpoint); only ``decode`` and the
    decoder layers run. The first affine layer is ``decoder_fc.0`` for :class:`~latentlens.models.vae.ConvVAE`.
    """

    kind = "vae"

    def __init__(self, model: nn.Module, first_layer: str | None = None, latent_bank: torch.Tensor | None = None):
        if not hasattr(model, "decode"):
            raise LatentLensError("a VAE adapter needs a model with decode(z)")
        if first_layer is None and hasattr(model, "decoder_fc"):
            first_layer = "decoder_fc.0"
        super().__init__(model, latent_dim=model.latent_dim, forward=model.decode, first_layer=first_layer)
        if latent_bank is not None:
            latent_bank = torch.as_tensor(latent_bank, dtype=torch.float32)
            if latent_bank.ndim != 2 or latent_bank.shape[1] != self.latent_dim or len(latent_bank) < 1:
                raise LatentLensError(f"latent_bank must be (N, {self.latent_dim}), got {tuple(latent_bank.shape)}")
            self.latent_space = "z (aggregate posterior)"
        self.latent_bank = latent_bank

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Prior samples, or rows drawn (with replacement) from ``latent_bank`` when one was given.

        A VAE's prior and its aggregate posterior can differ a lot early in training (the decoder of ``z = 0``
        may be an empty image); encoder means of real images keep traversals and metrics on data-like codes.
        """
        if self.latent_bank is None:
            return super().sample_latents(n, generator)
        return self.latent_bank[torch.randint(0, len(self.latent_bank), (n,), generator=generator)]

    @classmethod
    def with_posterior(cls, model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> "VAEDecoderGenerator":
        """Adapter whose latents are the encoder means of ``images`` (``(N, C, H, W)`` in [0, 1])."""
        model.eval()
        with torch.inference_mode():
            mus = [model.encode(images[s : s + batch_size].float())[0] for s in range(0, len(images), batch_size)]
        return cls(model, latent_bank=torch.cat(mus).clone())


def as_generator(model, **kwargs) -> ModuleGenerator:
    """Wrap ``model`` in the matching adapter; generator-protocol objects are returned unchanged.

    - objects that already follow the protocol (have ``latent_dim``, ``sample_latents`` and are not a bare
      ``nn.Module``) pass through;
    - a model with ``encode`` and ``decode`` is a VAE -> :class:`VAEDecoderGenerator`;
    - a model with ``.generator`` or ``first_layer_weight`` -> :class:`GANGenerator`;
    - any other ``nn.Module`` -> :class:`ModuleGenerator` (``kwargs`` go to it).
    """
    if isinstance(model, ModuleGenerator):
        return model
    if not isinstance(model, nn.Module):
        if all(hasattr(model, a) for a in ("latent_dim", "sample_latents")) and callable(model):
            return model
        raise LatentLensError(f"cannot use a {type(model).__name__} as a generator")
    if hasattr(model, "encode") and hasattr(model, "decode"):
        return VAEDecoderGenerator(model, **kwargs)
    if not kwargs and hasattr(model, "latent_dim") and (
        hasattr(model, "generator") or hasattr(model, "first_layer_weight")
    ):
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
