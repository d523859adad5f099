"""Which generative attributes change a classifier's decision: AttFind, as StylEx and DiffEx run it.

An *attribute* is a latent edit of a generator that can re-draw an image (a VAE's coordinate or any
direction of a Directions artifact), applied with a sign. Its *effect* on an image is the change of the
classifier's output when the image's latent is edited along it.

- **StylEx AttFind** (Lang et al., ICCV 2021; the official Colab's ``find_significant_styles``): effects are
  logit changes ``(images, 2 signs, attributes, classes)``; images in which too many attributes move the
  logits a lot are dropped as unstable; for a target class, on the images classified as another class, the
  positive effect towards the target is summed greedily: each round takes the attribute (and sign) with the
  largest mean effect over the images whose accumulated effect is still below a cap, adds it to their
  accumulated effect and removes it from the pool.
- **DiffEx AttFind** (Bourou et al. 2025, ``colat/attFinder.py``): effects are probability changes of the target
  class on opposite-class images; each round picks the (attribute, sign) with the largest batch-mean effect,
  accepts it if above a threshold, removes from the pool the images it already explains (effect >= their
  maximum), and lowers the threshold by 0.02.
- **Edit sizes**: a fixed step ``strength`` along every attribute, or StylEx's own (:func:`range_displacements`):
  each image's coordinate moved to the attribute's minimum or maximum over the encoded images.
- **Sufficiency** (StylEx): the share of opposite-class images whose decision flips to the target when the
  top-k attributes are applied together, for k = 1..M.

:func:`attribute_effects` computes the effect tensor for a decoder, a classifier and a set of attribute
directions in one batched pass per image chunk.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import LatentLensError


def filter_unstable_images(effects: np.ndarray, max_changed: int = 750, change: float = 2.0) -> np.ndarray:
    """StylEx's filter: a mask of the images in which at most ``max_changed`` (attribute, sign) pairs move any
    logit by more than ``change`` (an image every edit flips says nothing about any one edit)."""
    e = np.abs(np.asarray(effects))
    moved = (e > change).any(axis=-1).reshape(len(e), -1).sum(1)
    return moved <= max_changed


def stylex_attfind(effects: np.ndarray, target: int, predicted: np.ndarray, n_attributes: int = 8,
                   max_image_effect: float = 1.0, stable: np.ndarray | None = None) -> list[dict]:  # fmt: skip
    """StylEx's greedy selection (module docstring). ``effects``: ``(images, 2, attributes, classes)`` logit
    changes (sign 0 = towards the minimum, 1 = towards the maximum); ``predicted``: each image's class.
    Returns up to ``n_attributes`` picks ``{"attribute", "sign", "score"}`` in the order found."""
    e = np.asarray(effects, dtype=np.float64)
    if e.ndim != 4 or e.shape[1] != 2:
        raise LatentLensError(f"effects must be (images, 2 signs, attributes, classes), got {e.shape}")
    keep = (np.asarray(predicted) != target) & (stable if stable is not None else np.ones(len(e), bool))
    if not keep.any():
        raise LatentLensError("no image of another class to explain the target with")
    pool = np.maximum(0.0, e[keep, :, :, target]).reshape(int(keep.sum()), -1)  # (images, sign*attribute)
    accumulated = np.zeros(len(pool))
    picks = []
    for _ in range(min(n_attributes, pool.shape[1])):
        active = accumulated < max_image_effect
        if not active.any():
            break
        scores = pool[active].mean(0)
        j = int(np.argmax(scores))
        if scores[j] <= 0:
            break
        accumulated += pool[:, j]
        picks.append({"attribute": j % e.shape[2], "sign": int(j // e.shape[2]), "score": float(scores[j])})
        pool[:, j] = 0.0
    return picks


def diffex_attfind(prob_effects: np.ndarray, n_attributes: int = 10, threshold: float = 0.2,
                   decay: float = 0.02, explained_at: float = 0.5) -> list[dict]:  # fmt: skip
    """DiffEx's selection (module docstring). ``prob_effects``: ``(images, 2, attributes)`` changes of the target
    class probability on opposite-class images; an image leaves the pool once an accepted attribute moves it
    by ``explained_at`` or more. Returns the accepted ``{"attribute", "sign", "score"}`` in order."""
    e = np.asarray(prob_effects, dtype=np.float64)
    if e.ndim != 3 or e.shape[1] != 2:
        raise LatentLensError(f"effects must be (images, 2 signs, attributes), got {e.shape}")
    flat = e.reshape(len(e), -1)
    pool_images = np.ones(len(e), dtype=bool)
    available = np.ones(flat.shape[1], dtype=bool)
    picks = []
    while len(picks) < n_attributes and pool_images.any() and available.any():
        means = np.where(available, flat[pool_images].mean(0), -np.inf)
        j = int(np.argmax(means))
        if means[j] > threshold:
            picks.append({"attribute": j % e.shape[2], "sign": int(j // e.shape[2]), "score": float(means[j])})
            pool_images &= ~(flat[:, j] >= explained_at)
        available[j] = False
        threshold -= decay
    return picks


def independent_directions(latents, n_directions: int | None = None, random_state: int = 0) -> torch.Tensor:
    """Edit directions that each move one independent component of the encoded ``latents``: FastICA
    (Hyvärinen & Oja 2000, the fixed-point iteration on whitened data) models ``z = A s + mean`` with
    independent non-Gaussian sources ``s``; the unit columns of the mixing matrix ``A`` are the directions (an edit
    along column k changes source k alone, where the unmixing rows would read it). Sign: the larger half of
    the sources' spread points along +. Returns ``(n_directions, latent_dim)`` float32."""
    import warnings

    from sklearn.decomposition import FastICA
    from sklearn.exceptions import ConvergenceWarning

    z = np.asarray(latents, dtype=np.float64)
    k = n_directions or z.shape[1]
    if not 1 <= k <= z.shape[1] or len(z) <= k:
        raise LatentLensError(f"independent directions need 1..{z.shape[1]} components and more latents than that, "
                              f"got {k} components of {len(z)} latents")  # fmt: skip
    with warnings.catch_warnings():  # a slow convergence still gives usable directions
        warnings.simplefilter("ignore", ConvergenceWarning)
        ica = FastICA(n_components=k, random_state=random_state, max_iter=1000, whiten="unit-variance")
        sources = ica.fit_transform(z)
    mixing = ica.mixing_.T
    skew_sign = np.where(((sources - np.median(sources, 0)) ** 3).mean(0) < 0, -1.0, 1.0)
    mixing = mixing * skew_sign[:, None]
    return torch.as_tensor(mixing / np.maximum(np.linalg.norm(mixing, axis=1, keepdims=True), 1e-12), dtype=torch.float32)


