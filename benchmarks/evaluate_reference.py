"""Benchmark: the time a user feels - ``latentlens evaluate --preset reference`` on one trained VAE.

All nine values of disentanglement_lib's ``unsupervised_study_v1`` counts (BetaVAE, FactorVAE, MIG, DCI x 3,
SAP, modularity, explicitness) of the zoo's best dSprites VAE (``--run`` for another), on the encoder mean.

- **ours**: :func:`latentlens.metrics.evaluate_representation` as ``latentlens evaluate`` runs it: each of
  the 737,280 distinct dSprites images is encoded at most once and its code reused across the 2.9 M draws
  of the interventional metrics (``cache_codes``), the classifier fits of DCI, SAP and explicitness in
  threads.
- **reference**: the same recipe, same seed and counts, encoding every draw (``cache_codes=False``), as
  disentanglement_lib's recipe does; everything else identical.

Both must give the same nine values (checked to 1e-6: batched encoding may differ in the last float bits).
``ours``/``reference`` are wall seconds; ``ratio`` = reference / ours. The per-metric split of both is in
the JSON. Aim: ours < 5 minutes on 2 cores.

Usage: ``python benchmarks/evaluate_reference.py [--run RUN|zoo:NAME] [--skip-reference]``.
Writes ``bench-results/evaluate_reference.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from latentlens.data.dsprites import DSprites
from latentlens.io import write_json
from latentlens.metrics import evaluate_representation, vae_representation
from latentlens.metrics.harness import SCORE_KEYS
from latentlens.train.checkpoint import load_model
from latentlens.zoo import resolve_run
from latentlens.zoo.recipes import BEST_VAE

ROOT = Path(__file__).resolve().parents[1]


def timed(model, cache: bool) -> tuple[float, dict]:
    began = time.perf_counter()
    result = evaluate_representation(DSprites(), vae_representation(model), "all", "reference", 0, cache_codes=cache)
    return time.perf_counter() - began, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default=f"zoo:{BEST_VAE}")
    parser.add_argument("--skip-reference", action="store_true", help="time ours only (the reference takes ~16 min)")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "evaluate_reference.json"))
    args = parser.parse_args(argv)
    model = load_model(resolve_run(args.run))
    keys = [k for keys in SCORE_KEYS.values() for k in keys]
    ours_s, ours = timed(model, True)
    print(f"ours: {ours_s:.0f} s " + ", ".join(f"{k}={ours[k]:.4f}" for k in keys), flush=True)
    result = {
        "name": "evaluate_reference",
        "ours": round(ours_s, 1),
        "unit": "seconds for all nine values at the reference preset (lower is better; ratio = reference / ours)",
        "values": {k: ours[k] for k in keys},
        "per_metric_seconds": ours["timings_s"],
        "distinct_images_encoded": ours["recipe"].get("codes_cached", {}).get("distinct_images_encoded"),
        "aim": "< 300 s on 2 cores", "aim_met": ours_s < 300,
        "threads": torch.get_num_threads(), "run": str(args.run),
        "command": "python benchmarks/evaluate_reference.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }  # fmt: skip
    if not args.skip_reference:
        ref_s, ref = timed(model, False)
        diffs = {k: abs(ours[k] - ref[k]) for k in keys}
        result.update({
            "reference": round(ref_s, 1), "ratio": round(ref_s / ours_s, 2),
            "reference_name": "the same recipe encoding every draw (disentanglement_lib's way), same seed and counts",
            "reference_per_metric_seconds": ref["timings_s"], "max_abs_difference": max(diffs.values()),
            "values_equal": max(diffs.values()) <= 1e-6,
        })  # fmt: skip
        print(f"reference: {ref_s:.0f} s, ratio {ref_s / ours_s:.2f}, max |diff| {max(diffs.values()):.2e}")
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
