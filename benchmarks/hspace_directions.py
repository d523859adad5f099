"""Benchmark: h-space directions of the zoo dSprites DDPM, learned (Zhang et al.) vs PCA of sampled h vs random.

For K = 8 directions and each seed, ``latentlens.workflows.discover(space="h")`` fits

- ``voynov``: K global h-directions and a reconstructor trained jointly through the whole DDIM chain
  (step-checkpointed), without the discriminator;
- ``voynov+D``: the same with the realism discriminator (weight ``--disc-weight``);
- ``pca``: PCA of sampled h;
- ``random``: random unit h-directions;

and scores each direction set alike: **reconstructor accuracy** (a fresh reconstructor telling the K directions
apart from image pairs, chance 1/K; aim >= 0.8), **homogeneity** (mean cosine of one direction's x_0 changes on
different x_T, and its gain over random h-directions; aim >= 0.2), **linearity** (change at 2 eps over change at
eps; aim within [1.6, 2.4]; also at eps / 2, / 4, / 8, where an edit that saturates at eps can still double) and
**factor alignment** with the dSprites factor predictor (factors controlled at purity >= 0.7). Shifts are in
standard deviations of h: training eps ~ U[-S, S], |eps| >= S / 12; traversals and the scores use +-S and S / 2,
with S = ``--strength`` (default 30).

``ratio`` = learned (no D) / random reconstructor accuracy, mean over seeds.
Usage: ``python benchmarks/hspace_directions.py [--seeds 0,1,2] [--voynov-steps 200] [--ddim-steps 10]
[--strength 30] [--methods voynov,pca,random] [--no-discriminator | --only-discriminator] [--fresh]``.
Each seed's methods are stored as they finish (``bench-results/hspace_directions/seed<S>/``), so a stopped run
picks up where it was; ``--fresh`` starts over. Writes ``bench-results/hspace_directions.json``
(``reconstructor_accuracy`` per method and seed) and the artifacts and pictures under
``bench-results/hspace_directions/``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("rca", "homogeneity", "homogeneity_gain", "linearity", "factors_controlled", "purity")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="zoo:dsprites-ddpm")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--voynov-steps", type=int, default=200)
    parser.add_argument("--ddim-steps", type=int, default=10)
    parser.add_argument("--disc-weight", type=float, default=0.1)
    parser.add_argument("--strength", type=float, default=30.0, help="largest shift, in standard deviations of h")
    parser.add_argument("--methods", default="voynov,pca,random",
                        help="comma-separated subset of voynov, pca, random (the rows without the discriminator)")
    parser.add_argument("--no-discriminator", action="store_true", help="skip the voynov+D runs")
    parser.add_argument("--only-discriminator", action="store_true",
                        help="run only voynov+D (the rows a --no-discriminator run left out)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fresh", action="store_true", help="forget the finished seeds and methods of an earlier run")
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    if not methods or set(methods) - {"voynov", "pca", "random"}:
        parser.error("--methods must name some of: voynov, pca, random")
    if args.no_discriminator and args.only_discriminator:
        parser.error("--no-discriminator and --only-discriminator leave nothing to run")
    from latentlens.workflows.discover import discover
    from latentlens.zoo import resolve_run

    run = resolve_run(args.run)
    seeds = [int(s) for s in args.seeds.split(",")]
    out = ROOT / "bench-results" / "hspace_directions"
    if args.fresh:
        shutil.rmtree(out, ignore_errors=True)
    hspace = {"steps": args.ddim_steps, "strength": args.strength}
    common = {"k": args.k, "steps": args.voynov_steps, "hspace": hspace, "device": args.device, "data": "dsprites"}
    began = time.perf_counter()
    results: dict = {}
    for seed in seeds:  # seed by seed, each in its own folder: an interrupted run resumes where it stopped
        folder = out / f"seed{seed}"
        entries = {} if args.only_discriminator else discover(run, methods, out=folder / "plain",
                                                              seeds=[seed], **common)  # fmt: skip
        if not args.no_discriminator:
            with_d = discover(run, ["voynov"], out=folder / "with_discriminator", seeds=[seed],
                              finder_params={"voynov": {"discriminator_weight": args.disc_weight}}, **common)  # fmt: skip
            entries["voynov+D"] = with_d["voynov"]
        for method, entry in entries.items():
            results.setdefault(method, {"per_seed": []})["per_seed"] += entry["per_seed"]
    seconds = time.perf_counter() - began
    table = {}
    for method, entry in results.items():
        per_seed = entry["per_seed"]
        row = {"fit_seconds": [r["fit_seconds"] for r in per_seed]}
        for key in KEYS:
            values = [r[key] for r in per_seed if key in r]
            row[key] = values
            row[key + "_mean"] = float(np.mean(values)) if values else None
        curves = [r["linearity_curve"] for r in per_seed if "linearity_curve" in r]
        if curves:  # linearity at S/2 and at the smaller shifts S/4, S/8, S/16, mean over seeds
            row["linearity_curve_mean"] = {a: float(np.mean([c[a] for c in curves])) for a in sorted(curves[0], key=float)}
        table[method] = row
        print(f"{method:9s} " + "  ".join(f"{k} {row[k + '_mean']:.3f}" for k in KEYS if row[k + "_mean"] is not None), flush=True)
        if "linearity_curve_mean" in row:
            print(" " * 10 + "linearity at shift " + "  ".join(f"{float(a):g}: {v:.2f}" for a, v in row["linearity_curve_mean"].items()))
    ours_method = next((m for m in ("voynov", "voynov+D") if m in table), None)  # None: --methods pca,random
    learned = table[ours_method]["rca_mean"] if ours_method else None
    random = table["random"]["rca_mean"] if "random" in table else None
    result = {
        "name": "hspace_directions", "unit": "reconstructor accuracy, learned / random h-directions",
        "ours": learned, "reference": random, "ratio": learned / random if learned and random else None,
        "ours_method": ours_method,
        "reconstructor_accuracy": {m: table[m]["rca"] for m in table},
        "chance": 1 / args.k, "table": table, "seeds": seeds, "k": args.k, "voynov_steps": args.voynov_steps,
        "ddim_steps": args.ddim_steps, "strength": args.strength,
        "disc_weight": None if args.no_discriminator else args.disc_weight, "seconds": round(seconds, 1),
        "run": str(run), "command": " ".join(["python benchmarks/hspace_directions.py", *(argv if argv is not None else sys.argv[1:])]),
    }  # fmt: skip
    (ROOT / "bench-results" / "hspace_directions.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
