"""DCI: disentanglement, completeness, informativeness (Eastwood & Williams, ICLR 2018), dlib recipe.

Eastwood & Williams, "A Framework for the Quantitative Evaluation of Disentangled Representations", §3:
from an importance matrix ``R`` (codes x factors), with ``P_jk = R_jk / sum_k R_jk``

* disentanglement of code j (their Eq. 1-2):  ``D_j = 1 - H_K(P_j.)`` with entropy in base K = #factors,
  and ``D = sum_j rho_j D_j``, ``rho_j = sum_k R_jk / sum R``;
* completeness of factor k (Eq. 3): ``C_k = 1 - H_D(R_.k / sum_j R_jk)`` in base D = #codes, and
  ``C = sum_k w_k C_k`` with ``w_k = sum_j R_jk / sum R`` (dlib weights the factors this way, too);
* informativeness: the prediction quality of the factors from the codes.

The recipe is disentanglement_lib's ``dci.py`` (Locatello et al. 2019), not the paper's Lasso/random forest:
for each factor a ``sklearn.ensemble.GradientBoostingClassifier`` with library defaults (100 stages, learning
rate 0.1, depth 3) predicts the class index from all codes; ``R[:, k] = |feature_importances_|``
(impurity-based); "informativeness" is the mean classification accuracy over factors (train and test);
entropies are taken of ``R + 1e-11`` (``scipy.stats.entropy``); an all-zero ``R`` is replaced by ones for
the weights, which gives 0. Reference counts: 10,000 train and 5,000 test points. One GBT per factor is the
whole cost (a 40-class factor fits 4,000 trees); the fits run in threads with ``n_jobs``. dlib leaves the
GBT's ``random_state`` unset; we draw it from the metric's generator so a seed fixes the result.

A factor with a single class in the training set gets a zero importance column and the accuracy of
predicting that class (dlib would raise). With a single factor every D_j is 1, with a single code every C_k
is 1 (dlib takes an entropy in base 1 and gets NaN).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.stats

from ._sampling import (
    RandomState,
    RepresentationFn,
    as_generator,
    check_codes_factors,
    check_data,
    derive_seed,
    lean_sklearn,
    parallel_map,
    sample_train_test_codes,
    single_threaded_blas,
    sklearn_version,
)

RECIPE_NAME = "disentanglement_lib/dci"
NUM_TRAIN = 10_000
NUM_TEST = 5_000


def _one_minus_entropy(columns: np.ndarray, base: int) -> np.ndarray:
    """``1 - H_base`` of every column of ``columns + 1e-11`` (normalised); 1 when base is 1 (one outcome)."""
    if base <= 1:
        return np.ones(columns.shape[1])
    return 1.0 - scipy.stats.entropy(columns + 1e-11, base=base)


def dci_disentanglement(importance_matrix: Any) -> float:
    """D = sum_j rho_j (1 - H_K(P_j.)) of an importance matrix (codes x factors); dlib's ``disentanglement``."""
    r = np.asarray(importance_matrix, dtype=np.float64)
    per_code = _one_minus_entropy(r.T, r.shape[1])
    if r.sum() == 0.0:
        r = np.ones_like(r)
    code_importance = r.sum(axis=1) / r.sum()
    return float(np.sum(per_code * code_importance))


def dci_completeness(importance_matrix: Any) -> float:
    """C = sum_k w_k (1 - H_D(R_.k / sum_j R_jk)) of an importance matrix; dlib's ``completeness``."""
    r = np.asarray(importance_matrix, dtype=np.float64)
    per_factor = _one_minus_entropy(r, r.shape[0])
    if r.sum() == 0.0:
        r = np.ones_like(r)
    factor_importance = r.sum(axis=0) / r.sum()
    return float(np.sum(per_factor * factor_importance))


def _gbt_params(seed: int, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    params: dict[str, Any] = {"random_state": seed}
    params.update(dict(overrides or {}))
    return params


def _fit_one(args: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]):
    from sklearn.ensemble import GradientBoostingClassifier

    x_train, y_train, x_test, y_test, params = args
    classes = np.unique(y_train)
    if classes.size < 2:
        return np.zeros(x_train.shape[1]), float(np.mean(y_train == classes[0])), float(np.mean(y_test == classes[0]))
    with lean_sklearn():
        model = GradientBoostingClassifier(**params).fit(x_train, y_train)
        importance = np.abs(model.feature_importances_)
        train_acc = float(np.mean(model.predict(x_train) == y_train))
        test_acc = float(np.mean(model.predict(x_test) == y_test))
    return importance, train_acc, test_acc