def class_contrast_directions(latents, in_class, n_directions: int | None = None, min_ratio: float = 2.0,
                              random_state: int = 0) -> torch.Tensor:
    """Edit directions of what varies *more* in one class than in the others, each moving one independent part
    of it (not from the papers): contrastive PCA (Abid et al., Nat. Commun. 2018) in its scale-free form, the
    generalized eigenvectors ``C_in w = lambda C_out w`` of the two classes' latent covariances (``lambda`` is the
    variance ratio along ``w``), keeps the ``n_directions`` largest (default: every one with ``lambda >=
    min_ratio``, at least one); FastICA (Hyvärinen & Oja 2000) splits that subspace, on the class's latents,
    into independent sources ``s`` (the least Gaussian of five starts); each direction is the forward model of
    one source, the least-squares slope of ``z`` on ``s`` (how the latents move when that source alone
    grows). Nuisances that vary alike in every class drop out; phenotypes that a class shows to a varying
    degree remain, one per direction when they vary independently. ``in_class`` is a boolean mask over
    ``latents`` (e.g. the classifier's predictions). Sign: + points from the other classes' mean towards the
    class's. Ordered by how far the class mean lies along each. Returns ``(n_directions, latent_dim)`` float32."""
    import warnings

    from scipy.linalg import eigh
    from sklearn.decomposition import FastICA
    from sklearn.exceptions import ConvergenceWarning

    z = np.asarray(latents, dtype=np.float64)
    mask = np.asarray(in_class, dtype=bool)
    d = z.shape[1]
    if mask.shape != (len(z),) or mask.sum() <= d or (~mask).sum() <= d:
        raise LatentLensError(f"class-contrast directions need more than {d} latents in the class and outside it, "
                              f"got {int(mask.sum())} and {int((~mask).sum())}")  # fmt: skip
    if n_directions is not None and not 1 <= n_directions <= d:
        raise LatentLensError(f"n_directions must be in 1..{d}, got {n_directions}")
    inside, outside = z[mask], z[~mask]
    c_in, c_out = np.cov(inside, rowvar=False), np.cov(outside, rowvar=False)
    c_out = c_out + 1e-6 * np.trace(c_out) / d * np.eye(d)
    ratios, w = eigh(c_in, c_out)
    ratios, w = ratios[::-1], w[:, ::-1]
    k = n_directions or max(1, int((ratios >= min_ratio).sum()))
    projected = (inside - inside.mean(0)) @ w[:, :k]
    if k == 1:
        sources = projected / projected.std()
    else:
        best = -1.0
        with warnings.catch_warnings():  # FastICA can stall from a bad start: keep the least Gaussian of 5 starts
            warnings.simplefilter("ignore", ConvergenceWarning)
            for start in range(5):
                found = FastICA(n_components=k, random_state=(random_state + start) % 2**32, max_iter=1000,
                                whiten="unit-variance").fit_transform(projected)  # fmt: skip
                found = (found - found.mean(0)) / found.std(0)
                non_gaussian = float(np.abs((found**4).mean(0) - 3).sum())
                if non_gaussian > best:
                    best, sources = non_gaussian, found
    slopes = np.linalg.lstsq(np.c_[sources, np.ones(len(sources))], inside, rcond=None)[0][:k]
    slopes = slopes / np.maximum(np.linalg.norm(slopes, axis=1, keepdims=True), 1e-12)
    along = slopes @ (inside.mean(0) - outside.mean(0))
    slopes = slopes * np.where(along < 0, -1.0, 1.0)[:, None]
    return torch.as_tensor(slopes[np.argsort(-np.abs(along))], dtype=torch.float32)


