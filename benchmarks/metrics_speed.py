"""Benchmark: latentlens' disentanglement metrics vs a per-sample implementation of the same dlib recipes.

Usage: ``python benchmarks/metrics_speed.py [--preset fast|reference] [--only mig,dci,...]``. Writes
``bench-results/metrics_speed.json``.

Workload (dSprites factor sizes 3, 6, 40, 32, 32; sample counts of the chosen preset, ``fast`` by default,
the one ``latentlens evaluate`` uses on CPU):

* interventional metrics (BetaVAE, FactorVAE): a synthetic ground-truth set whose "images" are the 5 factor
  values scaled to [0, 1], and a cheap fixed nonlinear 10-d representation (float32, row-wise, so batch sizes
  cannot change its values);
* the other metrics: the same precomputed codes and factors for both implementations (that representation
  plus Gaussian noise).

The reference below is written the way disentanglement_lib writes it: Python loops over points and votes
(one representation call per pair half / vote batch), over (code, factor) pairs with
``sklearn.metrics.mutual_info_score`` and one ``LinearSVC`` per pair, one classifier per factor in sequence,
``MultiLabelBinarizer`` + ``roc_auc_score``. It draws its random numbers in the same order as latentlens (all
factor rows of a point set up front; dlib's per-point ``RandomState`` stream cannot be reproduced anyway) and
seeds the classifiers the same way, so both must give the same values; the benchmark checks they agree to 1e-9.
FactorVAE's reference keeps dlib's quirk of writing the argmin's position among *active* dimensions into the
vote matrix; the score does not change.

Both sides fit the very same scikit-learn classifiers (GBT for DCI, LinearSVC for SAP, logistic regression
for BetaVAE and explicitness). latentlens runs the independent fits in threads, pins BLAS to one thread per fit
(threadpoolctl; a multi-threaded BLAS on these small problems mostly synchronises) and skips sklearn's
per-call parameter validation; the reference uses the library as it comes. The GBT trees of DCI (11,300 at
the fast preset's 1,000 points, ~2.5 ms each) are the same work on both sides and dominate the total, which
caps the overall ratio at about the number of free cores; ``ratio_without_dci`` and the per-metric ratios
show where vectorisation pays.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats
import sklearn
import torch
from sklearn import ensemble, linear_model, metrics, preprocessing, svm

from latentlens.metrics import (
    PRESETS,
    beta_vae_score,
    compute_dci,
    compute_mig,
    compute_modularity_explicitness,
    compute_sap,
    factor_vae_score,
)
from latentlens.metrics.beta_vae import LOGREG_PARAMS as BETA_LOGREG
from latentlens.metrics.modularity import LOGREG_PARAMS as EXPL_LOGREG
from latentlens.metrics.sap import SVC_PARAMS

ROOT = Path(__file__).resolve().parents[1]
SIZES = (3, 6, 40, 32, 32)
NAMES = ("shape", "scale", "orientation", "posX", "posY")
SEED = 0
CODE_DIM = 10
_W = np.random.default_rng(1234).normal(size=(len(SIZES), CODE_DIM)).astype(np.float32)
_V = np.random.default_rng(4321).normal(size=(len(SIZES), CODE_DIM)).astype(np.float32)
ALL = ("beta_vae", "factor_vae", "mig", "dci", "sap", "modularity")


class SyntheticDSprites:
    """dSprites' factor structure; an observation is its factor vector scaled to [0, 1] (n, 5)."""

    factor_names = NAMES
    factor_sizes = SIZES

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, s, size=n, dtype=np.int64) for s in SIZES], axis=1)

    def images(self, factors: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(factors) / (np.array(SIZES) - 1.0)).to(torch.float32)


def representation(x: Any) -> np.ndarray:
    """A fixed, cheap nonlinear 10-d float32 code, computed row by row without BLAS (any batch split gives
    identical values)."""
    x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    a = x[:, 0:1] * _W[0]
    b = x[:, 0:1] * _V[0]
    for k in range(1, x.shape[1]):
        a += x[:, k:k + 1] * _W[k]
        b += x[:, k:k + 1] * _V[k]
    return a * (1.0 + 0.2 * b)


