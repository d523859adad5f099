"""SAP, the Separated Attribute Predictability score (Kumar et al., ICLR 2018), dlib recipe.

Kumar, Sattigeri & Balakrishnan, "Variational Inference of Disentangled Latent Concepts from Unlabeled
Observations", §3 ("SAP score"): build a score matrix ``S[j, k]`` of how well code ``j`` alone predicts factor
``k``, then average over factors the difference between the two largest entries of each column:

    SAP = 1/K sum_k ( S_(1)k - S_(2)k ).

Recipe: disentanglement_lib's ``sap_score.py`` (Locatello et al. 2019), 10,000 train and 5,000 test points.

* discrete factors (dSprites, the default): ``S[j, k]`` is the test accuracy of
  ``sklearn.svm.LinearSVC(C=0.01, class_weight="balanced")`` fitted on the single feature ``z_j``; we pin
  ``dual=False`` (what ``dual="auto"``, sklearn's default since 1.5, picks when samples outnumber features;
  dlib-era sklearn solved the dual, which converges to the same optimum) and ``random_state=0``. One fit per (code, factor) pair, run in threads with ``n_jobs``;
* continuous factors: ``S[j, k] = Cov(z_j, y_k)^2 / (Var z_j Var y_k)`` (ddof 1), 0 when ``Var z_j <= 1e-12``,
  computed for all pairs at once (also 0 when the factor is constant, where dlib divides by 0).

The discrete score depends on the scale of each code (the SVM's penalty is not scale-free); the continuous
one is invariant to affine rescaling. A factor with one class in the training set scores every code equally.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._sampling import (
    RandomState,
    RepresentationFn,
    as_generator,
    check_codes_factors,
    check_data,
    lean_sklearn,
    parallel_map,
    sample_train_test_codes,
    single_threaded_blas,
    sklearn_version,
)

RECIPE_NAME = "disentanglement_lib/sap_score"
NUM_TRAIN = 10_000
NUM_TEST = 5_000
SVC_PARAMS = {"C": 0.01, "class_weight": "balanced", "loss": "squared_hinge", "penalty": "l2",
              "dual": False, "tol": 1e-4, "max_iter": 1000, "random_state": 0}


def avg_diff_top_two(score_matrix: Any) -> float:
    """Mean over columns of (largest - second largest) entry; dlib's ``compute_avg_diff_top_two``."""
    s = np.sort(np.asarray(score_matrix, dtype=np.float64), axis=0)
    if s.shape[0] < 2:
        return float(np.mean(s[-1]))
    return float(np.mean(s[-1, :] - s[-2, :]))


def continuous_score_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Squared correlations ``Cov(z_j, y_k)^2 / (Var z_j Var y_k)`` (ddof 1) for all pairs; 0 for flat codes."""
    z = np.asarray(codes, dtype=np.float64)
    y = np.asarray(factors, dtype=np.float64)
    n = z.shape[0]
    zc = z - z.mean(axis=0)
    yc = y - y.mean(axis=0)
    cov = zc.T @ yc / (n - 1)
    var_z = np.einsum("ij,ij->j", zc, zc) / (n - 1)
    var_y = np.einsum("ij,ij->j", yc, yc) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = cov**2 / (var_z[:, None] * var_y[None, :])
    return np.where((var_z[:, None] > 1e-12) & (var_y[None, :] > 1e-12), s, 0.0)


def _svc_accuracy(args: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> float:
    from sklearn.svm import LinearSVC

    z_train, y_train, z_test, y_test = args
    classes = np.unique(y_train)
    if classes.size < 2:
        return float(np.mean(y_test == classes[0]))
    with lean_sklearn():
        model = LinearSVC(**SVC_PARAMS).fit(z_train[:, None], y_train)
        return float(np.mean(model.predict(z_test[:, None]) == y_test))


def discrete_score_matrix(
    codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Test accuracy of a one-feature LinearSVC for every (code, factor) pair -> (d, F)."""
    d, f = codes_train.shape[1], factors_train.shape[1]
    jobs = [(codes_train[:, j], factors_train[:, k], codes_test[:, j], factors_test[:, k])
            for j in range(d) for k in range(f)]
    with single_threaded_blas():
        accuracies = parallel_map(_svc_accuracy, jobs, n_jobs)
    return np.array(accuracies, dtype=np.float64).reshape(d, f)


def compute_sap(
    codes_train: Any,
    factors_train: Any,
    codes_test: Any = None,
    factors_test: Any = None,
    *,
    continuous_factors: bool = False,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """SAP of precomputed codes (dlib ``_compute_sap``); the continuous variant ignores the test set.

    Returns
    -------
    dict with ``sap``, ``score_matrix`` (d x F list) and ``recipe``.
    """
    z_train, y_train = check_codes_factors(codes_train, factors_train, min_points=2)
    if continuous_factors:
        matrix = continuous_score_matrix(z_train, y_train)
        num_test = 0
    else:
        if codes_test is None or factors_test is None:
            raise ValueError("discrete SAP needs a test set")
        z_test, y_test = check_codes_factors(codes_test, factors_test)
        matrix = discrete_score_matrix(z_train, y_train, z_test, y_test, n_jobs)
        num_test = int(z_test.shape[0])
    recipe: dict[str, Any] = {
        "name": RECIPE_NAME,
        "paper": "Kumar et al., ICLR 2018, section 3",
        "num_train": int(z_train.shape[0]),
        "num_test": num_test,
        "continuous_factors": bool(continuous_factors),
    }
    if not continuous_factors:
        recipe.update(classifier="sklearn.svm.LinearSVC", classifier_params=dict(SVC_PARAMS),
                      sklearn=sklearn_version())
    return {"sap": avg_diff_top_two(matrix), "score_matrix": matrix.tolist(), "recipe": recipe}


def sap_score(
    data: Any,
    representation_fn: RepresentationFn,
    *,
    num_train: int = NUM_TRAIN,
    num_test: int = NUM_TEST,
    continuous_factors: bool = False,
    random_state: RandomState = 0,
    encode_batch_size: int = 512,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """SAP on ground-truth data: ``num_train`` then ``num_test`` uniform samples, then :func:`compute_sap`."""
    check_data(data)
    rng = as_generator(random_state)
    codes_train, factors_train, codes_test, factors_test = sample_train_test_codes(
        data, representation_fn, num_train, num_test, rng, encode_batch_size
    )
    return compute_sap(codes_train, factors_train, codes_test, factors_test,
                       continuous_factors=continuous_factors, n_jobs=n_jobs)