def range_displacements(latents: torch.Tensor, directions: torch.Tensor, population: torch.Tensor) -> torch.Tensor:
    """StylEx's edit sizes (the Colab's AttFind, step 2): each image's coordinate along each attribute is moved
    to that coordinate's minimum (sign 0) or maximum (sign 1) over ``population`` (the encoded images), so every
    attribute is edited within the range the data gives it. Returns the signed displacements
    ``(images, 2, attributes)`` along the unit ``directions``; the coordinates of ``latents`` beyond the
    directions' width (a diffusion autoencoder's x_T) are not read."""
    d = torch.as_tensor(directions, dtype=torch.float32)
    d = d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)
    width = d.shape[1]
    along = torch.as_tensor(latents, dtype=torch.float32)[:, :width] @ d.T
    seen = torch.as_tensor(population, dtype=torch.float32)[:, :width] @ d.T
    return torch.stack([seen.min(0).values - along, seen.max(0).values - along], dim=1)


def signed_displacements(strength, n: int, k: int) -> torch.Tensor:
    """``(n, 2, k)`` signed displacements: ``-strength`` / ``+strength`` (a number or one per direction), or
    ``strength`` itself when it already is such an array (e.g. :func:`range_displacements`)."""
    s = torch.as_tensor(strength, dtype=torch.float32)
    if s.ndim == 3:
        if tuple(s.shape) != (n, 2, k):
            raise LatentLensError(f"displacements must be (images, 2, attributes) = {(n, 2, k)}, got {tuple(s.shape)}")
        return s
    s = s.reshape(-1)
    s = s.expand(k) if len(s) == 1 else s
    if len(s) != k:
        raise LatentLensError(f"strength must be a number or one per direction ({k}), got {len(s)}")
    return torch.stack([-s, s])[None].expand(n, 2, k)


@torch.inference_mode()
def attribute_effects(decode, classify, latents: torch.Tensor, directions: torch.Tensor, strength,
                      batch_size: int = 256, softmax: bool | str = False):  # fmt: skip
    """``(images, 2, attributes, classes)`` changes of ``classify(decode(z))`` when each latent is edited by
    ``-strength`` (sign 0) and ``+strength`` (sign 1) along each unit direction (``strength`` a number, one per
    direction, or per-image signed displacements ``(images, 2, attributes)``). Logits by default,
    probabilities with ``softmax=True``, both (a pair, one pass of the decoder) with ``softmax="both"``."""
    z = torch.as_tensor(latents, dtype=torch.float32)
    d = torch.as_tensor(directions, dtype=torch.float32)
    k = len(d)
    delta = signed_displacements(strength, len(z), k)

    def logits_of(latent):
        return torch.cat([classify(decode(latent[j : j + batch_size])).float().cpu()
                          for j in range(0, len(latent), batch_size)])  # fmt: skip

    base = logits_of(z)
    edited_logits = torch.empty(len(z), 2, k, base.shape[1])
    per = max(1, batch_size // (2 * k))
    for i in range(0, len(z), per):
        zb = z[i : i + per]
        edited = (zb[:, None, None, :] + delta[i : i + per, :, :, None] * d[None, None]).reshape(-1, z.shape[1])
        edited_logits[i : i + len(zb)] = logits_of(edited).reshape(len(zb), 2, k, -1)
    logit_change = (edited_logits - base[:, None, None, :]).numpy()
    prob_change = (edited_logits.softmax(-1) - base.softmax(-1)[:, None, None, :]).numpy()
    if softmax == "both":
        return logit_change, prob_change
    return prob_change if softmax else logit_change


@torch.inference_mode()
def sufficiency(decode, classify, latents: torch.Tensor, directions: torch.Tensor, picks: list[dict], strength,
                target: int, batch_size: int = 256) -> list[float]:  # fmt: skip
    """Flip rate to ``target`` of the images ``decode(latents)`` when the first k picked attributes are applied
    together, for k = 1..len(picks) (``strength`` as in :func:`attribute_effects`)."""
    z = torch.as_tensor(latents, dtype=torch.float32)
    d = torch.as_tensor(directions, dtype=torch.float32)
    delta = signed_displacements(strength, len(z), len(d))
    rates, shift = [], torch.zeros_like(z)
    for p in picks:
        shift = shift + delta[:, p["sign"], p["attribute"], None] * d[p["attribute"]][None]
        edited = z + shift
        pred = torch.cat([classify(decode(edited[i : i + batch_size])).argmax(1).cpu() for i in range(0, len(z), batch_size)])
        rates.append(float((pred == target).float().mean()))
    return rates