def synthetic_codes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    data = SyntheticDSprites()
    factors = data.sample_factors(n, rng)
    codes = representation(data.images(factors)) + rng.normal(scale=0.1, size=(n, CODE_DIM)).astype(np.float32)
    return codes, factors


# ---- the reference: dlib's loops ------------------------------------------------------------------------

def ref_beta_vae(data, rep, num_train, num_eval, batch_size, seed):
    rng = np.random.default_rng(seed)
    f = len(data.factor_sizes)

    def points(n):
        labels = rng.integers(0, f, size=n)
        first = data.sample_factors(n * batch_size, rng).reshape(n, batch_size, f)
        second = data.sample_factors(n * batch_size, rng).reshape(n, batch_size, f)
        feats = []
        for i in range(n):
            a, b = first[i], second[i].copy()
            b[:, labels[i]] = a[:, labels[i]]
            z1, z2 = rep(data.images(a)), rep(data.images(b))
            feats.append(np.mean(np.abs(z1 - z2), axis=0))
        return np.array(feats), labels

    x_train, y_train = points(num_train)
    x_eval, y_eval = points(num_eval)
    model = linear_model.LogisticRegression(**BETA_LOGREG).fit(x_train, y_train)
    return {"train_accuracy": model.score(x_train, y_train), "eval_accuracy": model.score(x_eval, y_eval)}


def ref_factor_vae(data, rep, num_train, num_eval, num_variance_estimate, batch_size, seed, threshold=0.05):
    rng = np.random.default_rng(seed)
    f = len(data.factor_sizes)
    factors = data.sample_factors(num_variance_estimate, rng)
    codes = np.vstack([rep(data.images(factors[i:i + 64])) for i in range(0, num_variance_estimate, 64)])
    global_var = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(global_var) >= threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0}

    def votes(n):
        labels = rng.integers(0, f, size=n)
        batches = data.sample_factors(n * batch_size, rng).reshape(n, batch_size, f)
        v = np.zeros((f, global_var.shape[0]), dtype=np.int64)
        for i in range(n):
            batch = batches[i].copy()
            batch[:, labels[i]] = batch[0, labels[i]]
            local = np.var(rep(data.images(batch)), axis=0, ddof=1)
            v[labels[i], np.argmin(local[active] / global_var[active])] += 1  # dlib's index quirk
        return v

    train = votes(num_train)
    classifier = np.argmax(train, axis=0)
    cols = np.arange(train.shape[1])
    evals = votes(num_eval)
    return {"train_accuracy": np.sum(train[classifier, cols]) / np.sum(train),
            "eval_accuracy": np.sum(evals[classifier, cols]) / np.sum(evals)}


def _ref_discretize(mus):
    out = np.zeros_like(mus)
    for i in range(mus.shape[0]):
        out[i, :] = np.digitize(mus[i, :], np.histogram(mus[i, :], 20)[1][:-1])
    return out


def _ref_mi(mus, ys):
    m = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            m[i, j] = metrics.mutual_info_score(ys[j, :], mus[i, :])
    return m


def ref_mig(codes, factors):
    mus, ys = codes.T, factors.T
    m = _ref_mi(_ref_discretize(mus), ys)
    h = np.array([metrics.mutual_info_score(ys[j, :], ys[j, :]) for j in range(ys.shape[0])])
    s = np.sort(m, axis=0)[::-1]
    return {"mig": np.mean((s[0, :] - s[1, :]) / h)}


