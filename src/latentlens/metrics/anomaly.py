"""Anomaly detection and localisation metrics, computed the way MVTec AD's evaluation does.

* :func:`image_auroc` — ROC AUC of one score per image against its label (defective = 1).
* :func:`pixel_auroc` — ROC AUC over all test pixels of all images pooled (good images included), so maps
  must be comparable across images (no per-image normalisation).
* :func:`aupro` — area under the per-region-overlap curve up to a false-positive rate of 0.3, divided by
  0.3 (Bergmann et al., IJCV 2021; MVTec's ``evaluate_experiment.py``): ground-truth regions are the
  8-connected components of each mask, numbered uniquely across images; PRO(t) is the mean over regions
  of the fraction of the region above t; FPR(t) is over defect-free pixels only; PRO is interpolated
  exactly at FPR = 0.3 and the trapezoid area is taken.
* :func:`normal_threshold` — a threshold chosen on held-out *normal* images only (a quantile of their
  scores), and :func:`f1_at` — F1 of the binary decision at that threshold. Nothing is fitted on test data.

Ties are handled exactly (average ranks for AUROC, one curve point per distinct score for AUPRO).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.stats import rankdata

_EIGHT = np.ones((3, 3), dtype=bool)
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy 2 renamed trapz


def _flat(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a).reshape(-1)


def auroc(scores, labels) -> float:
    """Mann-Whitney ROC AUC with average ranks for ties; ``nan`` when only one class is present."""
    s = _flat(scores).astype(np.float64)
    y = _flat(labels).astype(bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(s)  # average ranks
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def image_auroc(image_scores, labels) -> float:
    return auroc(image_scores, labels)


def pixel_auroc(maps, masks) -> float:
    """ROC AUC over every pixel of every image, pooled. ``maps`` and ``masks`` have the same shape."""
    return auroc(maps, np.asarray(_flat(masks)) > 0.5)


def _squeeze_images(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim == 4:  # (N, 1, H, W)
        if a.shape[1] != 1:
            raise ValueError(f"expected single-channel maps, got shape {a.shape}")
        a = a[:, 0]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"expected (N, H, W) maps, got shape {a.shape}")
    return a


def region_labels(masks) -> tuple[np.ndarray, int]:
    """8-connected components of every mask, numbered 1..K uniquely across images (0 = background)."""
    m = _squeeze_images(masks) > 0.5
    labels = np.zeros(m.shape, dtype=np.int64)
    total = 0
    for i in range(m.shape[0]):
        lab, k = ndimage.label(m[i], structure=_EIGHT)
        labels[i] = np.where(lab > 0, lab + total, 0)
        total += k
    return labels, total


def pro_curve(maps, masks) -> tuple[np.ndarray, np.ndarray]:
    """FPR and PRO at every distinct score (descending thresholds), starting at (0, 0)."""
    scores = _squeeze_images(maps).astype(np.float64).reshape(-1)
    labels, k = region_labels(masks)
    labels = labels.reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError("maps and masks must have the same shape")
    background = labels == 0
    n_bg = int(background.sum())
    if k == 0 or n_bg == 0:
        return np.array([0.0]), np.array([0.0])
    sizes = np.bincount(labels, minlength=k + 1).astype(np.float64)
    fpr_step = np.where(background, 1.0 / n_bg, 0.0)
    pro_step = np.where(background, 0.0, 1.0 / (sizes[labels] * k))
    order = np.argsort(-scores, kind="stable")
    s_sorted = scores[order]
    fpr = np.cumsum(fpr_step[order])
    pro = np.cumsum(pro_step[order])
    # keep the last position of each distinct score: a threshold admits all pixels with that score
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    fpr = np.r_[0.0, fpr[last]]
    pro = np.r_[0.0, pro[last]]
    return np.minimum(fpr, 1.0), np.minimum(pro, 1.0)


def aupro(maps, masks, fpr_limit: float = 0.3) -> float:
    """Normalised area under PRO(FPR) on [0, ``fpr_limit``]; ``nan`` without defect regions."""
    fpr, pro = pro_curve(maps, masks)
    if fpr.size == 1:
        return math.nan
    cut = np.searchsorted(fpr, fpr_limit, side="right")
    x, y = fpr[:cut], pro[:cut]
    if cut < fpr.size and x[-1] < fpr_limit:
        x0, x1, y0, y1 = fpr[cut - 1], fpr[cut], pro[cut - 1], pro[cut]
        y_lim = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0) if x1 > x0 else y1
        x, y = np.r_[x, fpr_limit], np.r_[y, y_lim]
    return float(_trapezoid(y, x) / fpr_limit)


def normal_threshold(normal_scores, fpr: float = 0.005) -> float:
    """Threshold = the (1 - ``fpr``) quantile of scores of held-out normal data (pixels or images).

    At this threshold about a fraction ``fpr`` of normal data is flagged. Only normal data is used.
    """
    s = _flat(normal_scores).astype(np.float64)
    if s.size == 0:
        raise ValueError("no normal scores to choose a threshold from")
    if not 0.0 <= fpr < 1.0:
        raise ValueError(f"fpr must be in [0, 1), got {fpr}")
    return float(np.quantile(s, 1.0 - fpr))


def f1_at(scores, labels, threshold: float) -> float:
    """F1 of ``scores > threshold`` against binary ``labels`` (0 when nothing is positive)."""
    pred = _flat(scores) > threshold
    y = _flat(labels) > 0.5
    tp = float(np.sum(pred & y))
    denom = float(pred.sum() + y.sum())
    return 2.0 * tp / denom if denom else 0.0


def per_image_auroc(maps, masks) -> np.ndarray:
    """Pixel AUROC of each image separately (``nan`` for images without defect pixels)."""
    m = _squeeze_images(maps)
    g = _squeeze_images(masks)
    return np.array([auroc(m[i], g[i] > 0.5) for i in range(m.shape[0])])


def localization_metrics(
    maps,
    masks,
    image_scores,
    labels,
    *,
    normal_pixel_scores=None,
    normal_image_scores=None,
    fpr: float = 0.005,
    image_fpr: float = 0.05,
    fpr_limit: float = 0.3,
) -> dict:
    """The standard table row: image AUROC, pooled pixel AUROC, AUPRO@0.3 and (when held-out normal
    scores are given) pixel F1 and image F1 at thresholds chosen on those normal scores only."""
    out = {
        "image_auroc": image_auroc(image_scores, labels),
        "pixel_auroc": pixel_auroc(maps, masks),
        "aupro": aupro(maps, masks, fpr_limit),
    }
    if normal_pixel_scores is not None:
        t = normal_threshold(normal_pixel_scores, fpr)
        out["pixel_threshold"] = t
        out["f1"] = f1_at(maps, masks, t)
    if normal_image_scores is not None:
        t = normal_threshold(normal_image_scores, image_fpr)
        out["image_threshold"] = t
        out["image_f1"] = f1_at(image_scores, labels, t)
    return out


__all__ = [
    "aupro",
    "auroc",
    "f1_at",
    "image_auroc",
    "localization_metrics",
    "normal_threshold",
    "per_image_auroc",
    "pixel_auroc",
    "pro_curve",
    "region_labels",
]
