"""Automated interpretability index of units and of directions in a layer's activation space (Klindt,
Sanborn, Acosta, Poitevin & Miolane, "Identifying Interpretable Visual Features in Artificial and Biological
Neural Systems", arXiv 2310.11431; the psychophysics code of the paper's repository).

The interpretability index (II) simulates the human two-alternative task of Borowski / Zimmermann et al.:
shown 9 maximally and 9 minimally activating reference images of a unit, is a query image the "max" one?
For a unit with activations ``a`` over ``N`` images, for each quantile ``q`` in ``(0, 0.25)``:

1. keep the images with ``a`` in ``[Q_q, Q_{1-q}]`` (``q = 0.25`` tests the centre, not only the extremes) and
   sort them by activation;
2. the queries are the top ``trials`` (20) and bottom 20 images, shuffled; for trial ``t`` the references are
   the images at sorted ranks ``trials + trials * j + t``, ``j = 0..8``, from each end (9 top, 9 bottom,
   disjoint from the queries);
3. similarities (``-distance`` of the images under a metric) between each query and each reference are
   z-scored within the trial;
4. ``correct = mean sim(top refs, top query) + mean sim(bottom refs, bottom query)``, ``swapped`` the same with
   the queries exchanged, and the trial scores ``softmax([correct, swapped])[0]``;
5. the II is the mean over trials: 0.5 is chance, 1 is perfect.

Metrics (one interface, :data:`METRICS`, or any function ``images -> (N, F)`` features compared by L2):
``pixel`` (L2 between images), ``colour`` (L2 between mean colours). Units are computed all at once: one
sort of each unit serves every quantile window (a window is a contiguous block of the sorted order), and the
trials of every unit read their distances off the Gram matrix of the features (gathered and computed
directly above :data:`GRAM_MAX_IMAGES` images).

Directions (the paper's k-means finding): :func:`kmeans_directions` (MiniBatchKMeans with as many clusters
as units, optionally cosine) whose new "units" are the projections onto the centroids (or negative
distances); :func:`pca_directions`, :func:`ica_directions` and random directions as baselines. The
activations' eigenspectrum and its power-law exponent (Stringer et al. 2019): :func:`power_law_exponent`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..errors import LatentLensError

QUANTILES = (0.0, 0.25)
TRIALS = 20
REFS = 9
GRAM_MAX_IMAGES = 4096  # up to here the N x N Gram matrix of the features (128 MB) replaces per-trial gathers


def pixel_features(images: torch.Tensor) -> torch.Tensor:
    return images.float().flatten(1)


def colour_features(images: torch.Tensor) -> torch.Tensor:
    return images.float().mean(dim=(-2, -1))


METRICS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"pixel": pixel_features, "colour": colour_features}


def needed_images(quantiles=QUANTILES, trials: int = TRIALS, refs: int = REFS) -> int:
    """The fewest images every quantile window must hold: queries plus references from each end."""
    per_end = trials + trials * (refs - 1) + trials  # the last reference rank is trials + trials*(refs-1) + trials-1
    return int(np.ceil(2 * per_end / (1 - 2 * max(quantiles))))


def _trial_ranks(trials: int, refs: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ranks (from one end) of the query of each trial, and of its references ``(trials, refs)``."""
    queries = np.arange(trials)
    references = trials + trials * np.arange(refs)[None, :] + np.arange(trials)[:, None]
    return queries, references


