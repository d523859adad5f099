"""Gradient attention maps of a VAE's latent code (Liu et al., "Towards Visually Explaining Variational
Autoencoders", CVPR 2020, Sec. 3.1, Eqs. 1-3).

For an encoder feature map ``A`` (n channels, h x w) and a latent target ``s`` (a latent dimension
``z_i`` or any projection ``<v, z>``):

* Eq. 1  ``alpha_k = (1 / hw) sum_pq  ds / dA_k[p, q]``          (spatial mean of the gradient)
* Eq. 2  ``M^s = ReLU(sum_k alpha_k A_k)``                        (one map per target)
* Eq. 3  ``M = mean_s M^s``                                       (overall map), upsampled bilinearly.

``z`` is the encoder mean ``mu`` by default (``latent="mean"``); ``latent="sample"`` differentiates the
reparameterised sample ``mu + eps * sigma`` (one ``eps`` per call, from ``generator``).

Variants, chosen by name:

``paper`` (default)
    Eqs. 1-3 exactly.
``signed``
    Eqs. 1-3 without the ReLU: signed maps, whose mean can cancel.
``official``
    What the authors' released code (liuem607/expVAE, ``gradcam.py``) computes: ONE backward pass of
    ``sum_batch sum_targets s``; the gradient tensor is divided by its root-mean-square over the whole
    batch (``+ 1e-5``); ``alpha`` is its spatial mean; the map ``sum_k alpha_k A_k`` is upsampled and then
    ``abs`` is taken. Because Grad-CAM is linear before its non-linearity this equals
    ``|sum_i pre-ReLU M^i| / rms``: opposite-signed dimensions cancel (Eq. 3 avoids that), and the RMS
    makes a map depend on the other images of the batch. Per-target maps of this variant apply the same
    recipe to each target separately.

All targets are computed in one vectorised backward pass (``torch.autograd.grad(...,
is_grads_batched=True)``), chunked over targets to bound memory, instead of the per-dimension loop of
public implementations. When the hooked layer is followed, inside an ``nn.Sequential``, by a ``Conv2d``
(``encoder.3`` -> ``encoder.4`` in :class:`~latentlens.models.vae.ConvVAE`) the pass stops at that
convolution's output ``B = W * A + b``: by linearity ``sum_pq (W^T g)_k[p, q] = <g, W * 1_k>``, so
``alpha`` is the inner product of ``ds/dB`` with the convolution of constant one-channel images, which
saves the largest transposed convolution. This assumes ``A`` reaches the latent code only through that
convolution (true for sequential encoders); pass ``shortcut=False`` otherwise.

Per-image min-max normalisation is off by default: it makes maps of different images incomparable,
which pooled pixel AUROC needs. Hooks are forward hooks held in a context manager and always removed; the
model is put in eval mode for the maps and its mode restored afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LatentLensError
from .layer_hooks import LayerCapture, eval_mode, linear_successor, minmax, resolve_layer, upsample

VARIANTS = ("paper", "official", "signed")
DEFAULT_LAYER = "encoder.3"
_RMS_EPS = 1e-5  # the released code's constant
_GRAD_BUDGET = 1 << 25  # floats of batched gradient held at once (128 MiB in float32)


@dataclass
class AttentionResult:
    """Maps for ``N`` images and ``T`` targets.

    ``maps`` (N, T, H, W) per-target maps at image resolution; ``overall`` (N, 1, H, W) the overall map
    (Eq. 3, or the official variant's single map); ``targets`` (T, D) the latent directions explained
    (one-hot rows for latent dimensions); ``labels`` one name per target.
    """

    maps: torch.Tensor
    overall: torch.Tensor
    targets: torch.Tensor
    labels: list[str]
    layer: str
    variant: str
    latent: str = "mean"
    feature_maps: torch.Tensor | None = field(default=None, repr=False)  # (N, T, h, w) before upsampling

    def numpy(self) -> dict:
        return {"maps": self.maps.detach().cpu().numpy(), "overall": self.overall.detach().cpu().numpy()}


# ------------------------------------------------------------------------------------------ pure maths


def target_basis(target, latent_dim: int, dtype=torch.float32, device=None) -> tuple[torch.Tensor, list[str]]:
    """Rows (T, D) of latent directions for ``target`` and a label per row.

    ``None``: every dimension; ``int`` or a list / integer tensor of indices: those dimensions; a float
    tensor (D,) or (K, D): arbitrary directions (the map of the projection ``<v, z>``).
    """
    if target is None:
        target = list(range(latent_dim))
    if isinstance(target, int):
        target = [target]
    if hasattr(target, "basis") and hasattr(target, "label"):  # a Directions artifact: explain each direction
        basis = torch.as_tensor(target.basis).to(dtype=dtype, device=device)
        if basis.dim() != 2 or basis.shape[1] != latent_dim:
            raise LatentLensError(f"these directions live in a {basis.shape[-1]}-d space; the latent has {latent_dim}")
        return basis, [target.label(k) for k in range(basis.shape[0])]
    if torch.is_tensor(target) and target.is_floating_point():
        basis = target.detach().to(dtype=dtype, device=device)
        if basis.dim() == 1:
            basis = basis[None]
        if basis.dim() != 2 or basis.shape[1] != latent_dim:
            raise LatentLensError(f"direction targets must have shape (K, {latent_dim}), got {tuple(target.shape)}")
        return basis, [f"dir{k}" for k in range(basis.shape[0])]
    indices = [int(i) for i in (target.tolist() if torch.is_tensor(target) else target)]
    if not indices:
        raise LatentLensError("empty target list")
    bad = [i for i in indices if not 0 <= i < latent_dim]
    if bad:
        raise LatentLensError(f"latent dimension(s) {bad} out of range 0..{latent_dim - 1}")
    basis = torch.zeros(len(indices), latent_dim, dtype=dtype, device=device)
    basis[torch.arange(len(indices)), torch.tensor(indices)] = 1.0
    return basis, [f"z{i}" for i in indices]


def constant_channel_response(conv: nn.Conv2d, channels: int, height: int, width: int) -> torch.Tensor:
    """``W * 1_k`` for every input channel k: (channels, out_channels, h', w'), bias excluded."""
    eye = torch.eye(channels, dtype=conv.weight.dtype, device=conv.weight.device)
    ones = eye[:, :, None, None].expand(channels, channels, height, width)
    return F.conv2d(ones, conv.weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)


def channel_weights(
    output: torch.Tensor,
    activation: torch.Tensor,
    grad_outputs: torch.Tensor,
    *,
    create_graph: bool = False,
    successor: tuple[torch.Tensor, nn.Conv2d] | None = None,
    retain_graph: bool = True,
) -> torch.Tensor:
    """Eq. 1 for several targets at once: ``alpha`` (T, N, C).

    ``output`` (N, D) is the latent code, ``grad_outputs`` (T, N, D) holds for every target t the
    vector whose inner product with ``output[n]`` is the explained scalar. ``successor`` = (B, conv)
    uses the linear-successor shortcut described in the module docstring.
    """
    height, width = activation.shape[-2:]
    if successor is not None:
        b_out, conv = successor
        (grad_b,) = torch.autograd.grad(
            output, b_out, grad_outputs, is_grads_batched=True, create_graph=create_graph, retain_graph=retain_graph
        )
        response = constant_channel_response(conv, activation.shape[1], height, width)
        t, n = grad_b.shape[:2]  # one matrix product: einsum would copy grad_b into another layout first
        alpha = grad_b.reshape(t * n, -1) @ response.reshape(response.shape[0], -1).T
        return alpha.view(t, n, -1) / (height * width)
    (grad_a,) = torch.autograd.grad(
        output, activation, grad_outputs, is_grads_batched=True, create_graph=create_graph, retain_graph=retain_graph
    )
    return grad_a.mean(dim=(-2, -1))


def combine(alpha: torch.Tensor, activation: torch.Tensor) -> torch.Tensor:
    """Pre-ReLU Eq. 2 maps ``sum_k alpha_k A_k``: (N, T, h, w) from alpha (T, N, C) and A (N, C, h, w)."""
    return torch.einsum("tnc,nchw->nthw", alpha, activation)


def _cat(parts: list[torch.Tensor]) -> torch.Tensor:
    """``torch.cat`` that returns a single part as it is (a copy of the image-size maps costs as much as
    the backward pass)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _auto_chunk(n: int, c: int, h: int, w: int) -> int:
    return max(1, _GRAD_BUDGET // max(1, n * c * h * w))


# --------------------------------------------------------------------------------------------- explainer


def default_layer(root: nn.Module) -> str:
    """``encoder.3`` for latentlens' ConvVAE; otherwise the last ``Conv2d`` of ``root.encoder`` (or of
    ``root`` when it has no ``encoder``)."""
    from ..models.vae import ConvVAE

    if isinstance(root, ConvVAE):
        return DEFAULT_LAYER
    encoder = getattr(root, "encoder", None)
    scope, prefix = (encoder, "encoder.") if isinstance(encoder, nn.Module) else (root, "")
    convs = [name for name, m in scope.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise LatentLensError("no convolutional encoder layer found: pass layer= (a module or its dotted name)")
    return prefix + convs[-1]


class _EncodeFunction(nn.Module):
    """An ``encode`` function as a module with ``encode`` (its layers live in the user's model)."""

    def __init__(self, fn, latent_dim: int | None):
        super().__init__()
        self.fn, self.latent_dim = fn, latent_dim

    def encode(self, x):
        from ..adapters import _as_moments

        return _as_moments(self.fn(x), self.latent_dim, "the encode function")


class VAEAttention:
    """Captum-style explainer: ``VAEAttention(model, layer="encoder.3").attribute(x, target=None)``.

    ``model`` follows the VAE protocol (``encode(x) -> (mu, logvar)``), or is any VAE
    :func:`latentlens.as_vae` accepts, or an ``encode`` function (then ``layer`` must be the module object);
    ``layer`` is a dotted name in the user's model (``"auto"``: see :func:`default_layer`) or the module
    itself; its output is the feature map ``A``; ``variant`` is ``paper`` | ``official`` | ``signed``
    (module docstring); ``latent`` is ``mean`` (differentiate ``mu``, default) or ``sample``.
    ``latent_dim`` is needed only when an encoder returns one tensor ``[mu, logvar]`` side by side.
    """

    def __init__(
        self,
        model,
        layer="auto",
        variant: str = "paper",
        latent: str = "mean",
        shortcut: bool = True,
        latent_dim: int | None = None,
    ):
        if variant not in VARIANTS:
            raise LatentLensError(f"unknown attention variant {variant!r} (known: {', '.join(VARIANTS)})")
        if latent not in ("mean", "sample"):
            raise LatentLensError(f"latent must be 'mean' or 'sample', got {latent!r}")
        if not isinstance(model, nn.Module):
            if not callable(model):
                raise LatentLensError(f"VAEAttention needs a VAE module or an encode function, got {type(model).__name__}")
            if not isinstance(layer, nn.Module):
                raise LatentLensError("with an encode function, pass layer= as the layer module itself (it has no names)")
            model, root = _EncodeFunction(model, latent_dim), layer
        elif callable(getattr(model, "encode", None)):
            root = getattr(model, "layer_root", model)
        else:
            from ..adapters import as_vae

            model = as_vae(model, latent_dim=latent_dim, output_range="unit")
            root = model.layer_root
        if isinstance(layer, str) and layer == "auto":
            layer = default_layer(root)
        resolve_layer(root, layer)
        self.model, self.root, self.layer, self.variant, self.latent = model, root, layer, variant, latent
        self.successor = linear_successor(root, layer) if shortcut else None

    @property
    def layer_name(self) -> str:
        return self.layer if isinstance(self.layer, str) else type(self.layer).__name__

    # -- the one forward pass with hooks
    def capture(self, x: torch.Tensor, detach: bool) -> tuple[torch.Tensor, torch.Tensor, LayerCapture]:
        """Encode ``x`` with the hooks in place: ``(mu, logvar, capture)``; hooks are removed on return."""
        with LayerCapture(self.root, self.layer, self.successor, detach=detach) as cap:
            mu, logvar = self.model.encode(x)
        if cap.activation is None:
            raise LatentLensError(f"layer {self.layer_name!r} was not run by the encoder")
        return mu, logvar, cap

    def weights(
        self,
        output: torch.Tensor,
        cap: LayerCapture,
        grad_outputs: torch.Tensor,
        *,
        create_graph: bool = False,
        chunk_size: int | None = None,
        full_gradient: bool = False,
    ) -> torch.Tensor:
        """Channel weights (T, N, C) of the targets in ``grad_outputs`` (T, N, D), chunked over T.

        ``full_gradient=True`` forces the gradient to ``A`` itself and applies the official variant's
        batch-RMS scaling per target.
        """
        act = cap.activation
        n, c, h, w = act.shape
        chunk = chunk_size or _auto_chunk(n, c, h, w)
        use_succ = not full_gradient and self.successor is not None and cap.successor_ok
        succ = (cap.successor_output, resolve_layer(self.root, self.successor)) if use_succ else None
        parts = []
        for start in range(0, grad_outputs.shape[0], chunk):
            go = grad_outputs[start : start + chunk]
            if full_gradient:
                (g,) = torch.autograd.grad(
                    output, act, go, is_grads_batched=True, create_graph=create_graph, retain_graph=True
                )
                rms = g.pow(2).mean(dim=(1, 2, 3, 4), keepdim=True).sqrt() + _RMS_EPS
                parts.append((g / rms).mean(dim=(-2, -1)))
            else:
                parts.append(channel_weights(output, act, go, create_graph=create_graph, successor=succ))
        return _cat(parts)

    def attribute(
        self,
        x: torch.Tensor,
        target=None,
        *,
        normalize: bool = False,
        differentiable: bool = False,
        chunk_size: int | None = None,
        batch_size: int = 64,
        generator: torch.Generator | None = None,
        keep_mode: bool = False,
    ) -> AttentionResult:
        """Attention maps of ``x`` (N, C, H, W) for ``target`` (see :func:`target_basis`).

        ``differentiable=True`` keeps the autograd graph (``create_graph``) so the maps can enter a
        training loss; ``keep_mode=True`` leaves the model's train/eval mode alone (a warning is given
        when BatchNorm layers in training mode would couple the samples).
        """
        if x.dim() != 4:
            raise LatentLensError(f"images must be (N, C, H, W), got shape {tuple(x.shape)}")
        latent_dim = getattr(self.model, "latent_dim", None)
        results = []
        with eval_mode(self.model, enabled=not keep_mode), torch.enable_grad():
            for start in range(0, x.shape[0], batch_size):
                xb = x[start : start + batch_size]
                results.append(self._attribute_batch(xb, target, latent_dim, differentiable, chunk_size, generator))
        maps, overall, feats = (_cat([r[i] for r in results]) for i in range(3))
        basis, labels = results[0][3], results[0][4]
        if normalize:
            maps, overall = minmax(maps), minmax(overall)
        if not differentiable:
            maps, overall, feats = maps.detach(), overall.detach(), feats.detach()
        return AttentionResult(maps, overall, basis, labels, self.layer_name, self.variant, self.latent, feats)

    def _attribute_batch(self, xb, target, latent_dim, differentiable, chunk_size, generator):
        mu, logvar, cap = self.capture(xb, detach=not differentiable)
        d = mu.shape[1] if latent_dim is None else latent_dim
        basis, labels = target_basis(target, d, dtype=mu.dtype, device=mu.device)
        output = mu
        if self.latent == "sample":
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
            output = mu + eps * torch.exp(0.5 * logvar)
        grad_outputs = basis[:, None, :].expand(basis.shape[0], mu.shape[0], d)
        official = self.variant == "official"
        alpha = self.weights(
            output, cap, grad_outputs, create_graph=differentiable, chunk_size=chunk_size, full_gradient=official
        )
        act = cap.activation
        pre = combine(alpha, act)  # (N, T, h, w)
        size = xb.shape[-2:]
        if official:
            maps = upsample(pre, size).abs()
            overall = upsample(official_map_features(output, act, basis, differentiable), size).abs()
            feats = pre.abs()
        else:
            feats = pre.relu() if self.variant == "paper" else pre
            maps = upsample(feats, size)
            overall = upsample(feats.mean(dim=1, keepdim=True), size)
        return maps, overall, feats, basis, labels


def official_map_features(
    output: torch.Tensor, activation: torch.Tensor, basis: torch.Tensor, create_graph: bool = False
) -> torch.Tensor:
    """The released code's map before upsampling and ``abs``: one backward of ``sum_n sum_t <v_t, z_n>``,
    gradient divided by its batch RMS (+1e-5), spatial mean, ``sum_k alpha_k A_k``. (N, 1, h, w)."""
    score = (output @ basis.sum(dim=0)).sum()
    (g,) = torch.autograd.grad(score, activation, create_graph=create_graph, retain_graph=True)
    g = g / (g.pow(2).mean().sqrt() + _RMS_EPS)
    return (g.mean(dim=(-2, -1), keepdim=True) * activation).sum(dim=1, keepdim=True)


def attention_loop_reference(
    model: nn.Module, x: torch.Tensor, layer: str, target=None, relu: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Slow reference (what public implementations and ``captum.LayerGradCam`` do): one forward and one
    backward pass per target. Returns per-target maps (N, T, H, W) and their mean (N, 1, H, W)."""
    with eval_mode(model), torch.enable_grad():
        mu, _ = model.encode(x[:1])
        basis, _ = target_basis(target, mu.shape[1], dtype=mu.dtype, device=mu.device)
        maps = []
        for row in basis:
            with LayerCapture(model, layer) as cap:
                mu, _ = model.encode(x)
            (g,) = torch.autograd.grad((mu @ row).sum(), cap.activation)
            m = (g.mean(dim=(-2, -1), keepdim=True) * cap.activation).sum(dim=1, keepdim=True)
            maps.append(upsample(m.relu() if relu else m, x.shape[-2:]).detach())
    maps = torch.cat(maps, dim=1)
    return maps, maps.mean(dim=1, keepdim=True)


def attention_maps(model: nn.Module, x: torch.Tensor, layer="auto", variant: str = "paper", **kwargs):
    """Functional shortcut for ``VAEAttention(model, layer, variant).attribute(x, **kwargs)``."""
    return VAEAttention(model, layer, variant).attribute(x, **kwargs)


__all__ = [
    "VARIANTS",
    "AttentionResult",
    "LayerCapture",
    "VAEAttention",
    "attention_loop_reference",
    "attention_maps",
    "channel_weights",
    "combine",
    "eval_mode",
    "linear_successor",
    "minmax",
    "official_map_features",
    "resolve_layer",
    "target_basis",
    "upsample",
]
