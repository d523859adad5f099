"""Run the disentanglement metrics on one representation and return one flat, JSON-ready dict.

:func:`evaluate_representation` runs any subset of BetaVAE, FactorVAE, MIG, DCI, SAP and
modularity/explicitness with the sample counts of a preset:

* ``"reference"``: disentanglement_lib's ``unsupervised_study_v1`` counts (research notes §2), i.e. the numbers
  of Locatello et al. 2019 (BetaVAE and FactorVAE alone need ~1.9 M and ~1 M encoder passes);
* ``"fast"`` (the default on CPU): disent's ``fast_kwargs``-like counts (notes §6): MIG 2,000 points; DCI
  1,000 / 500; SAP 2,000 / 1,000; modularity/explicitness 2,000 / 1,000; FactorVAE 700 / 350 votes with 1,000
  points for the variances (~68 k encoder passes); BetaVAE 500 / 250 points (~96 k encoder passes). Batch
  sizes, bins, thresholds and classifiers stay those of the reference recipe. Estimates are noisier; compare
  numbers only within one preset.

As in dlib every metric starts from a fresh generator with the same seed, so a metric's value does not depend
on which other metrics run. ``result["recipe"]`` records the preset, the seed, the counts and the full recipe
of every metric and the library versions; ``result["mi_matrix"]`` holds MIG's mutual-information matrix
(codes x factors, nats and divided by the factor entropies) for heatmaps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..errors import LatentLensError
from ._sampling import (
    CachedCodes,
    RandomState,
    RepresentationFn,
    cacheable,
    check_data,
    factor_names,
    sklearn_version,
)
from .beta_vae import beta_vae_score
from .dci import dci_score
from .factor_vae import factor_vae_score
from .mig import mig_score
from .modularity import modularity_explicitness_score
from .sap import sap_score

log = logging.getLogger(__name__)

METRICS = ("beta_vae", "factor_vae", "mig", "dci", "sap", "modularity")
ALIASES = {"explicitness": "modularity", "modularity_explicitness": "modularity", "betavae": "beta_vae",
           "factorvae": "factor_vae", "sap_score": "sap"}
SCORE_KEYS = {
    "beta_vae": ("beta_vae_score",),
    "factor_vae": ("factor_vae_score",),
    "mig": ("mig",),
    "dci": ("dci_disentanglement", "dci_completeness", "dci_informativeness"),
    "sap": ("sap",),
    "modularity": ("modularity", "explicitness"),
}
PRESETS: dict[str, dict[str, dict[str, int]]] = {
    "reference": {
        "beta_vae": {"num_train": 10_000, "num_eval": 5_000, "batch_size": 64},
        "factor_vae": {"num_train": 10_000, "num_eval": 5_000, "num_variance_estimate": 10_000, "batch_size": 64},
        "mig": {"num_train": 10_000},
        "dci": {"num_train": 10_000, "num_test": 5_000},
        "sap": {"num_train": 10_000, "num_test": 5_000},
        "modularity": {"num_train": 10_000, "num_test": 5_000},
    },
    "fast": {
        "beta_vae": {"num_train": 500, "num_eval": 250, "batch_size": 64},
        "factor_vae": {"num_train": 700, "num_eval": 350, "num_variance_estimate": 1_000, "batch_size": 64},
        "mig": {"num_train": 2_000},
        "dci": {"num_train": 1_000, "num_test": 500},
        "sap": {"num_train": 2_000, "num_test": 1_000},
        "modularity": {"num_train": 2_000, "num_test": 1_000},
    },
}
_ALLOWED = {
    "beta_vae": {"num_train", "num_eval", "batch_size"},
    "factor_vae": {"num_train", "num_eval", "num_variance_estimate", "batch_size", "prune_threshold"},
    "mig": {"num_train", "num_bins"},
    "dci": {"num_train", "num_test", "gbt_params"},
    "sap": {"num_train", "num_test", "continuous_factors"},
    "modularity": {"num_train", "num_test", "num_bins"},
}
_RUNNERS = {
    "beta_vae": beta_vae_score,
    "factor_vae": factor_vae_score,
    "mig": mig_score,
    "dci": dci_score,
    "sap": sap_score,
    "modularity": modularity_explicitness_score,
}
_TAKES_N_JOBS = {"dci", "sap", "modularity"}
_BULKY = {"mi_matrix", "mi_matrix_normalized"}


def resolve_metrics(metrics: str | Iterable[str]) -> list[str]:
    """Canonical metric names in the order of :data:`METRICS`; ``"all"`` selects every metric."""
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    chosen = set()
    for name in names:
        key = str(name).strip().lower().replace("-", "_")
        if key == "all":
            chosen.update(METRICS)
            continue
        key = ALIASES.get(key, key)
        if key not in METRICS:
            raise LatentLensError(f"unknown metric {name!r} (known: all, {', '.join(METRICS)}, explicitness)")
        chosen.add(key)
    if not chosen:
        raise LatentLensError("no metric selected")
    return [m for m in METRICS if m in chosen]


def preset_counts(preset: str, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The per-metric keyword arguments of a preset, with ``overrides`` ({metric: {arg: value}}) applied."""
    if preset not in PRESETS:
        raise LatentLensError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    counts = {m: dict(v) for m, v in PRESETS[preset].items()}
    for metric, values in (overrides or {}).items():
        key = ALIASES.get(metric, metric)
        if key not in counts:
            raise LatentLensError(f"override for unknown metric {metric!r}")
        bad = set(values) - _ALLOWED[key]
        if bad:
            raise LatentLensError(f"cannot override {sorted(bad)} of {key} (allowed: {sorted(_ALLOWED[key])})")
        counts[key].update(values)
    return counts