def ref_dci(codes_train, factors_train, codes_test, factors_test, seed):
    gbt_seed = int(np.random.default_rng(seed).integers(0, 2**31 - 1))
    x_train, y_train, x_test, y_test = codes_train.T, factors_train.T, codes_test.T, factors_test.T
    importance = np.zeros((x_train.shape[0], y_train.shape[0]))
    train_acc, test_acc = [], []
    for i in range(y_train.shape[0]):
        model = ensemble.GradientBoostingClassifier(random_state=gbt_seed).fit(x_train.T, y_train[i, :])
        importance[:, i] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(x_train.T) == y_train[i, :]))
        test_acc.append(np.mean(model.predict(x_test.T) == y_test[i, :]))
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=importance.shape[0])
    r = importance if importance.sum() else np.ones_like(importance)
    return {"dci_disentanglement": np.sum(per_code * r.sum(axis=1) / r.sum()),
            "dci_completeness": np.sum(per_factor * r.sum(axis=0) / r.sum()),
            "dci_informativeness": np.mean(test_acc), "informativeness_train": np.mean(train_acc)}


def ref_sap(codes_train, factors_train, codes_test, factors_test):
    mus, ys, mus_test, ys_test = codes_train.T, factors_train.T, codes_test.T, factors_test.T
    score = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            clf = svm.LinearSVC(**SVC_PARAMS).fit(mus[i, :][:, np.newaxis], ys[j, :])
            score[i, j] = np.mean(clf.predict(mus_test[i, :][:, np.newaxis]) == ys_test[j, :])
    s = np.sort(score, axis=0)
    return {"sap": np.mean(s[-1, :] - s[-2, :])}


def ref_modularity_explicitness(codes_train, factors_train, codes_test, factors_test):
    mus, ys, mus_test, ys_test = codes_train.T, factors_train.T, codes_test.T, factors_test.T
    m = np.square(_ref_mi(_ref_discretize(mus), ys))
    max_m = np.max(m, axis=1)
    mod = 1.0 - (np.sum(m, axis=1) - max_m) / (max_m * (m.shape[1] - 1.0))
    mod[max_m == 0.0] = 0.0
    mean, std = np.mean(mus, axis=1), np.std(mus, axis=1)
    x_train = ((mus - mean[:, None]) / std[:, None]).T
    x_test = ((mus_test - mean[:, None]) / std[:, None]).T
    auc_train, auc_test = [], []
    for i in range(ys.shape[0]):
        clf = linear_model.LogisticRegression(**EXPL_LOGREG).fit(x_train, ys[i, :])
        mlb = preprocessing.MultiLabelBinarizer()
        auc_train.append(metrics.roc_auc_score(mlb.fit_transform(np.expand_dims(ys[i, :], 1)),
                                               clf.predict_proba(x_train)))
        auc_test.append(metrics.roc_auc_score(mlb.fit_transform(np.expand_dims(ys_test[i, :], 1)),
                                              clf.predict_proba(x_test)))
    return {"modularity": np.mean(mod), "explicitness": np.mean(auc_test), "explicitness_train": np.mean(auc_train)}


# ---- driver ---------------------------------------------------------------------------------------------

