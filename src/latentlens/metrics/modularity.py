"""Modularity and explicitness (Ridgeway & Mozer, NeurIPS 2018), disentanglement_lib recipe.

Ridgeway & Mozer, "Learning Deep Disentangled Embeddings With the F-Statistic Loss", §3 (Eq. 2): with
``m[j, k]`` the mutual information between code ``j`` and factor ``k``, ``theta_j = max_k m[j, k]`` and a
template ``t`` that keeps only the largest entry of row ``j``,

    delta_j = sum_k (m[j, k] - t[j, k])^2 / (theta_j^2 (K - 1)),   modularity_j = 1 - delta_j,

i.e. ``delta_j = (sum_k m_jk^2 - max_k m_jk^2) / (max_k m_jk^2 (K - 1))``; modularity is the mean over codes
(a code with no information about any factor scores 0). Explicitness is the ROC-AUC of a linear classifier
predicting each factor's classes one-vs-rest from all codes, averaged over classes and factors.

Recipe: dlib's ``modularity_explicitness.py`` (Locatello et al. 2019), 10,000 train and 5,000 test points.
``m`` is the 20-bin plug-in MI of the train set (as for MIG); explicitness standardises codes with the train
mean and std (ddof 0), fits ``sklearn.linear_model.LogisticRegression`` (pinned: lbfgs, C=1, max_iter=10,000;
dlib used the library defaults) per factor and scores ``predict_proba`` against the one-hot labels with the
macro ROC-AUC. The AUC of every class column comes from one vectorised rank computation (Mann-Whitney,
ties averaged), equal to ``sklearn.metrics.roc_auc_score``. Departures, only where dlib breaks: a constant code
is standardised with std 1; class columns without both positives and negatives in the scored set are left
out of the macro average (sklearn raises there); with a single factor an informative code has modularity 1; a factor with one training class gets NaN explicitness and
is left out of the mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from ._sampling import (
    NUM_BINS,
    RandomState,
    RepresentationFn,
    as_generator,
    check_codes_factors,
    check_data,
    histogram_discretize,
    lean_sklearn,
    mutual_info_matrix,
    parallel_map,
    sample_train_test_codes,
    single_threaded_blas,
    sklearn_version,
)

RECIPE_NAME = "disentanglement_lib/modularity_explicitness"
NUM_TRAIN = 10_000
NUM_TEST = 5_000
LOGREG_PARAMS = {"C": 1.0, "solver": "lbfgs", "max_iter": 10_000, "tol": 1e-4, "random_state": 0}


def modularity_per_code(mutual_information: Any) -> np.ndarray:
    """``1 - delta_j`` for every code (rows of an MI or importance matrix, codes x factors); 0 where max is 0."""
    squared = np.square(np.asarray(mutual_information, dtype=np.float64))
    max_squared = np.max(squared, axis=1)
    numerator = np.sum(squared, axis=1) - max_squared
    denominator = max_squared * (squared.shape[1] - 1.0)
    if squared.shape[1] == 1:  # one factor: every informative code is modular (dlib divides 0 by 0)
        return np.where(max_squared > 0.0, 1.0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = 1.0 - numerator / denominator
    score[max_squared == 0.0] = 0.0
    return score


def modularity_from_mi(mutual_information: Any) -> float:
    """Modularity of an MI matrix (codes x factors): dlib's ``modularity``."""
    return float(np.mean(modularity_per_code(mutual_information)))


def macro_roc_auc(onehot: np.ndarray, scores: np.ndarray) -> float:
    """Macro one-vs-rest ROC-AUC over the columns that contain both classes (rank formula, ties averaged)."""
    onehot = np.asarray(onehot, dtype=bool)
    n_pos = onehot.sum(axis=0)
    n_neg = onehot.shape[0] - n_pos
    valid = (n_pos > 0) & (n_neg > 0)
    if not valid.any():
        return float("nan")
    ranks = rankdata(scores[:, valid], axis=0)
    rank_sum = np.where(onehot[:, valid], ranks, 0.0).sum(axis=0)
    pos, neg = n_pos[valid].astype(np.float64), n_neg[valid].astype(np.float64)
    auc = (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)
    return float(np.mean(auc))


