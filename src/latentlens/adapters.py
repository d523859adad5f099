"""Adapters that let any user model speak latentlens' protocols, inferring what they can and asking (with a
one-line error naming the argument to pass) for what they cannot.

- :func:`as_vae` -> :class:`VAEAdapter`: ``encode(x) -> (mu, logvar)``, ``decode(z) -> images in [0, 1]``,
  ``latent_dim``. Accepts a module with ``encode``/``decode`` methods, a module whose ``forward`` returns
  ``(recon, mu, logvar)``, a module with ``encoder``/``decoder`` attributes, or plain functions.
- :func:`as_classifier` -> :class:`ClassifierAdapter`: images -> logits ``(N, n_classes)``, with class names.
- :func:`latentlens.directions.as_generator` (re-exported here) for generators.

The wrapped module is never changed: its weights are only read, and its train/eval mode is set to eval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .directions.generators import as_generator
from .directions.output_range import infer_output_range, map_output_range
from .errors import LatentLensError

log = logging.getLogger(__name__)

OUTPUT_RANGES = ("auto", "unit", "tanh", "logits")


def _first_latent_layer(module: nn.Module | None) -> nn.Module | None:
    """The first ``Linear`` or transposed/plain convolution of ``module`` in registration order, if nothing
    that reshapes the latent (``Unflatten``, ``Flatten``) comes before it."""
    if module is None:
        return None
    for m in module.modules():
        if isinstance(m, (nn.Unflatten, nn.Flatten)):
            return None  # the layer after a reshape does not read the latent's size
        if isinstance(m, (nn.Linear, nn.ConvTranspose2d, nn.Conv2d)):
            return m
    return None


def _in_size(layer: nn.Module | None) -> int | None:
    if isinstance(layer, nn.Linear):
        return layer.in_features
    if isinstance(layer, (nn.ConvTranspose2d, nn.Conv2d)):
        return layer.in_channels
    return None


def _as_moments(out, latent_dim: int | None, where: str):
    """``(mu, logvar)`` from what an encoder returns: a pair/tuple, a Normal distribution, or one tensor
    holding ``[mu, logvar]`` side by side (when its width is ``2 * latent_dim``)."""
    if isinstance(out, torch.distributions.Distribution):
        loc, scale = getattr(out, "loc", None), getattr(out, "scale", None)
        if loc is None or scale is None:
            raise LatentLensError(f"{where} returned a {type(out).__name__}; latentlens needs loc and scale")
        return loc, 2 * torch.log(scale)
    if isinstance(out, (tuple, list)):
        if len(out) < 2 or not all(torch.is_tensor(t) for t in out[:2]):
            raise LatentLensError(f"{where} must return (mu, logvar); got a {type(out).__name__} of {len(out)}")
        return out[0], out[1]
    if torch.is_tensor(out):
        flat = out.flatten(1)
        if latent_dim is not None and flat.shape[1] == 2 * latent_dim:
            return flat[:, :latent_dim], flat[:, latent_dim:]
        if latent_dim is not None and flat.shape[1] == latent_dim:
            return flat, torch.zeros_like(flat)  # a deterministic encoder: logvar 0 is never used for means
        raise LatentLensError(
            f"{where} returned one tensor of width {flat.shape[1]}: pass latent_dim= so latentlens can tell "
            "whether it is mu alone (width = latent_dim) or [mu, logvar] (width = 2 * latent_dim)"
        )
    raise LatentLensError(f"{where} returned a {type(out).__name__}; expected (mu, logvar)")


class VAEAdapter(nn.Module):
    """The VAE protocol over a user model (see :func:`as_vae`). ``module`` is the user's module (layer
    names for attention maps are its own, e.g. ``"encoder.3"``)."""

    def __init__(
        self,
        module: nn.Module | None,
        encode_fn: Callable,
        decode_fn: Callable | None,
        latent_dim: int,
        output_range: str,
    ):
        super().__init__()
        self.module = module if module is not None else nn.Module()
        self._encode_fn, self._decode_fn = encode_fn, decode_fn
        self._latent_dim = int(latent_dim)
        self.output_range = output_range

    @property
    def latent_dim(self) -> int:
        return self._latent_dim

    @property
    def layer_root(self) -> nn.Module:
        return self.module

    def _on_device(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` on the device of the module's weights (images and latents made elsewhere follow the model)."""
        weight = next(iter(self.module.parameters()), None)
        return t if weight is None or t.device == weight.device else t.to(weight.device)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = _as_moments(self._encode_fn(self._on_device(x)), self._latent_dim, "encode")
        mu, logvar = mu.flatten(1), logvar.flatten(1)
        if mu.shape[1] != self._latent_dim:
            raise LatentLensError(f"encode returned codes of size {mu.shape[1]}, expected latent_dim={self._latent_dim}")
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self._decode_fn is None:
            raise LatentLensError("this VAE has no decoder: pass decode= (or a module with decode/decoder)")
        return map_output_range(self._decode_fn(self._on_device(z)), self.output_range)

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        return self.decode(mu), mu, logvar

    def __repr__(self) -> str:
        return f"VAEAdapter(latent_dim={self._latent_dim}, module={type(self.module).__name__}, output={self.output_range})"


