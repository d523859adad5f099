"""Shared machinery of the disentanglement metrics: randomness, sampling, encoding, binning, mutual information.

The metrics follow disentanglement_lib (Locatello et al., ICML 2019, ``evaluation/metrics/utils.py``):

* codes of ``n`` ground-truth samples are drawn by sampling factor classes uniformly
  (``data.sample_factors``), rendering them (``data.images``) and encoding them with the representation
  function (:func:`sample_codes`); dlib draws them 16 at a time, we draw all factor rows in one call and
  encode in chunks of ``encode_batch_size`` observations, which changes nothing but speed;
* a code dimension is discretised into 20 equal-width bins between its minimum and maximum,
  ``np.digitize(z_j, np.histogram(z_j, 20)[1][:-1])`` (:func:`histogram_discretize`), keeping the codes' dtype
  as dlib does (float32 codes give float32 edges);
* ``m[j, k]`` is the plug-in mutual information, in nats, between binned code ``j`` and factor ``k``, equal to
  ``sklearn.metrics.mutual_info_score(factor_k, code_j)``; :func:`mutual_info_matrix` computes the whole
  matrix from contingency tables built by one ``np.bincount`` per chunk of codes instead of one sklearn call
  per pair, reproducing sklearn's formula term by term (same to ~1e-15).

Arrays are row-major: ``codes`` is ``(n, d)`` and ``factors`` is ``(n, F)`` (dlib stores their transposes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import numpy as np

from ..errors import LatentLensError

NUM_BINS = 20
RandomState = int | np.random.Generator | None
RepresentationFn = Callable[[Any], Any]
T = TypeVar("T")
R = TypeVar("R")


class GroundTruthData(Protocol):
    """What the metrics need from a data set with known factors (e.g. ``latentlens.data.dsprites.DSprites``)."""

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def images(self, factors: np.ndarray) -> Any: ...


def as_generator(random_state: RandomState) -> np.random.Generator:
    """``np.random.default_rng(random_state)``, passing a Generator through unchanged."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def derive_seed(rng: np.random.Generator) -> int:
    """An int seed for a scikit-learn estimator, drawn from ``rng`` (deterministic given ``rng``'s state)."""
    return int(rng.integers(0, 2**31 - 1))


def check_data(data: Any) -> tuple[int, ...]:
    """Validate the ground-truth protocol and return ``factor_sizes``."""
    for name in ("factor_sizes", "sample_factors", "images"):
        if not hasattr(data, name):
            raise LatentLensError(f"ground-truth data needs {name!r} (factor_names, factor_sizes, "
                                  f"sample_factors(n, rng), images(factors)); {type(data).__name__} has none")
    sizes = tuple(int(s) for s in data.factor_sizes)
    if not sizes or min(sizes) < 1:
        raise LatentLensError(f"invalid factor_sizes {sizes}")
    return sizes


def factor_names(data: Any) -> list[str]:
    sizes = data.factor_sizes
    names = getattr(data, "factor_names", None)
    if names is None or len(names) != len(sizes):
        return [f"factor_{k}" for k in range(len(sizes))]
    return [str(n) for n in names]


def to_numpy_codes(z: Any) -> np.ndarray:
    """Representation output (numpy array or torch tensor) as a 2-D numpy array, dtype preserved."""
    if hasattr(z, "detach"):
        z = z.detach().cpu().numpy()
    z = np.asarray(z)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2:
        raise LatentLensError(f"the representation function must return (n, d) codes, got shape {z.shape}")
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    return z


