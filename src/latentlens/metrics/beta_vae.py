"""BetaVAE score (Higgins et al., ICLR 2017), disentanglement_lib recipe ``beta_vae_sklearn``.

Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework", §3
(Eq. 3 and Appendix A.4): pick a factor ``k`` uniformly; draw ``L`` pairs of factor vectors that agree on
factor ``k`` only by construction; encode both halves and take ``z_diff = 1/L sum_l |z1_l - z2_l|``; a linear
classifier predicts ``k`` from ``z_diff``; the score is its accuracy on held-out points.

Recipe: dlib's ``beta_vae.py`` (Locatello et al. 2019): ``L = batch_size = 64`` pairs per point, **10,000**
training and **5,000** evaluation points, ``sklearn.linear_model.LogisticRegression`` (dlib used the library
defaults, whose solver changed across versions; we pin lbfgs, C=1, max_iter=10,000). Reported score: the
evaluation accuracy (chance = 1 / #factors). Cost: ``(num_train + num_eval) * 2 * L`` encoder passes.

Vectorisation: for a set of ``n`` points all randomness is drawn up front (``k`` for every point, then the
``n * L`` rows of the first halves and of the second halves, each in one ``sample_factors`` call), the pairs are
rendered and encoded ``encode_batch_size`` observations at a time, and the features of a whole chunk come from
one array expression. The distribution is dlib's; the random stream differs (dlib draws point by point from a
``RandomState``), so numbers match dlib's statistically, and match exactly across runs with one seed.
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
    lean_sklearn,
    sample_factors,
    single_threaded_blas,
    sklearn_version,
)

RECIPE_NAME = "disentanglement_lib/beta_vae_sklearn"
NUM_TRAIN = 10_000
NUM_EVAL = 5_000
BATCH_SIZE = 64
LOGREG_PARAMS = {"C": 1.0, "solver": "lbfgs", "max_iter": 10_000, "tol": 1e-4, "random_state": 0}


def draw_pairs(
    data: Any, num_points: int, batch_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels ``k`` (n,) and the two factor halves (n, L, F), the second copying factor ``k`` of the first."""
    num_factors = len(data.factor_sizes)
    labels = rng.integers(0, num_factors, size=num_points)
    first = sample_factors(data, num_points * batch_size, rng).reshape(num_points, batch_size, num_factors)
    second = sample_factors(data, num_points * batch_size, rng).reshape(num_points, batch_size, num_factors)
    rows = np.arange(num_points)
    second[rows, :, labels] = first[rows, :, labels]
    return labels, first, second


def pair_features(
    data: Any,
    representation_fn: RepresentationFn,
    first: np.ndarray,
    second: np.ndarray,
    encode_batch_size: int = 512,
) -> np.ndarray:
    """``mean_l |z(first_l) - z(second_l)|`` for every point -> (n, d), encoding whole chunks of points."""
    n, length, num_factors = first.shape
    per_chunk = max(1, int(encode_batch_size) // (2 * length))
    out = []
    for start in range(0, n, per_chunk):
        stop = min(n, start + per_chunk)
        both = np.concatenate([first[start:stop], second[start:stop]], axis=0).reshape(-1, num_factors)
        z = codes_of_factors(data, representation_fn, both, max(int(encode_batch_size), both.shape[0]))
        z = z.reshape(2, stop - start, length, -1)
        out.append(np.mean(np.abs(z[0] - z[1]), axis=1))
    return np.concatenate(out, axis=0)


def beta_vae_score(
    data: Any,
    representation_fn: RepresentationFn,
    *,
    num_train: int = NUM_TRAIN,
    num_eval: int = NUM_EVAL,
    batch_size: int = BATCH_SIZE,
    random_state: RandomState = 0,
    encode_batch_size: int = 512,
) -> dict[str, Any]:
    """BetaVAE score of a representation on ground-truth data.

    Parameters
    ----------
    data : ground-truth data (``factor_sizes``, ``sample_factors(n, rng)``, ``images(factors)``).
    representation_fn : observations -> (n, d) codes.
    num_train, num_eval : classifier training / evaluation points (dlib: 10,000 / 5,000).
    batch_size : pairs averaged per point (dlib: 64).
    random_state : int, Generator or None; the training set is drawn before the evaluation set.
    encode_batch_size : observations per representation call (speed only).

    Returns
    -------
    dict with ``beta_vae_score`` (evaluation accuracy), ``train_accuracy``, ``eval_accuracy``, ``recipe``.
    """
    from sklearn.linear_model import LogisticRegression

    check_data(data)
    if num_train < 1 or num_eval < 1 or batch_size < 1:
        raise LatentLensError("beta_vae needs num_train, num_eval and batch_size >= 1")
    rng = as_generator(random_state)
    train_labels, first, second = draw_pairs(data, num_train, batch_size, rng)
    train_x = pair_features(data, representation_fn, first, second, encode_batch_size)
    eval_labels, first, second = draw_pairs(data, num_eval, batch_size, rng)
    eval_x = pair_features(data, representation_fn, first, second, encode_batch_size)
    if np.unique(train_labels).size < 2:
        only = train_labels[0]
        train_acc, eval_acc = 1.0, float(np.mean(eval_labels == only))
    else:
        with single_threaded_blas(), lean_sklearn():
            model = LogisticRegression(**LOGREG_PARAMS).fit(train_x, train_labels)
            train_acc = float(model.score(train_x, train_labels))
            eval_acc = float(model.score(eval_x, eval_labels))
    return {
        "beta_vae_score": eval_acc,
        "train_accuracy": train_acc,
        "eval_accuracy": eval_acc,
        "recipe": {
            "name": RECIPE_NAME,
            "paper": "Higgins et al., ICLR 2017, section 3 and appendix A.4",
            "num_train": int(num_train),
            "num_eval": int(num_eval),
            "batch_size": int(batch_size),
            "encoder_passes": int((num_train + num_eval) * 2 * batch_size),
            "classifier": "sklearn.linear_model.LogisticRegression",
            "classifier_params": dict(LOGREG_PARAMS),
            "sklearn": sklearn_version(),
        },
    }