def compute_dci(
    codes_train: Any,
    factors_train: Any,
    codes_test: Any,
    factors_test: Any,
    *,
    random_state: RandomState = 0,
    gbt_params: Mapping[str, Any] | None = None,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """DCI of precomputed codes: one gradient-boosted classifier per factor (dlib ``_compute_dci``).

    Parameters
    ----------
    codes_train, codes_test : (n, d) codes; factors_train, factors_test : (n, F) integer classes.
    random_state : seeds the classifiers (``GradientBoostingClassifier(random_state=...)``).
    gbt_params : overrides of the sklearn defaults (recorded in the recipe); None keeps the recipe.
    n_jobs : threads over factors (None = 1, -1 = all cores); results do not depend on it.

    Returns
    -------
    dict with ``dci_disentanglement``, ``dci_completeness``, ``dci_informativeness`` (test accuracy),
    ``informativeness_train``, ``importance_matrix`` (d x F list), per-code/per-factor scores, ``recipe``.
    """
    x_train, y_train = check_codes_factors(codes_train, factors_train)
    x_test, y_test = check_codes_factors(codes_test, factors_test)
    if x_train.shape[1] != x_test.shape[1] or y_train.shape[1] != y_test.shape[1]:
        raise ValueError("train and test codes/factors must have the same number of columns")
    seed = derive_seed(as_generator(random_state))
    params = _gbt_params(seed, gbt_params)
    jobs = [(x_train, y_train[:, k], x_test, y_test[:, k], params) for k in range(y_train.shape[1])]
    # largest factors first so threads stay busy
    order = sorted(range(len(jobs)), key=lambda k: -np.unique(y_train[:, k]).size)
    with single_threaded_blas():
        fitted = parallel_map(_fit_one, [jobs[k] for k in order], n_jobs)
    results: list[Any] = [None] * len(jobs)
    for k, res in zip(order, fitted):
        results[k] = res
    importance = np.stack([res[0] for res in results], axis=1)
    train_acc = np.array([res[1] for res in results])
    test_acc = np.array([res[2] for res in results])
    r = importance
    per_code = _one_minus_entropy(r.T, r.shape[1])
    per_factor = _one_minus_entropy(r, r.shape[0])
    return {
        "dci_disentanglement": dci_disentanglement(importance),
        "dci_completeness": dci_completeness(importance),
        "dci_informativeness": float(np.mean(test_acc)),
        "informativeness_train": float(np.mean(train_acc)),
        "informativeness_test": float(np.mean(test_acc)),
        "accuracy_train_per_factor": train_acc.tolist(),
        "accuracy_test_per_factor": test_acc.tolist(),
        "disentanglement_per_code": np.atleast_1d(per_code).tolist(),
        "completeness_per_factor": np.atleast_1d(per_factor).tolist(),
        "importance_matrix": importance.tolist(),
        "recipe": {
            "name": RECIPE_NAME,
            "paper": "Eastwood & Williams, ICLR 2018",
            "num_train": int(x_train.shape[0]),
            "num_test": int(x_test.shape[0]),
            "classifier": "sklearn.ensemble.GradientBoostingClassifier",
            "classifier_params": {k: v for k, v in params.items()},
            "importance": "abs(feature_importances_)",
            "informativeness": "mean test accuracy over factors",
            "sklearn": sklearn_version(),
        },
    }


def dci_score(
    data: Any,
    representation_fn: RepresentationFn,
    *,
    num_train: int = NUM_TRAIN,
    num_test: int = NUM_TEST,
    random_state: RandomState = 0,
    gbt_params: Mapping[str, Any] | None = None,
    encode_batch_size: int = 512,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """DCI on ground-truth data: ``num_train`` then ``num_test`` uniform samples, then :func:`compute_dci`.

    The classifiers' seed is drawn from the same generator after both sets, as in one dlib metric run.
    """
    check_data(data)
    rng = as_generator(random_state)
    codes_train, factors_train, codes_test, factors_test = sample_train_test_codes(
        data, representation_fn, num_train, num_test, rng, encode_batch_size
    )
    return compute_dci(codes_train, factors_train, codes_test, factors_test,
                       random_state=rng, gbt_params=gbt_params, n_jobs=n_jobs)