def _sorted_orders(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's image indices by ascending and by descending value, ties in image order both ways (as stable
    sorts give them). A row without ties is sorted once, unstably, and read backwards for the descending order."""
    up = np.argsort(rows, axis=1)
    down = up[:, ::-1].copy()
    tied = (np.diff(np.take_along_axis(rows, up, axis=1), axis=1) == 0).any(1)
    if tied.any():
        up[tied] = np.argsort(rows[tied], axis=1, kind="stable")
        down[tied] = np.argsort(-rows[tied], axis=1, kind="stable")
    return up, down


def _distances(f: torch.Tensor, gram: torch.Tensor | None, queries: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """L2 distances ``(..., Q, R)`` between the feature rows ``queries`` ``(..., Q)`` and ``references``
    ``(..., R)``: read off the Gram matrix ``f f^T`` when given, else gathered and computed directly."""
    if gram is None:
        shape = queries.shape[:-1]
        d = torch.cdist(f[queries].reshape(-1, queries.shape[-1], f.shape[1]), f[references].reshape(-1, references.shape[-1], f.shape[1]))
        return d.reshape(*shape, queries.shape[-1], references.shape[-1])
    sq = gram.diagonal()
    q, r = queries[..., :, None], references[..., None, :]
    return (sq[q] + sq[r] - 2 * gram[q, r]).clamp_min(0).sqrt()


def interpretability_index(
    activations, images=None, metric="pixel", features=None, quantiles=QUANTILES, trials: int = TRIALS,
    refs: int = REFS, random_state: int = 0,
) -> dict:  # fmt: skip
    """The II of every unit (column) of ``activations`` (``(N, U)``) over ``images`` (``(N, ...)``).

    ``metric`` is a name of :data:`METRICS` or a function ``images -> (N, F)``; or pass precomputed
    ``features`` (``(N, F)``). Returns ``{"ii": (U,) mean over quantiles, "per_quantile": {q: (U,)},
    "quantiles": ...}``.
    """
    a = torch.as_tensor(np.asarray(activations), dtype=torch.float64)
    if a.ndim != 2:
        raise LatentLensError(f"activations must be (images, units), got shape {tuple(a.shape)}")
    if not torch.isfinite(a).all():
        raise LatentLensError("activations contain NaN or infinite values")
    if features is None:
        if images is None:
            raise LatentLensError("pass images (and a metric) or precomputed features")
        fn = METRICS.get(metric) if isinstance(metric, str) else metric
        if fn is None:
            raise LatentLensError(f"unknown metric {metric!r} (known: {', '.join(METRICS)}, or a function)")
        features = fn(torch.as_tensor(images))
    f = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features) else features).double()
    f = f.reshape(len(f), -1)
    n, units = a.shape
    if len(f) != n:
        raise LatentLensError(f"{len(f)} images' features for {n} rows of activations")
    need = needed_images(quantiles, trials, refs)
    if n < need:
        raise LatentLensError(f"the interpretability index needs at least {need} images, got {n}")
    rng = np.random.default_rng(random_state)
    q_rank, r_rank = _trial_ranks(trials, refs)
    per_quantile = {}
    # one sort of each unit each way serves every quantile: a window [lo, hi] is a contiguous block of the
    # sorted order. Ties (a ReLU unit's zeros) are broken by image order both ways, as in the loop version.
    rows = np.ascontiguousarray(a.numpy().T)  # (U, N), each unit contiguous
    up_all, down_all = (torch.as_tensor(order) for order in _sorted_orders(rows))
    levels = sorted({*quantiles, *(1 - q for q in quantiles)})
    gram = f @ f.T if n <= GRAM_MAX_IMAGES else None  # every distance a trial needs is then a lookup
    bounds = torch.as_tensor(np.quantile(rows, levels, axis=1))  # as np.quantile draws each unit's window
    ranks = torch.arange(trials + trials * refs)  # the window ranks a trial reads, from either end
    for q in quantiles:
        lo, hi = bounds[levels.index(q)], bounds[levels.index(1 - q)]
        scores = torch.empty(units, dtype=torch.float64)
        below, above = (a < lo).sum(0), (a > hi).sum(0)  # where each window's block starts in each order
        count = a.shape[0] - below - above
        if int(count.min()) < 2 * (trials + trials * refs):
            raise LatentLensError(f"quantile window {q} keeps only {int(count.min())} images for some unit")
        order_up = up_all.gather(1, below[:, None] + ranks[None, :]).T  # (ranks, U): window images, ascending
        order_down = down_all.gather(1, above[:, None] + ranks[None, :]).T
        perm_top = torch.as_tensor(np.stack([rng.permutation(trials) for _ in range(units)]))  # shuffled queries
        perm_bottom = torch.as_tensor(np.stack([rng.permutation(trials) for _ in range(units)]))
        top_q = order_down[torch.as_tensor(q_rank)].T.gather(1, perm_top)  # (U, trials) image index
        bottom_q = order_up[torch.as_tensor(q_rank)].T.gather(1, perm_bottom)
        top_r = order_down[torch.as_tensor(r_rank.reshape(-1))].T.reshape(units, trials, refs)
        bottom_r = order_up[torch.as_tensor(r_rank.reshape(-1))].T.reshape(units, trials, refs)
        chunk = units if gram is not None else max(1, int(2**26 // max(1, trials * (2 + 2 * refs) * f.shape[1])))
        for start in range(0, units, chunk):
            sl = slice(start, start + chunk)
            refs_all = torch.cat([top_r[sl], bottom_r[sl]], dim=2)  # (u, T, 2*refs): top refs, then bottom refs
            queries = torch.stack([top_q[sl], bottom_q[sl]], dim=2)  # (u, T, 2)
            sim = -_distances(f, gram, queries, refs_all)
            flat = sim.flatten(2)
            sim = (sim - flat.mean(2)[..., None, None]) / flat.std(2).clamp_min(1e-12)[..., None, None]
            correct = sim[:, :, 0, :refs].mean(2) + sim[:, :, 1, refs:].mean(2)
            swapped = sim[:, :, 1, :refs].mean(2) + sim[:, :, 0, refs:].mean(2)
            scores[sl] = torch.sigmoid(correct - swapped).mean(1)
        per_quantile[q] = scores
    ii = torch.stack(list(per_quantile.values())).mean(0)
    return {"ii": ii.numpy(), "per_quantile": {q: v.numpy() for q, v in per_quantile.items()}, "quantiles": list(quantiles)}


def interpretability_index_loop(activations, features, quantiles=QUANTILES, trials=TRIALS, refs=REFS, random_state=0):
    """The same index written as the reference code computes it: one unit and one trial at a time (a slow
    reference for tests and the speed benchmark)."""
    a = np.asarray(activations, dtype=np.float64)
    f = np.asarray(features, dtype=np.float64).reshape(len(a), -1)
    rng = np.random.default_rng(random_state)
    out = {}
    for q in quantiles:
        scores = []
        perm_top = [rng.permutation(trials) for _ in range(a.shape[1])]  # drawn in the vectorised code's order
        perm_bottom = [rng.permutation(trials) for _ in range(a.shape[1])]
        for u in range(a.shape[1]):
            col = a[:, u]
            lo, hi = np.quantile(col, q), np.quantile(col, 1 - q)
            keep = np.flatnonzero((col >= lo) & (col <= hi))
            up = keep[np.argsort(col[keep], kind="stable")]
            down = keep[np.argsort(-col[keep], kind="stable")]
            tops, bottoms = down[:trials][perm_top[u]], up[:trials][perm_bottom[u]]
            trial_scores = []
            for t in range(trials):
                top_refs = down[trials + trials * np.arange(refs) + t]
                bottom_refs = up[trials + trials * np.arange(refs) + t]
                sims = []
                for query in (tops[t], bottoms[t]):
                    for ref in np.concatenate([top_refs, bottom_refs]):
                        sims.append(-np.linalg.norm(f[query] - f[ref]))
                s = np.asarray(sims).reshape(2, 2 * refs)
                s = (s - s.mean()) / max(s.std(ddof=1), 1e-12)
                correct = s[0, :refs].mean() + s[1, refs:].mean()
                swapped = s[1, :refs].mean() + s[0, refs:].mean()
                trial_scores.append(1 / (1 + np.exp(-(correct - swapped))))
            scores.append(np.mean(trial_scores))
        out[q] = np.asarray(scores)
    return out


# --------------------------------------------------------------------------------------- directions


def kmeans_directions(activations, n_directions: int | None = None, cosine: bool = True, distances: bool = False,
                      random_state: int = 0, readout: str | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """MiniBatchKMeans centroids of the activation vectors (``n_directions`` = number of units by default;
    ``cosine``: on L2-normalised vectors) as new units: ``(directions (K, U), new activations (N, K))``.

    ``readout`` says what a new unit's activation is: ``"projection"`` (default; ``a . c``, the paper's), ``"distance"``
    (``-||a - c||``, the paper's ``--distances``; same as ``distances=True``) or ``"cosine"`` (``a . c / ||a||``: how
    much the activation vector points along the centroid, whatever its length)."""
    readout = readout or ("distance" if distances else "projection")
    from sklearn.cluster import MiniBatchKMeans

    a = np.asarray(activations, dtype=np.float64)
    k = n_directions or a.shape[1]
    x = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12) if cosine else a
    km = MiniBatchKMeans(n_clusters=k, random_state=random_state, n_init=3, batch_size=1024).fit(x)
    centres = km.cluster_centers_
    dirs = centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    if readout == "distance":
        return dirs, -km.transform(x)
    if readout == "cosine":
        return dirs, (a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)) @ dirs.T
    if readout != "projection":
        raise LatentLensError(f"readout must be projection, distance or cosine, got {readout!r}")
    return dirs, a @ dirs.T


def pca_directions(activations, n_directions: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(activations, dtype=np.float64)
    k = n_directions or a.shape[1]
    centred = a - a.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    dirs = vt[:k]
    return dirs, a @ dirs.T


def ica_directions(activations, n_directions: int | None = None, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.decomposition import FastICA

    a = np.asarray(activations, dtype=np.float64)
    k = n_directions or a.shape[1]
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # ICA is a baseline; a slow convergence still gives usable directions
        warnings.simplefilter("ignore", ConvergenceWarning)
        ica = FastICA(n_components=k, random_state=random_state, max_iter=1000, whiten="unit-variance").fit(a)
    dirs = ica.components_ / np.maximum(np.linalg.norm(ica.components_, axis=1, keepdims=True), 1e-12)
    return dirs, a @ dirs.T


def random_directions(activations, n_directions: int | None = None, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(activations, dtype=np.float64)
    k = n_directions or a.shape[1]
    dirs = np.random.default_rng(random_state).normal(size=(k, a.shape[1]))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return dirs, a @ dirs.T


def kmeans_distance_directions(activations, n_directions: int | None = None, random_state: int = 0):
    """k-means on the raw activation vectors, each new unit the negative distance to its centroid (the paper's
    ``--distances`` without ``--normalized``): a unit is high only near its centroid, so both ends of its range
    are coherent, where a projection's low end mixes whatever points away."""
    return kmeans_directions(activations, n_directions, cosine=False, readout="distance", random_state=random_state)


DIRECTION_METHODS = {"kmeans": kmeans_directions, "kmeans-distance": kmeans_distance_directions, "pca": pca_directions,
                     "ica": ica_directions, "random": random_directions}  # fmt: skip


def power_law_exponent(activations, fit_range: tuple[int, int] = (2, 100)) -> dict:
    """Eigenspectrum of the activations' covariance and the exponent ``alpha`` of ``lambda_n ~ n^-alpha``
    (least squares on log-log over the ranks in ``fit_range``; Stringer et al. 2019)."""
    a = np.asarray(activations, dtype=np.float64)
    eig = np.sort(np.linalg.eigvalsh(np.cov(a, rowvar=False)))[::-1]
    eig = np.clip(eig, 1e-12, None)
    lo, hi = fit_range[0], min(fit_range[1], len(eig))
    ranks = np.arange(1, len(eig) + 1)
    if hi - lo < 2:
        return {"eigenvalues": eig.tolist(), "alpha": float("nan")}
    slope = np.polyfit(np.log(ranks[lo - 1 : hi]), np.log(eig[lo - 1 : hi]), 1)[0]
    return {"eigenvalues": eig.tolist(), "alpha": float(-slope), "fit_range": [lo, hi]}
