"""How good is a set of latent directions? RCA, dSprites factor alignment, and post-hoc MIG / DCI.

Three measurements, each computed the same way for every method and for the random / coordinate baselines:

1. **RCA** (:mod:`.rca`; Voynov & Babenko 2020, §4): accuracy of a freshly trained reconstructor at telling
   the ``K`` directions apart on held-out shifts.
2. **Factor alignment on dSprites** (:mod:`.factor_alignment`, measured by the CNN of
   :mod:`.factor_predictor`): per direction its main factor, purity and magnitude; per method the number of
   distinct factors it controls.
3. **Post-hoc disentanglement** (:mod:`.posthoc`; Khrulkov et al. 2021, §4.1): MIG and DCI of the codes
   ``E(x) A^T`` of real dSprites images.

:func:`evaluate_directions` runs all three; :func:`summarize` turns per-seed results into mean +- sd.
This module re-exports the measures' public names.
"""

from __future__ import annotations

import numpy as np
import torch

from .factor_alignment import alignment_summary, factor_effects, reference_changes
from .factor_predictor import (
    FACTOR_NAMES,
    PREDICTOR_VERSION,
    FactorPredictor,
    default_cache_dir,
    degrade,
    load_or_train_factor_predictor,
    predictor_accuracy,
    train_factor_predictor,
)
from .posthoc import LatentEncoder, dsprites_latents, latent_function, posthoc_scores, train_latent_encoder
from .rca import reconstructor_accuracy

__all__ = [
    "FACTOR_NAMES", "PREDICTOR_VERSION", "SUMMARY_KEYS", "FactorPredictor", "LatentEncoder", "alignment_summary",
    "default_cache_dir", "degrade", "dsprites_latents", "evaluate_directions", "factor_effects", "latent_function",
    "load_or_train_factor_predictor", "posthoc_scores", "predictor_accuracy", "reconstructor_accuracy",
    "reference_changes", "summarize", "train_factor_predictor", "train_latent_encoder",
]  # fmt: skip


def evaluate_directions(
    generator, directions, *, predictor: FactorPredictor | None = None, reference: torch.Tensor | None = None,
    posthoc: tuple | None = None, rca_kwargs: dict | None = None, alignment_kwargs: dict | None = None,
    posthoc_kwargs: dict | None = None, random_state: int = 0,
) -> dict:  # fmt: skip
    """RCA (always), factor alignment (when a predictor is given) and post-hoc MIG/DCI (when ``posthoc`` =
    ``(latents_train, factors_train, latents_test, factors_test)`` is given) of one direction set."""
    out: dict = {}
    rca = reconstructor_accuracy(generator, directions, random_state=random_state, **(rca_kwargs or {}))
    out["rca"] = rca["rca"]
    out["rca_detail"] = rca
    if predictor is not None:
        akw = dict(alignment_kwargs or {})
        summary_kw = {k: akw.pop(k) for k in ("purity_threshold", "min_effect") if k in akw}
        eff = factor_effects(generator, directions, predictor, reference=reference, random_state=random_state, **akw)
        out["alignment"] = alignment_summary(eff, **summary_kw)
        out["factors_controlled"] = out["alignment"]["factors_controlled"]
        out["purity"] = out["alignment"]["purity"]
        out["mean_purity"] = out["alignment"]["mean_active_purity"]
    if posthoc is not None:
        scores = posthoc_scores(*posthoc, directions, random_state=random_state, **(posthoc_kwargs or {}))
        out.update(scores)
    return out


SUMMARY_KEYS = ("rca", "factors_controlled", "purity", "mean_purity", "mig", "dci", "readout_factors_controlled",
                "readout_purity", "readout_mean_active_purity", "homogeneity", "homogeneity_gain", "linearity")


def summarize(per_seed: list[dict], keys=SUMMARY_KEYS) -> dict:
    """``{key: {"mean", "sd", "values"}}`` over seeds (sample sd, ddof=1; 0 for one seed)."""
    out = {}
    for key in keys:
        vals = [float(r[key]) for r in per_seed if key in r and r[key] is not None]
        if not vals:
            continue
        arr = np.asarray(vals)
        out[key] = {
            "mean": float(arr.mean()),
            "sd": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "values": vals,
        }
    return out