def _explicitness_one(args: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    x_train, y_train, x_test, y_test = args
    if np.unique(y_train).size < 2:
        return float("nan"), float("nan")
    with lean_sklearn():
        model = LogisticRegression(**LOGREG_PARAMS).fit(x_train, y_train)
        proba_train, proba_test = model.predict_proba(x_train), model.predict_proba(x_test)
    classes = model.classes_
    auc_train = macro_roc_auc(y_train[:, None] == classes[None, :], proba_train)
    auc_test = macro_roc_auc(y_test[:, None] == classes[None, :], proba_test)
    return auc_train, auc_test


def standardize(codes_train: np.ndarray, codes_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dlib's ``normalize_data``: subtract the train mean, divide by the train std (ddof 0; 0 -> 1)."""
    mean = np.mean(codes_train, axis=0)
    std = np.std(codes_train, axis=0)
    std = np.where(std > 0, std, np.ones_like(std))
    return (codes_train - mean) / std, (codes_test - mean) / std


def compute_modularity(codes: Any, factors: Any, *, num_bins: int = NUM_BINS) -> dict[str, Any]:
    """Modularity of precomputed codes: 20-bin MI matrix, then :func:`modularity_from_mi`."""
    z, y = check_codes_factors(codes, factors)
    mi = mutual_info_matrix(histogram_discretize(z, num_bins), y)
    per_code = modularity_per_code(mi)
    return {
        "modularity": float(np.mean(per_code)),
        "modularity_per_code": per_code.tolist(),
        "mi_matrix": mi.tolist(),
        "recipe": {"name": RECIPE_NAME, "paper": "Ridgeway & Mozer, NeurIPS 2018, Eq. 2",
                   "num_train": int(z.shape[0]), "num_bins": int(num_bins)},
    }


def compute_explicitness(
    codes_train: Any, factors_train: Any, codes_test: Any, factors_test: Any, *, n_jobs: int | None = None
) -> dict[str, Any]:
    """Explicitness of precomputed codes: per-factor logistic regression, macro ROC-AUC (train and test)."""
    z_train, y_train = check_codes_factors(codes_train, factors_train)
    z_test, y_test = check_codes_factors(codes_test, factors_test)
    x_train, x_test = standardize(z_train, z_test)
    jobs = [(x_train, y_train[:, k], x_test, y_test[:, k]) for k in range(y_train.shape[1])]
    order = sorted(range(len(jobs)), key=lambda k: -np.unique(y_train[:, k]).size)
    with single_threaded_blas():
        fitted = parallel_map(_explicitness_one, [jobs[k] for k in order], n_jobs)
    per_factor: list[Any] = [None] * len(jobs)
    for k, res in zip(order, fitted):
        per_factor[k] = res
    train = np.array([res[0] for res in per_factor])
    test = np.array([res[1] for res in per_factor])

    def _mean(a: np.ndarray) -> float:
        return float(np.mean(a[np.isfinite(a)])) if np.isfinite(a).any() else float("nan")

    return {
        "explicitness": _mean(test),
        "explicitness_train": _mean(train),
        "explicitness_test": _mean(test),
        "explicitness_per_factor": [None if not np.isfinite(v) else float(v) for v in test],
        "recipe": {"name": RECIPE_NAME, "paper": "Ridgeway & Mozer, NeurIPS 2018, section 3",
                   "num_train": int(z_train.shape[0]), "num_test": int(z_test.shape[0]),
                   "classifier": "sklearn.linear_model.LogisticRegression",
                   "classifier_params": dict(LOGREG_PARAMS), "score": "macro one-vs-rest ROC-AUC",
                   "sklearn": sklearn_version()},
    }


def compute_modularity_explicitness(
    codes_train: Any, factors_train: Any, codes_test: Any, factors_test: Any, *,
    num_bins: int = NUM_BINS, n_jobs: int | None = None,
) -> dict[str, Any]:
    """Both scores of one dlib run: modularity on the train set, explicitness train -> test."""
    mod = compute_modularity(codes_train, factors_train, num_bins=num_bins)
    exp = compute_explicitness(codes_train, factors_train, codes_test, factors_test, n_jobs=n_jobs)
    recipe = {**exp["recipe"], "num_bins": int(num_bins), "paper": "Ridgeway & Mozer, NeurIPS 2018"}
    return {**{k: v for k, v in mod.items() if k != "recipe"},
            **{k: v for k, v in exp.items() if k != "recipe"}, "recipe": recipe}


def modularity_explicitness_score(
    data: Any,
    representation_fn: RepresentationFn,
    *,
    num_train: int = NUM_TRAIN,
    num_test: int = NUM_TEST,
    num_bins: int = NUM_BINS,
    random_state: RandomState = 0,
    encode_batch_size: int = 512,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Modularity and explicitness on ground-truth data (``num_train`` then ``num_test`` uniform samples)."""
    check_data(data)
    rng = as_generator(random_state)
    codes_train, factors_train, codes_test, factors_test = sample_train_test_codes(
        data, representation_fn, num_train, num_test, rng, encode_batch_size
    )
    return compute_modularity_explicitness(codes_train, factors_train, codes_test, factors_test,
                                           num_bins=num_bins, n_jobs=n_jobs)
