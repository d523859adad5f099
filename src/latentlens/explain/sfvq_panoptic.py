"""Panoptic reading of a latent space through its space-filling curve (Vali & Bäckström, Interspeech 2023
Sec. 4 and TMLR 2025), and the numbers their reviewers asked for.

From the paper: per-label histograms of curve index (do the images of one label occupy one stretch of the
curve?), the Jensen-Shannon distance between those histograms (how well the curve separates the labels),
and the corner-to-corner distance matrix (block structure = regions of the curve). Beyond the paper, for
the curve's lines used as edit directions on a VAE (which can re-read an edited image): the **identity
error** (edit by +s, re-encode, edit by -s: how far the image ends from where it started), the
**commutativity error** of two lines (edit a then b vs b then a, re-encoding in between) and the
**side effect** (the share of the factor change that is not the line's main factor, with a factor reader).
Baselines: k-means and the corners used as a plain VQ at the same number of points.
"""

from __future__ import annotations

import numpy as np
import torch


def index_histograms(index, labels, n_lines: int, bins: int | None = None) -> tuple[np.ndarray, list]:
    """``(H, values)``: one normalised histogram of curve index per label value (rows), over ``bins`` equal
    stretches of the curve (default: one per line)."""
    index = np.asarray(index, dtype=np.float64)
    labels = np.asarray(labels)
    bins = bins or n_lines
    edges = np.linspace(0, n_lines, bins + 1)
    values = sorted(set(labels.tolist()))
    h = np.stack([np.histogram(index[labels == v], bins=edges)[0] for v in values]).astype(np.float64)
    return h / np.maximum(h.sum(1, keepdims=True), 1), values


def js_distance_matrix(histograms: np.ndarray) -> np.ndarray:
    """Pairwise Jensen-Shannon distances (base 2, in [0, 1]) between the rows."""
    from scipy.spatial.distance import jensenshannon

    n = len(histograms)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = float(jensenshannon(histograms[i], histograms[j], base=2))
    return np.nan_to_num(out)


def contiguous_runs(histogram: np.ndarray, min_share: float = 0.02) -> int:
    """How many separate stretches of the curve hold a label (bins above ``min_share`` of the peak)."""
    on = histogram >= min_share * max(histogram.max(), 1e-12)
    return int(on[0] + np.sum(on[1:] & ~on[:-1]))


def mean_offdiagonal(matrix: np.ndarray) -> float:
    n = len(matrix)
    return float(matrix[~np.eye(n, dtype=bool)].mean()) if n > 1 else float("nan")


@torch.inference_mode()
def identity_error(vae, directions: torch.Tensor, z: torch.Tensor, strength: float) -> torch.Tensor:
    """Per direction: mean |G(E(G(z + s d)) - s d) - G(z)| (pixels in [0, 1]), re-encoding the edited image."""
    base = vae.decode(z)
    out = []
    for d in directions:
        edited = vae.decode(z + strength * d)
        back = vae.decode(vae.encode(edited)[0] - strength * d)
        out.append((back - base).abs().mean())
    return torch.stack(out)


@torch.inference_mode()
def commutativity_error(vae, a: torch.Tensor, b: torch.Tensor, z: torch.Tensor, strength: float) -> float:
    """Mean |image(a then b) - image(b then a)|, re-encoding after the first edit."""
    ab = vae.decode(vae.encode(vae.decode(z + strength * a))[0] + strength * b)
    ba = vae.decode(vae.encode(vae.decode(z + strength * b))[0] + strength * a)
    return float((ab - ba).abs().mean())


def kmeans_mse(x, k: int, random_state: int = 0) -> float:
    """Mean squared error per dimension of scikit-learn's k-means with ``k`` centres (a baseline)."""
    from sklearn.cluster import KMeans

    x = np.asarray(x, dtype=np.float64)
    km = KMeans(n_clusters=k, n_init=3, random_state=random_state).fit(x)
    return float(((x - km.cluster_centers_[km.labels_]) ** 2).mean())


def vq_mse(x, codebook) -> float:
    """Mean squared error per dimension of the corners used as a plain VQ codebook (nearest corner)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    c = torch.as_tensor(codebook, dtype=torch.float32)
    return float((x - c[torch.cdist(x, c).argmin(1)]).pow(2).mean())
