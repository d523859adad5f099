"""Benchmark: what a space-filling curve reads from the zoo's dSprites VAE and GAN, beside other directions.

For each model and seed (``latentlens sfvq`` with ``--bits``; the VAE's curve runs through the encoded
latents of real dSprites images with their factors; the GAN's through its prior, labelled by the dSprites
factor predictor on the generated images):

- curve MSE per dimension vs k-means and the corners used as a plain VQ (same number of points);
- locality ratio (consecutive / random corner distance; 1 = no ordering);
- per factor the mean Jensen-Shannon distance between the index histograms of its values (aim >= 0.5 for
  posX, posY and scale);
- the top-5 lines: main factor, purity (dSprites factor predictor), identity error (VAE) - beside the same
  measures for SeFa, GANSpace and random directions (K = 5).

JSON: per model ``locality_ratio``, ``factor_js`` (per factor) and the line table; ``ours`` = mean factor JS of
posX/posY/scale on the VAE, ``reference`` = the same histograms for a random ordering of the latents (the
value a curve that orders nothing would give), ``ratio`` = ours / reference.

Usage: ``python benchmarks/sfvq_quality.py [--seeds 0,1,2] [--bits 6]``. Writes ``bench-results/sfvq_quality.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from latentlens import zoo
from latentlens.io import write_json
from latentlens.zoo.recipes import BEST_VAE

ROOT = Path(__file__).resolve().parents[1]
KEY_FACTORS = ("posX", "posY", "scale")


def score_directions(run, method: str, seed: int) -> dict:
    """Purity of K = 5 directions of ``method`` with the dSprites factor predictor."""
    from latentlens.directions import build_finder
    from latentlens.metrics.factor_alignment import alignment_summary, factor_effects, reference_changes
    from latentlens.metrics.factor_predictor import load_or_train_factor_predictor
    from latentlens.train.checkpoint import load_model, load_run_config
    from latentlens.workflows.discover import _generator

    model = load_model(run)
    gen = _generator(model, load_run_config(run), "auto")
    dirs = build_finder(method, n_directions=5, random_state=seed).fit(gen).directions_
    predictor = load_or_train_factor_predictor()
    s = alignment_summary(factor_effects(gen, dirs, predictor, reference=reference_changes(predictor), n_samples=48,
                                         random_state=seed))  # fmt: skip
    return {"purity": float(np.mean(s["purity_per_direction"])), "main_factors": s["main_factor"],
            "factors_controlled": s["factors_controlled"]}  # fmt: skip


def random_order_js(summary_factors: dict, n: int, seed: int) -> float:
    """Mean JS of the key factors' histograms when the curve index is replaced by a random one."""
    from latentlens.explain.sfvq_panoptic import index_histograms, js_distance_matrix, mean_offdiagonal

    rng = np.random.default_rng(seed)
    values = []
    for name in KEY_FACTORS:
        if name in summary_factors:
            k = len(summary_factors[name]["values"])
            labels = rng.integers(0, k, n)
            hist, _ = index_histograms(rng.uniform(0, 63, n), labels, 63)
            values.append(mean_offdiagonal(js_distance_matrix(hist)))
    return float(np.mean(values)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    from latentlens.workflows.sfvq import sfvq_run

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--bits", type=int, default=6)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--models", default=f"{BEST_VAE},dsprites-gan")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "sfvq_quality.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(tempfile.mkdtemp(prefix="sfvq-bench-"))
    per_model = {}
    for name in args.models.split(","):
        runs = []
        for seed in seeds:
            run = zoo.export(name, work / f"{name}-{seed}")
            s = sfvq_run(run, bits=args.bits, n_samples=args.samples, n_lines=5, seed=seed)
            comparison = {m: score_directions(run, m, seed) for m in ("sefa", "ganspace", "random")}
            runs.append({"locality_ratio": s["locality_ratio"], "curve_mse": s["curve_mse"], "kmeans_mse": s["kmeans_mse"],
                         "vq_mse": s["vq_mse"], "factor_js": s["factor_js"], "lines": s["lines"],
                         "line_purity": float(np.mean([r.get("purity", np.nan) for r in s["lines"]])),
                         "comparison": comparison, "random_order_js": random_order_js(s["factors"], s["latents"], seed)})  # fmt: skip
            print(name, seed, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in runs[-1].items()
                               if k in ("locality_ratio", "curve_mse", "kmeans_mse", "line_purity")}, flush=True)  # fmt: skip

        def mean(key):
            return statistics.mean(r[key] for r in runs)

        per_model[name] = {
            "locality_ratio": mean("locality_ratio"), "curve_mse": mean("curve_mse"), "kmeans_mse": mean("kmeans_mse"),
            "vq_mse": mean("vq_mse"), "line_purity": mean("line_purity"),
            "factor_js": {f: statistics.mean(r["factor_js"][f] for r in runs) for f in runs[0]["factor_js"]},
            "comparison_purity": {m: statistics.mean(r["comparison"][m]["purity"] for r in runs) for m in ("sefa", "ganspace", "random")},
            "random_order_js": mean("random_order_js"), "per_seed": runs,
        }  # fmt: skip
    vae = per_model.get(BEST_VAE, next(iter(per_model.values())))
    ours = float(np.mean([vae["factor_js"][f] for f in KEY_FACTORS if f in vae["factor_js"]]))
    write_json(args.out, {
        "name": "sfvq_quality", "ours": ours, "reference": vae["random_order_js"], "ratio": ours / vae["random_order_js"],
        "unit": "mean Jensen-Shannon distance between the curve-index histograms of posX/posY/scale values (VAE)",
        "reference_name": "the same histograms for a random ordering of the latents",
        "aim": "factor_js >= 0.5 for posX, posY and scale",
        "aim_met": {f: vae["factor_js"].get(f, 0) >= 0.5 for f in KEY_FACTORS}, "models": per_model, "seeds": seeds,
        "command": "python benchmarks/sfvq_quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