def as_vae(
    model: nn.Module | None = None,
    *,
    encode: Callable | None = None,
    decode: Callable | None = None,
    latent_dim: int | None = None,
    output_range: str = "auto",
) -> nn.Module:
    """A VAE with ``encode(x) -> (mu, logvar)``, ``decode(z) -> [0, 1] images`` and ``latent_dim``.

    ``model`` may have ``encode``/``decode`` methods, return ``(recon, mu, logvar)`` from ``forward``, or hold
    ``encoder``/``decoder`` sub-modules; or pass ``encode=``/``decode=`` functions (with ``latent_dim=``).
    ``latent_dim`` is read from ``model.latent_dim`` or the decoder's first layer (never the encoder's);
    ``output_range`` (``unit``, ``tanh``, ``logits``) is detected from decoded prior samples when ``auto``.
    latentlens' own :class:`~latentlens.models.vae.ConvVAE` is returned unchanged.
    """
    from .models.vae import ConvVAE

    if isinstance(model, (ConvVAE, VAEAdapter)) and encode is None and decode is None:
        return model
    if output_range not in OUTPUT_RANGES:
        raise LatentLensError(f"output_range must be one of {', '.join(OUTPUT_RANGES)}, got {output_range!r}")
    if model is not None and not isinstance(model, nn.Module):
        raise LatentLensError(f"as_vae expects an nn.Module (or encode=/decode= functions), got {type(model).__name__}")
    enc, dec, decoder_module = encode, decode, None
    if model is not None:
        if enc is None and callable(getattr(model, "encode", None)):
            enc = model.encode
        if dec is None and callable(getattr(model, "decode", None)):
            dec = model.decode
        heads = ("fc_mu", "fc_logvar", "fc_var", "mu_head", "logvar_head", "fc_mean")
        if isinstance(getattr(model, "encoder", None), nn.Module) and enc is None and not any(
            hasattr(model, h) for h in heads
        ):  # an encoder that returns the moments itself; with separate mu/logvar heads it is only the trunk
            enc = model.encoder
        if isinstance(getattr(model, "decoder", None), nn.Module):
            decoder_module = model.decoder
            if dec is None:
                dec = model.decoder
        if enc is None:
            enc = _forward_moments(model)
    if enc is None:
        raise LatentLensError("as_vae needs a model with encode/encoder/forward -> (recon, mu, logvar), or encode=")
    dim = latent_dim if latent_dim is not None else getattr(model, "latent_dim", None)
    if dim is None:
        dim = _in_size(_first_latent_layer(decoder_module))
    if dim is None:
        raise LatentLensError("cannot infer the latent size: pass latent_dim= (the size of mu)")
    if not isinstance(dim, int) or dim < 1:
        raise LatentLensError(f"latent_dim must be a positive int, got {dim!r}")
    if model is not None:
        model.eval()  # BatchNorm statistics and dropout must not move while latentlens reads the model
    if output_range == "auto":
        device = next(iter(model.parameters()), torch.zeros(())).device if model is not None else None
        output_range = "unit" if dec is None else infer_output_range(dec, dim, "the decoder", device=device)
    return VAEAdapter(model, enc, dec, dim, output_range)


def _forward_moments(model: nn.Module):
    """An encode function from ``forward(x) -> (recon, mu, logvar)``."""

    def encode(x):
        out = model(x)
        if not (isinstance(out, (tuple, list)) and len(out) >= 3):
            raise LatentLensError(
                f"{type(model).__name__} has no encode/encoder and its forward does not return (recon, mu, logvar)"
            )
        return out[1], out[2]

    return encode