def _draws(metrics: list[str], counts: dict) -> int:
    """How many images the metrics render and encode with these counts."""
    total = 0
    for m in metrics:
        c = counts[m]
        if m == "beta_vae":
            total += (c["num_train"] + c["num_eval"]) * 2 * c["batch_size"]
        elif m == "factor_vae":
            total += (c["num_train"] + c["num_eval"]) * c["batch_size"] + c["num_variance_estimate"]
        else:
            total += c["num_train"] + c.get("num_test", 0)
    return total


def _base_seed(random_state: RandomState) -> int:
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    return int(random_state)


def evaluate_representation(
    data: Any,
    representation_fn: RepresentationFn,
    metrics: str | Iterable[str] = "all",
    preset: str = "fast",
    random_state: RandomState = 0,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    encode_batch_size: int = 512,
    n_jobs: int | None = -1,
    show_progress: bool = False,
    cache_codes: bool | str = "auto",
) -> dict[str, Any]:
    """Disentanglement metrics of ``representation_fn`` on ground-truth ``data``.

    Parameters
    ----------
    data : ``factor_names``, ``factor_sizes``, ``sample_factors(n, rng)``, ``images(factors)``.
    representation_fn : observations -> (n, d) codes, e.g. :func:`~latentlens.metrics.vae_representation`.
    metrics : ``"all"`` or names among ``beta_vae, factor_vae, mig, dci, sap, modularity`` (``explicitness``
        is computed with modularity).
    preset : ``"fast"`` or ``"reference"`` sample counts (see the module docstring).
    random_state : int seed (every metric uses ``np.random.default_rng(seed)``), a Generator (one seed is
        drawn from it) or None (a fresh seed, recorded in the result).
    overrides : per-metric counts replacing the preset's, e.g. ``{"dci": {"num_train": 500}}``.
    encode_batch_size : observations per representation call (speed and memory only).
    n_jobs : threads for the classifier fits of DCI, SAP and explicitness (None = 1, -1 = all cores).
    show_progress : a tqdm bar over the metrics.
    cache_codes : encode each distinct image once and reuse its code (:class:`~._sampling.CachedCodes`);
        ``"auto"`` (default) does so for deterministic representations of finite data when the metrics draw
        more images than the data holds (the reference preset on dSprites: about 2.9 M draws of 737,280
        images). The codes are the representation's own, so the scores are those of the uncached run up to
        floating-point differences of batched encoding (~1e-7).

    Returns
    -------
    Flat dict: the scores of the selected metrics under the keys ``beta_vae_score``, ``factor_vae_score``,
    ``mig``, ``dci_disentanglement``, ``dci_completeness``, ``dci_informativeness``, ``sap``, ``modularity``,
    ``explicitness``; ``recipe`` (preset, seed, counts and recipe of every metric, versions); ``mi_matrix``
    (when MIG runs: ``nats`` and ``normalized`` as codes x factors lists, ``factor_names``,
    ``factor_entropy``); ``details`` (train accuracies, per-factor scores, matrices) and ``timings_s``.
    """
    check_data(data)
    chosen = resolve_metrics(metrics)
    counts = preset_counts(preset, overrides)
    seed = _base_seed(random_state)
    if cache_codes == "auto":
        cache_codes = cacheable(data, representation_fn) and _draws(chosen, counts) > int(np.prod(data.factor_sizes))
    if cache_codes:
        if not cacheable(data, representation_fn):
            raise LatentLensError("cache_codes needs a deterministic representation (mean codes) of finite data")
        representation_fn = CachedCodes(representation_fn, data.factor_sizes, encode_batch_size)
    names = factor_names(data)
    result: dict[str, Any] = {}
    details: dict[str, Any] = {}
    recipes: dict[str, Any] = {}
    timings: dict[str, float] = {}
    bar = None
    if show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(chosen), desc="metrics", unit="metric")
    try:
        for metric in chosen:
            kwargs = dict(counts[metric])
            if metric in _TAKES_N_JOBS:
                kwargs["n_jobs"] = n_jobs
            log.info("metric %s with %s", metric, counts[metric])
            if bar is not None:
                bar.set_postfix_str(metric)
            start = time.perf_counter()
            out = _RUNNERS[metric](data, representation_fn, random_state=np.random.default_rng(seed),
                                   encode_batch_size=encode_batch_size, **kwargs)
            timings[metric] = round(time.perf_counter() - start, 4)
            for key in SCORE_KEYS[metric]:
                result[key] = out[key]
            recipes[metric] = out["recipe"]
            details[metric] = {k: v for k, v in out.items()
                               if k != "recipe" and k not in SCORE_KEYS[metric] and k not in _BULKY}
            if metric == "mig":
                result["mi_matrix"] = {
                    "nats": out["mi_matrix"],
                    "normalized": out["mi_matrix_normalized"],
                    "factor_names": names,
                    "factor_entropy": out["factor_entropy"],
                    "num_points": out["recipe"]["num_train"],
                    "layout": "codes x factors",
                }
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    result["recipe"] = {
        "preset": preset,
        "seed": seed,
        "metrics": chosen,
        "counts": {m: counts[m] for m in chosen},
        "per_metric": recipes,
        "sklearn": sklearn_version(),
        "numpy": np.__version__,
        "factor_names": names,
        "factor_sizes": [int(s) for s in data.factor_sizes],
    }
    result["details"] = details
    result["timings_s"] = timings
    if isinstance(representation_fn, CachedCodes):
        result["recipe"]["codes_cached"] = {"distinct_images_encoded": representation_fn.encoded}
    return result