def sample_factors(data: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    factors = np.asarray(data.sample_factors(int(n), rng), dtype=np.int64)
    if factors.shape != (int(n), len(data.factor_sizes)):
        raise LatentLensError(f"sample_factors({n}) returned shape {factors.shape}, "
                              f"expected ({n}, {len(data.factor_sizes)})")
    return factors


class CachedCodes:
    """A deterministic representation function that encodes each distinct factor row (image) once.

    Ground-truth data sets with finite factors have a finite number of images (dSprites: 737,280), while the
    interventional metrics draw millions of them (the reference BetaVAE score alone encodes 1.92 M): most
    draws repeat an image already encoded. Codes are kept in a table indexed by the factor row's position
    in the grid of all factor combinations, filled on demand. Only for representations that give an image
    the same code every time (``representation_fn.deterministic``); the codes are those the function
    returns, computed in batches of ``encode_batch_size`` distinct images.
    """

    def __init__(self, representation_fn: RepresentationFn, factor_sizes, encode_batch_size: int = 512):
        self.fn = representation_fn
        self.sizes = tuple(int(s) for s in factor_sizes)
        self.encode_batch_size = max(1, int(encode_batch_size))
        self.table: np.ndarray | None = None
        self.known = np.zeros(int(np.prod(self.sizes)), dtype=bool)
        self.encoded = 0

    def __call__(self, observations: Any) -> Any:  # plain use still works
        return self.fn(observations)

    def codes_of_factors(self, data: Any, factors: np.ndarray) -> np.ndarray:
        index = np.ravel_multi_index(tuple(np.asarray(factors, dtype=np.int64).T), self.sizes)
        missing = np.unique(index[~self.known[index]])
        for start in range(0, len(missing), self.encode_batch_size):
            chunk = missing[start : start + self.encode_batch_size]
            rows = np.stack(np.unravel_index(chunk, self.sizes), axis=1)
            z = to_numpy_codes(self.fn(data.images(rows)))
            if z.shape[0] != len(chunk):
                raise LatentLensError(f"the representation function returned {z.shape[0]} codes for {len(chunk)} observations")
            if self.table is None:
                self.table = np.zeros((len(self.known), z.shape[1]), dtype=z.dtype)
            self.table[chunk] = z
            self.known[chunk] = True
            self.encoded += len(chunk)
        if self.table is None:
            raise LatentLensError("no observations to encode")
        return self.table[index]


def cacheable(data: Any, representation_fn: RepresentationFn, max_images: int = 5_000_000) -> bool:
    """Whether :class:`CachedCodes` applies: a deterministic representation, data that renders a factor row
    to the same image every time (``data.deterministic_images``), and a finite factor grid of at most
    ``max_images`` combinations."""
    sizes = getattr(data, "factor_sizes", None)
    deterministic = getattr(representation_fn, "deterministic", False) and getattr(data, "deterministic_images", False)
    return bool(deterministic) and sizes is not None and (
        int(np.prod([int(s) for s in sizes])) <= max_images
    )


def codes_of_factors(
    data: Any, representation_fn: RepresentationFn, factors: np.ndarray, encode_batch_size: int = 512
) -> np.ndarray:
    """Render ``factors`` (n, F) and encode them, ``encode_batch_size`` observations per call -> (n, d)."""
    if isinstance(representation_fn, CachedCodes):
        return representation_fn.codes_of_factors(data, factors)
    n = factors.shape[0]
    step = max(1, int(encode_batch_size))
    chunks = []
    for start in range(0, n, step):
        z = to_numpy_codes(representation_fn(data.images(factors[start:start + step])))
        if z.shape[0] != min(step, n - start):
            raise LatentLensError(f"the representation function returned {z.shape[0]} codes "
                                  f"for {min(step, n - start)} observations")
        chunks.append(z)
    if not chunks:
        raise LatentLensError("no observations to encode")
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=0)