class ClassifierAdapter(nn.Module):
    """Images -> logits ``(N, n_classes)``; ``classes`` names each logit. ``class_axis`` picks the axis
    of the model's output that holds the classes (default 1); a single-logit binary classifier is expanded
    to two logits ``[0, l]`` so that softmax gives ``sigmoid(l)`` for class 1."""

    def __init__(self, module: nn.Module, classes: Sequence[str], class_axis: int = 1):
        super().__init__()
        self.module = module.eval()
        self.classes = list(classes)
        self.class_axis = class_axis

    @property
    def layer_root(self) -> nn.Module:
        return self.module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if out.dim() == 1:
            out = out[:, None]
        if self.class_axis != 1:
            out = out.movedim(self.class_axis, 1)
        out = out.flatten(1)
        if out.shape[1] == 1:
            out = torch.cat([torch.zeros_like(out), out], dim=1)
        if out.shape[1] != len(self.classes):
            raise LatentLensError(f"the classifier returned {out.shape[1]} logits for {len(self.classes)} classes")
        return out


def as_classifier(model: nn.Module, classes: Sequence[str] | int | None = None, class_axis: int = 1) -> ClassifierAdapter:
    """Wrap an image classifier returning logits; ``classes`` is a list of names or their number (default:
    ``model.classes`` when it has them). A single-logit output counts as two classes (binary)."""
    if isinstance(model, ClassifierAdapter):
        return model
    if not isinstance(model, nn.Module):
        raise LatentLensError(f"as_classifier expects an nn.Module, got {type(model).__name__}")
    if classes is None:
        classes = getattr(model, "classes", None)
    if classes is None:
        raise LatentLensError("pass classes= (the class names, or their number) for this classifier")
    if isinstance(classes, int):
        classes = [str(i) for i in range(max(classes, 2))]
    return ClassifierAdapter(model, classes, class_axis)





def load_user_model(spec: str, weights: str | None = None, device: str = "cpu") -> nn.Module:
    """Build a user's model from ``"package.module:factory"`` (a class or function called with no
    arguments; the current folder is on the import path) and load ``weights`` into it: a ``.safetensors``
    file, or a ``.pt``/``.pth`` state dict read with ``torch.load(weights_only=True)`` (nothing is unpickled;
    a checkpoint dict holding ``state_dict`` or ``model`` is unwrapped). Returns the model in eval mode."""
    import importlib
    import os
    import sys
    from pathlib import Path

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise LatentLensError(f"--model must look like package.module:factory, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LatentLensError(f"cannot import {module_name!r} for --model: {exc}") from None
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise LatentLensError(f"{module_name} has no {attr!r} (from --model {spec})")
    try:
        model = factory()
    except TypeError as exc:
        raise LatentLensError(f"{spec}() must build the model with no arguments: {exc}") from None
    if not isinstance(model, nn.Module):
        raise LatentLensError(f"{spec}() returned a {type(model).__name__}, not a torch nn.Module")
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise LatentLensError(f"--weights file not found: {path}")
        if path.suffix == ".safetensors":
            from .io import load_tensors

            state = load_tensors(path)
        else:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # torch raises several types for corrupt or pickled-object files
                raise LatentLensError(f"cannot read --weights {path} as a state dict (weights_only): {exc}") from None
            for key in ("state_dict", "model", "model_state_dict"):
                if isinstance(state, dict) and isinstance(state.get(key), dict):
                    state = state[key]
                    break
        if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
            raise LatentLensError(f"--weights {path} does not hold a state dict of tensors")
        state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from DataParallel/DDP
        from .io import load_state_into

        load_state_into(model, state, path)
    return model.to(resolve_device(device)).eval()


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``/``"cuda:N"``; a clear error when CUDA is
    asked for and absent."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise LatentLensError(f"unknown device {device!r} (use cpu, cuda, cuda:N or auto)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LatentLensError("--device cuda was asked for, but no CUDA device is available")
    if dev.type not in ("cpu", "cuda"):
        raise LatentLensError(f"device {device!r} is not supported (use cpu, cuda or auto)")
    return dev
__all__ = ["ClassifierAdapter", "VAEAdapter", "as_classifier", "as_generator", "as_vae", "load_user_model", "resolve_device"]
