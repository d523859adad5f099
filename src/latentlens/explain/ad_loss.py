"""Attention-disentanglement loss (Liu et al. 2020, Sec. 3.3, Eq. 5).

    L_AD(M^i, M^j) = 2 * sum_p min(M^i_p, M^j_p) / sum_p (M^i_p + M^j_p)

a soft-Dice overlap of the attention maps (Eq. 2, ReLU'd) of two distinct latent dimensions i != j of
the same image: 0 for disjoint maps, 1 for identical ones. It is averaged over the batch and added as
``lambda * L_AD`` to the FactorVAE objective (:mod:`latentlens.models.ad_factorvae`).

Which pair (``pair=``):

``top``     per image, the two dimensions whose maps carry the most attention mass (selected without
            gradient; the paper's figures show the two highest-response dimensions);
``random``  one random pair of *distinct* dimensions per step (a public reproduction drew two indices
            independently, so it sometimes compared a dimension with itself: a constant loss of 1).

The gradient is the true one: the maps' channel weights alpha = GAP(dz_i/dA) are computed with
``create_graph=True`` so the loss differentiates through them (second order). Both public
reimplementations lost this gradient (one under ``no_grad``, one through detached hook gradients).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import LatentLensError
from .vae_attention import LayerCapture, VAEAttention, combine

PAIRS = ("top", "random")


def attention_overlap(m_i: torch.Tensor, m_j: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Eq. 5 per image: ``2 sum min(m_i, m_j) / sum (m_i + m_j)`` over all but the first axis."""
    dims = tuple(range(1, m_i.dim()))
    num = 2.0 * torch.minimum(m_i, m_j).sum(dim=dims)
    den = (m_i + m_j).sum(dim=dims)
    return num / den.clamp_min(eps)


def select_pairs(
    mass: torch.Tensor, pair: str = "top", generator: torch.Generator | None = None
) -> torch.Tensor:
    """Indices (N, 2) of the latent dimensions to compare for each image; ``mass`` is (N, D)."""
    n, d = mass.shape
    if d < 2:
        raise LatentLensError("the attention-disentanglement loss needs at least 2 latent dimensions")
    if pair == "top":
        return mass.detach().topk(2, dim=1).indices
    if pair == "random":
        chosen = torch.randperm(d, generator=generator)[:2].to(mass.device)
        return chosen[None].expand(n, 2)
    raise LatentLensError(f"unknown pair rule {pair!r} (known: {', '.join(PAIRS)})")


def ad_loss_from_capture(
    attention: VAEAttention,
    mu: torch.Tensor,
    cap: LayerCapture,
    pair: str = "top",
    generator: torch.Generator | None = None,
    pairs: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L_AD for an encoder pass already recorded in ``cap`` (activations kept in the graph).

    Returns ``(loss, pairs)``; ``pairs`` (N, 2) may be given to fix the compared dimensions.
    """
    n, d = mu.shape
    act = cap.activation
    if pairs is None:
        if pair == "top":
            with torch.no_grad():
                eye = torch.eye(d, dtype=mu.dtype, device=mu.device)[:, None, :].expand(d, n, d)
                alpha = attention.weights(mu, cap, eye)  # no graph: only to rank the dimensions
                mass = combine(alpha, act.detach()).relu().sum(dim=(-2, -1))
        else:
            mass = mu.new_zeros(n, d)
        pairs = select_pairs(mass, pair, generator)
    onehot = torch.zeros(2, n, d, dtype=mu.dtype, device=mu.device)
    onehot.scatter_(2, pairs.T[:, :, None].to(mu.device), 1.0)
    alpha = attention.weights(mu, cap, onehot, create_graph=True)  # (2, N, C), differentiable
    maps = combine(alpha, act).relu()  # (N, 2, h, w)
    return attention_overlap(maps[:, 0], maps[:, 1]).mean(), pairs


def ad_loss(
    model: nn.Module,
    x: torch.Tensor,
    layer: str = "encoder.3",
    pair: str = "top",
    generator: torch.Generator | None = None,
    pairs: torch.Tensor | None = None,
) -> torch.Tensor:
    """Encode ``x`` and return L_AD (differentiable w.r.t. the model's parameters and ``x``)."""
    attention = VAEAttention(model, layer)
    with torch.enable_grad():
        mu, _, cap = attention.capture(x, detach=False)
        loss, _ = ad_loss_from_capture(attention, mu, cap, pair, generator, pairs)
    return loss


__all__ = ["PAIRS", "ad_loss", "ad_loss_from_capture", "attention_overlap", "select_pairs"]
