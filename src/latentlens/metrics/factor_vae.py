"""FactorVAE score (Kim & Mnih, ICML 2018), disentanglement_lib recipe.

Kim & Mnih, "Disentangling by Factorising", §4 (and Appendix B): normalise each code dimension by its standard
deviation over the data, discard collapsed dimensions; for one vote pick a factor ``k``, draw ``L`` samples that
share the value of factor ``k``, and take the dimension with the smallest normalised variance,
``argmin_j Var_l(z_lj) / s_j^2``; a majority-vote classifier maps each dimension to the factor it most often
wins for; the score is that classifier's accuracy on fresh votes.

Recipe: dlib's ``factor_vae.py`` (Locatello et al. 2019):

1. ``s_j^2`` = ``np.var(..., ddof=1)`` of **10,000** encoded random observations;
2. dimension ``j`` is active iff ``s_j >= 0.05`` (``prune_dims.threshold``); no active dimension -> score 0;
3. a vote: ``k`` uniform, a batch of ``L = 64`` factor rows all set to row 0's value of factor ``k``; local
   variance with ddof 1; ``argmin`` over active dimensions of ``var_local / s^2``;
4. **10,000** training votes fill ``V`` (factors x dims); classifier ``c(j) = argmax_k V[k, j]``;
   train accuracy ``sum_j V[c(j), j] / sum V``; eval accuracy the same with **5,000** new votes ``W`` scored by
   the train classifier. Reported score: the eval accuracy (chance = 1 / #factors).

dlib writes the argmin's position in the list of *active* dimensions into the columns of all dimensions,
which relabels columns consistently; we record the true dimension instead, which gives the same score and a
readable vote matrix. ``num_active_dims`` is the count (dlib's returns the mask length).

Vectorisation: per vote set all randomness is drawn up front (``k`` for every vote, then all ``n * L`` factor
rows in one ``sample_factors`` call); chunks of votes are encoded together and their variances, ratios and
argmins are one array expression; the votes are counted with ``np.bincount``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import LatentLensError
from ._sampling import (
    RandomState,
    RepresentationFn,
    as_generator,
    check_data,
    codes_of_factors,
    sample_factors,
)

RECIPE_NAME = "disentanglement_lib/factor_vae"
NUM_TRAIN = 10_000
NUM_EVAL = 5_000
NUM_VARIANCE_ESTIMATE = 10_000
BATCH_SIZE = 64
PRUNE_THRESHOLD = 0.05


def draw_votes(data: Any, num_votes: int, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Factor ``k`` per vote (n,) and its batch (n, L, F) in which factor ``k`` equals the first row's value."""
    num_factors = len(data.factor_sizes)
    labels = rng.integers(0, num_factors, size=num_votes)
    factors = sample_factors(data, num_votes * batch_size, rng).reshape(num_votes, batch_size, num_factors)
    rows = np.arange(num_votes)
    factors[rows, :, labels] = factors[rows, 0, labels][:, None]
    return labels, factors


def vote_winners(
    data: Any,
    representation_fn: RepresentationFn,
    factors: np.ndarray,
    global_variances: np.ndarray,
    active_dims: np.ndarray,
    encode_batch_size: int = 512,
) -> np.ndarray:
    """The winning code dimension of every vote batch (n, L, F) -> (n,) indices into all dimensions."""
    n, length, num_factors = factors.shape
    active_index = np.flatnonzero(active_dims)
    per_chunk = max(1, int(encode_batch_size) // length)
    winners = np.empty(n, dtype=np.int64)
    for start in range(0, n, per_chunk):
        stop = min(n, start + per_chunk)
        flat = factors[start:stop].reshape(-1, num_factors)
        z = codes_of_factors(data, representation_fn, flat, max(int(encode_batch_size), flat.shape[0]))
        local = np.var(z.reshape(stop - start, length, -1), axis=1, ddof=1)
        ratio = local[:, active_dims] / global_variances[active_dims]
        winners[start:stop] = active_index[np.argmin(ratio, axis=1)]
    return winners


def factor_vae_score(
    data: Any,
    representation_fn: RepresentationFn,
    *,
    num_train: int = NUM_TRAIN,
    num_eval: int = NUM_EVAL,
    num_variance_estimate: int = NUM_VARIANCE_ESTIMATE,
    batch_size: int = BATCH_SIZE,
    prune_threshold: float = PRUNE_THRESHOLD,
    random_state: RandomState = 0,
    encode_batch_size: int = 512,
) -> dict[str, Any]:
    """FactorVAE score of a representation on ground-truth data.

    Parameters
    ----------
    num_train, num_eval : training / evaluation votes (dlib: 10,000 / 5,000).
    num_variance_estimate : observations for the global variances (dlib: 10,000).
    batch_size : samples per vote, sharing one factor value (dlib: 64; at least 2).
    prune_threshold : a dimension is active iff its global std is >= this (dlib: 0.05).
    random_state : int, Generator or None; variance set, then train votes, then eval votes.

    Returns
    -------
    dict with ``factor_vae_score`` (eval accuracy), ``train_accuracy``, ``eval_accuracy``,
    ``num_active_dims``, ``active_dims``, ``global_variances``, ``votes_train`` (F x d), ``recipe``.
    """
    num_factors = len(check_data(data))
    if batch_size < 2:
        raise LatentLensError("factor_vae needs batch_size >= 2 (variance with ddof=1)")
    if num_train < 1 or num_eval < 1 or num_variance_estimate < 2:
        raise LatentLensError("factor_vae needs num_train, num_eval >= 1 and num_variance_estimate >= 2")
    rng = as_generator(random_state)
    codes = codes_of_factors(data, representation_fn, sample_factors(data, num_variance_estimate, rng),
                             encode_batch_size)
    global_variances = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(global_variances) >= prune_threshold
    dims = codes.shape[1]
    recipe = {
        "name": RECIPE_NAME,
        "paper": "Kim & Mnih, ICML 2018, section 4",
        "num_train": int(num_train),
        "num_eval": int(num_eval),
        "num_variance_estimate": int(num_variance_estimate),
        "batch_size": int(batch_size),
        "prune_threshold": float(prune_threshold),
        "variance_ddof": 1,
        "encoder_passes": int(num_variance_estimate + (num_train + num_eval) * batch_size),
        "classifier": "majority vote",
    }
    result: dict[str, Any] = {
        "num_active_dims": int(active.sum()),
        "active_dims": np.flatnonzero(active).tolist(),
        "global_variances": global_variances.astype(np.float64).tolist(),
    }
    if not active.any():
        return {"factor_vae_score": 0.0, "train_accuracy": 0.0, "eval_accuracy": 0.0, **result,
                "votes_train": np.zeros((num_factors, dims), dtype=np.int64).tolist(), "recipe": recipe}

    def votes(n: int) -> np.ndarray:
        labels, factors = draw_votes(data, n, batch_size, rng)
        winners = vote_winners(data, representation_fn, factors, global_variances, active, encode_batch_size)
        return np.bincount(labels * dims + winners, minlength=num_factors * dims).reshape(num_factors, dims)

    train_votes = votes(num_train)
    classifier = np.argmax(train_votes, axis=0)
    columns = np.arange(dims)
    train_acc = float(np.sum(train_votes[classifier, columns]) / np.sum(train_votes))
    eval_votes = votes(num_eval)
    eval_acc = float(np.sum(eval_votes[classifier, columns]) / np.sum(eval_votes))
    return {"factor_vae_score": eval_acc, "train_accuracy": train_acc, "eval_accuracy": eval_acc, **result,
            "votes_train": train_votes.tolist(), "recipe": recipe}
