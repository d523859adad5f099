"""Benchmark: interpretability index of 512 units, vectorised vs the per-unit loop of the reference code.

Same activations (random, 2,000 images), same pixel features (8 x 8 images), same quantiles and trials;
``ours`` = :func:`latentlens.explain.interpretability.interpretability_index`, ``reference`` =
``interpretability_index_loop`` (one unit and one trial at a time, as the psychophysics code computes it).
Values must agree to 1e-9. Aim: ratio >= 10.

Usage: ``python benchmarks/units_speed.py [--units 512]``. Writes ``bench-results/units_speed.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from latentlens.explain.interpretability import interpretability_index, interpretability_index_loop, pixel_features
from latentlens.io import write_json

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "units_speed.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(args.images, args.units))
    images = torch.rand(args.images, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    feats = pixel_features(images).numpy()
    t = time.perf_counter()
    ours = interpretability_index(acts, features=feats, random_state=0)
    ours_s = time.perf_counter() - t
    t = time.perf_counter()
    ref = interpretability_index_loop(acts, feats, random_state=0)
    ref_s = time.perf_counter() - t
    diff = max(float(np.abs(ours["per_quantile"][q] - ref[q]).max()) for q in ref)
    write_json(args.out, {
        "name": "units_speed", "ours": round(ours_s, 3), "reference": round(ref_s, 3), "ratio": round(ref_s / ours_s, 1),
        "unit": "seconds for the II of all units (ratio = reference / ours)",
        "reference_name": "per-unit, per-trial loop as the psychophysics code computes it", "max_abs_difference": diff,
        "aim": ">= 10x", "aim_met": ref_s / ours_s >= 10, "units": args.units, "images": args.images, "threads": args.threads,
        "command": "python benchmarks/units_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    })  # fmt: skip
    print(f"units_speed: {ours_s:.2f} s vs {ref_s:.2f} s -> {ref_s / ours_s:.1f}x (max diff {diff:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