def sample_codes(
    data: Any,
    representation_fn: RepresentationFn,
    num_points: int,
    rng: np.random.Generator,
    encode_batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """dlib's ``generate_batch_factor_code``: ``num_points`` uniform factor rows and their codes.

    Returns ``(codes (n, d), factors (n, F) int64)``.
    """
    if num_points < 1:
        raise LatentLensError(f"need at least one point, got {num_points}")
    factors = sample_factors(data, num_points, rng)
    return codes_of_factors(data, representation_fn, factors, encode_batch_size), factors


def sample_train_test_codes(
    data: Any,
    representation_fn: RepresentationFn,
    num_train: int,
    num_test: int,
    rng: np.random.Generator,
    encode_batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(codes_train, factors_train, codes_test, factors_test)``: :func:`sample_codes` for ``num_train``, then
    for ``num_test`` points from the same generator, as dlib's train/test metrics draw them."""
    train = sample_codes(data, representation_fn, num_train, rng, encode_batch_size)
    return (*train, *sample_codes(data, representation_fn, num_test, rng, encode_batch_size))


def check_codes_factors(codes: Any, factors: Any, *, min_points: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Coerce ``codes`` to (n, d) floating and ``factors`` to (n, F) int64 with matching n."""
    codes = to_numpy_codes(codes)
    factors = np.asarray(factors)
    if factors.ndim == 1:
        factors = factors[:, None]
    if factors.ndim != 2:
        raise LatentLensError(f"factors must be (n, F), got shape {factors.shape}")
    if not np.issubdtype(factors.dtype, np.integer):
        rounded = np.rint(factors)
        if not np.array_equal(rounded, factors):
            raise LatentLensError("factors must be integer class indices")
        factors = rounded
    factors = factors.astype(np.int64, copy=False)
    if codes.shape[0] != factors.shape[0]:
        raise LatentLensError(f"codes have {codes.shape[0]} rows but factors have {factors.shape[0]}")
    if codes.shape[0] < min_points:
        raise LatentLensError(f"need at least {min_points} points, got {codes.shape[0]}")
    if not np.all(np.isfinite(codes)):
        raise LatentLensError("codes contain NaN or infinite values")
    return codes, factors


def histogram_discretize(codes: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """dlib's ``_histogram_discretize``: per dimension, ``np.digitize(z, np.histogram(z, num_bins)[1][:-1])``.

    Bins are equal-width between the dimension's min and max; labels are 1..num_bins (a constant dimension
    falls into one bin). Returns int64 (n, d). The loop runs over dimensions, not over samples.
    """
    codes = np.asarray(codes)
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        column = codes[:, j]
        edges = np.histogram(column, num_bins)[1][:-1]
        out[:, j] = np.digitize(column, edges)
    return out


def _dense_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relabel each column to 0..c_j-1 (sorted order of its distinct values); returns (labels, c)."""
    n, m = labels.shape
    out = np.empty((n, m), dtype=np.int64)
    counts = np.empty(m, dtype=np.int64)
    for j in range(m):
        column = labels[:, j]
        if np.issubdtype(column.dtype, np.integer) and n and column.min() >= 0 and column.max() < 4 * n + 64:
            present = np.bincount(column) > 0
            remap = np.cumsum(present) - 1
            out[:, j] = remap[column]
            counts[j] = int(present.sum())
        else:
            _, inverse = np.unique(column, return_inverse=True)
            out[:, j] = inverse.ravel()
            counts[j] = int(inverse.max()) + 1 if n else 0
    return out, counts


def mutual_info_matrix(codes_discrete: np.ndarray, factors: np.ndarray, *, max_cells: int = 2**24) -> np.ndarray:
    """Plug-in mutual information (nats) between each discrete code column and each factor column.

    ``m[j, k] == sklearn.metrics.mutual_info_score(factors[:, k], codes_discrete[:, j])`` to ~1e-15: the
    contingency tables of all pairs come from one ``np.bincount`` per chunk of code columns, and the sum over
    non-empty cells uses sklearn's expression (terms below machine epsilon set to 0, result clipped at 0,
    0 when either variable takes a single value).

    Parameters
    ----------
    codes_discrete : (n, d) array of labels (any values; e.g. the output of :func:`histogram_discretize`).
    factors : (n, F) array of labels.

    Returns
    -------
    (d, F) float64 array.
    """
    a = np.asarray(codes_discrete)
    b = np.asarray(factors)
    if a.ndim == 1:
        a = a[:, None]
    if b.ndim == 1:
        b = b[:, None]
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"codes have {a.shape[0]} rows but factors have {b.shape[0]}")
    n, d = a.shape
    f = b.shape[1]
    out = np.zeros((d, f), dtype=np.float64)
    if n == 0 or d == 0 or f == 0:
        return out
    la, ca = _dense_labels(a)
    lb, cb = _dense_labels(b)
    size_a, size_b = int(ca.max()), int(cb.max())
    cells_per_code = f * size_a * size_b
    step = max(1, min(d, max_cells // max(cells_per_code, 1), max_cells // max(n * f, 1)))
    log_n = math.log(n)
    pair_offsets = np.arange(f, dtype=np.int64)[None, None, :]
    for j0 in range(0, d, step):
        j1 = min(d, j0 + step)
        width = j1 - j0
        pair = np.arange(width, dtype=np.int64)[None, :, None] * f + pair_offsets  # (1, width, f)
        index = (pair * size_a + la[:, j0:j1, None]) * size_b + lb[:, None, :]
        table = np.bincount(index.ravel(), minlength=width * cells_per_code)
        table = table.reshape(width, f, size_a, size_b)
        rows = table.sum(axis=3)  # (width, f, size_a): code marginals
        cols = table.sum(axis=2)  # (width, f, size_b): factor marginals
        w, k, i, t = np.nonzero(table)
        nz = table[w, k, i, t]
        p = nz / n
        outer = rows[w, k, i].astype(np.int64) * cols[w, k, t].astype(np.int64)
        terms = p * (np.log(nz) - log_n) + p * (-np.log(outer) + log_n + log_n)
        terms = np.where(np.abs(terms) < np.finfo(np.float64).eps, 0.0, terms)
        sums = np.bincount(w * f + k, weights=terms, minlength=width * f).reshape(width, f)
        sums = np.clip(sums, 0.0, None)
        single = (ca[j0:j1, None] <= 1) | (cb[None, :] <= 1)
        sums[single] = 0.0
        out[j0:j1] = sums
    return out


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """Plug-in entropy (nats) of each factor column: dlib's ``mutual_info_score(y_k, y_k)``."""
    factors = np.asarray(factors)
    if factors.ndim == 1:
        factors = factors[:, None]
    labels, _ = _dense_labels(factors)
    n = factors.shape[0]
    out = np.zeros(factors.shape[1])
    for k in range(factors.shape[1]):
        counts = np.bincount(labels[:, k])
        counts = counts[counts > 0]
        if counts.size > 1:
            # sklearn's expression for the diagonal contingency table of y with itself
            p = counts / n
            terms = p * (np.log(counts) - math.log(n)) + p * (-np.log(counts.astype(np.int64) ** 2)
                                                             + math.log(n) + math.log(n))
            terms = np.where(np.abs(terms) < np.finfo(np.float64).eps, 0.0, terms)
            out[k] = max(float(terms.sum()), 0.0)
    return out


def parallel_map(fn: Callable[[T], R], items: Sequence[T] | Iterable[T], n_jobs: int | None = None) -> list[R]:
    """``[fn(x) for x in items]``, in threads when ``n_jobs`` asks for more than one (sklearn convention:
    None = 1, -1 = all cores). The classifiers' fitting code releases the GIL; results keep input order."""
    items = list(items)
    workers = resolve_n_jobs(n_jobs)
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def single_threaded_blas() -> Any:
    """Context manager pinning the BLAS libraries to one thread (``threadpoolctl``).

    The classifiers here work on small matrices (10^3-10^4 x d); a multi-threaded BLAS spends more time
    synchronising than computing on them (15x slower lbfgs iterations measured on a busy 2-core machine), and
    we parallelise over whole fits instead. Only the BLAS pools are limited, not OpenMP (torch's encoders).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def lean_sklearn() -> Any:
    """``sklearn.config_context`` skipping parameter validation and finiteness checks (inputs are checked
    once up front); it changes no result and saves ~10 % of a GBT fit (validation runs for every tree).
    The context is thread-local, so it is entered inside each fitting function."""
    import sklearn

    return sklearn.config_context(assume_finite=True, skip_parameter_validation=True)


def resolve_n_jobs(n_jobs: int | None) -> int:
    import os

    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return int(n_jobs)


def sklearn_version() -> str:
    import sklearn

    return sklearn.__version__