def timed(fn: Callable[[], dict]) -> tuple[dict, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run(preset: str, only: tuple[str, ...], n_jobs: int) -> dict[str, Any]:
    counts = PRESETS[preset]
    data = SyntheticDSprites()
    rng = np.random.default_rng(SEED)
    sets = {}
    for name in ("mig", "dci", "sap", "modularity"):
        n_train = counts[name]["num_train"]
        n_test = counts[name].get("num_test", 0)
        train = synthetic_codes(n_train, rng)
        test = synthetic_codes(n_test, rng) if n_test else None
        sets[name] = (train, test)

    cases: dict[str, tuple[Callable[[], dict], Callable[[], dict], tuple[str, ...]]] = {}
    bv, fv = counts["beta_vae"], counts["factor_vae"]
    cases["beta_vae"] = (
        lambda: beta_vae_score(data, representation, random_state=SEED, **bv),
        lambda: ref_beta_vae(data, representation, bv["num_train"], bv["num_eval"], bv["batch_size"], SEED),
        ("train_accuracy", "eval_accuracy"))
    cases["factor_vae"] = (
        lambda: factor_vae_score(data, representation, random_state=SEED, **fv),
        lambda: ref_factor_vae(data, representation, fv["num_train"], fv["num_eval"], fv["num_variance_estimate"],
                               fv["batch_size"], SEED),
        ("train_accuracy", "eval_accuracy"))
    (c, f), _ = sets["mig"]
    cases["mig"] = (lambda: compute_mig(c, f), lambda: ref_mig(c, f), ("mig",))
    (dc, df), (dct, dft) = sets["dci"]
    cases["dci"] = (lambda: compute_dci(dc, df, dct, dft, random_state=SEED, n_jobs=n_jobs),
                    lambda: ref_dci(dc, df, dct, dft, SEED),
                    ("dci_disentanglement", "dci_completeness", "dci_informativeness", "informativeness_train"))
    (sc, sf), (sct, sft) = sets["sap"]
    cases["sap"] = (lambda: compute_sap(sc, sf, sct, sft, n_jobs=n_jobs), lambda: ref_sap(sc, sf, sct, sft), ("sap",))
    (mc, mf), (mct, mft) = sets["modularity"]
    cases["modularity"] = (lambda: compute_modularity_explicitness(mc, mf, mct, mft, n_jobs=n_jobs),
                           lambda: ref_modularity_explicitness(mc, mf, mct, mft),
                           ("modularity", "explicitness", "explicitness_train"))

    per_metric: dict[str, Any] = {}
    for name in only:
        ours_fn, ref_fn, keys = cases[name]
        ours, ours_s = timed(ours_fn)
        ref, ref_s = timed(ref_fn)
        ours_values = {k: float(ours[k]) for k in keys}
        ref_values = {k: float(ref[k]) for k in keys}
        diff = max(abs(ours_values[k] - ref_values[k]) for k in keys)
        per_metric[name] = {"ours_s": ours_s, "reference_s": ref_s, "ratio": ref_s / ours_s,
                            "values": ours_values, "reference_values": ref_values,
                            "max_abs_diff": diff, "equal": bool(diff <= 1e-9), "counts": counts[name]}
        print(f"{name:11s} ours {ours_s:8.3f} s  reference {ref_s:8.3f} s  x{ref_s / ours_s:6.2f}  "
              f"max|diff| {diff:.2e}", file=sys.stderr, flush=True)
    ours_total = sum(m["ours_s"] for m in per_metric.values())
    ref_total = sum(m["reference_s"] for m in per_metric.values())
    rest = [m for name, m in per_metric.items() if name != "dci"]
    rest_ratio = (sum(m["reference_s"] for m in rest) / sum(m["ours_s"] for m in rest)) if rest else None
    return {
        "name": "metrics_speed",
        "ours": ours_total,
        "reference": ref_total,
        "ratio": ref_total / ours_total,
        "unit": "s",
        "command": "python benchmarks/metrics_speed.py",
        "preset": preset,
        "ratio_without_dci": rest_ratio,
        "metrics": per_metric,
        "all_equal": all(m["equal"] for m in per_metric.values()),
        "reference_impl": "dlib-style loops: per point/vote representation calls, per-pair mutual_info_score and "
                          "LinearSVC, per-factor classifiers in sequence, MultiLabelBinarizer + roc_auc_score",
        "n_jobs": n_jobs,
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": os.getloadavg()[0],
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="fast")
    parser.add_argument("--only", default=",".join(ALL), help="comma-separated subset of " + ",".join(ALL))
    parser.add_argument("--n-jobs", type=int, default=-1, help="threads for latentlens' classifier fits")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "metrics_speed.json"))
    args = parser.parse_args(argv)
    only = tuple(m for m in ALL if m in {s.strip() for s in args.only.split(",")})
    torch.set_num_threads(1)
    result = run(args.preset, only, args.n_jobs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["all_equal"] else 1)
