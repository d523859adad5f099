"""How good is a set of latent directions? RCA, dSprites factor alignment, and post-hoc MIG / DCI.

Three measurements, each computed the same way for every method and for the random / coordinate baselines:

1. **Reconstructor classification accuracy (RCA)** (Voynov & Babenko 2020, §4; research/directions.md §6.1):
   a *fresh* LeNet reconstructor is trained to tell which of the ``K`` fixed directions produced an image pair
   ``(G(z), G(z + eps d_k))`` and is scored on held-out pairs from new ``z``. High RCA means the directions'
   image effects do not overlap. Every method gets the same shift law (unit directions, ``eps ~ U[-6, 6]``,
   ``|eps| >= 0.5``) and the same budget. For speed on CPU the training pairs are generated once (in large
   inference-mode batches, stored at the reconstructor's input size) and reused for a few epochs; the paper
   draws new pairs at every step with Adam 1e-4, we use 1e-3 for the short budget.

2. **Factor alignment on dSprites** (the re-scoring matrix of SeFa / InterFaceGAN, research/directions.md
   §6.3, with a learned predictor for all five factors): a small CNN (:class:`FactorPredictor`) is trained on
   dSprites with its true labels. For direction ``d_k`` and latents ``z`` we predict the factors of
   ``G(z - a d_k)`` and ``G(z + a d_k)`` and measure per factor how much they changed — shape: total variation
   of the predicted class probabilities; scale / posX / posY: absolute difference of the predicted values in
   [0, 1]; orientation: half the distance between the predicted ``(cos 4 theta, sin 4 theta)`` vectors
   (invariant to the square's symmetry; kept at their predicted length, at most 1, so an ill-defined
   orientation counts little, and weighted by how much the shape stayed the same) — each divided by the same change between two random dSprites images, so 1 means "as
   much as a random resample". The ``K x 5`` matrix of mean changes gives each direction a *main factor*
   (argmax), a *purity* (main / sum) and a *magnitude* (main). A factor is *controlled* by a method when some
   direction with that main factor has magnitude >= ``min_effect`` and purity >= ``purity_threshold`` (0.7).

3. **Post-hoc disentanglement** (Khrulkov et al. 2021, §4.1; research/directions.md §4): the representation of
   an image is its latent coordinates along the ``K`` directions, ``E(x) A^T``, scored with MIG and DCI
   (:mod:`latentlens.metrics.mig`, :mod:`latentlens.metrics.dci`) on real dSprites. Khrulkov et al. train one
   encoder per direction set on ``(G(z), z A^T)``; with a linear last layer and orthonormal ``A`` that is the
   encoder of ``z`` followed by ``A^T`` (same least-squares optimum), so :func:`train_latent_encoder` trains one
   encoder ``E(x) ~ z`` per generator and every direction set reuses it. For a VAE the encoder already exists:
   its posterior mean is used (research/directions.md §6.4).

:func:`evaluate_directions` runs all three; :func:`summarize` turns per-seed results into mean +- sd.

Each measure lives in its own module (:mod:`.rca`, :mod:`.factor_predictor`, :mod:`.factor_alignment`,
:mod:`.posthoc`); this one re-exports them and runs them together.
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
    if posthoc is not None:
        scores = posthoc_scores(*posthoc, directions, random_state=random_state, **(posthoc_kwargs or {}))
        out.update(scores)
    return out


SUMMARY_KEYS = ("rca", "factors_controlled", "purity", "mig", "dci")


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
