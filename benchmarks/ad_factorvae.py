"""Benchmark: FactorVAE vs AD-FactorVAE (Liu et al. 2020, Eq. 5) on dSprites at the same CPU budget.

The budget is counted in compute, not in seconds of a shared machine: FactorVAE trains ``--steps``
steps; AD-FactorVAE, whose step also needs a second-order backward pass, gets ``steps / cost`` steps,
where ``cost`` is its measured per-step time relative to FactorVAE's (best of interleaved timings of
the same batches in this process, so a busy machine slows both alike). ``--equal-steps`` gives both the
same number of steps instead. Same seeds and batch stream for both models, ``--seeds`` seeds; then the
FactorVAE metric (Kim & Mnih 2018) from the package's harness (``preset="fast"`` with fewer votes, see
``--votes``).

``ours`` = mean FactorVAE metric of AD-FactorVAE, ``reference`` = that of FactorVAE. The papers' numbers
(research notes §1.5) come from 300k-step GPU runs; at a CPU budget of minutes both models are far from
converged, so compare the two columns with each other, not with the papers.

Usage: ``python benchmarks/ad_factorvae.py [--steps 400] [--seeds 3] [--ad-lambda 40] [--equal-steps]``.
Writes ``bench-results/ad_factorvae.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from latentlens.data.dsprites import DSprites
from latentlens.data.sources import step_generator, step_rng
from latentlens.io import write_json
from latentlens.metrics import evaluate_representation, vae_representation
from latentlens.models import build_model
from latentlens.models.vae_objectives import build_objective

ROOT = Path(__file__).resolve().parents[1]


def make_training(dataset, objective: str, params: dict, seed: int, batch: int, lr: float):
    """A model, its objective and a ``step(i)`` closure doing one training step on batch i of ``seed``."""
    torch.manual_seed(seed)
    model = build_model("vae", {"latent_dim": 10}).to(memory_format=torch.channels_last)
    loss_fn = build_objective(objective, model.latent_dim, **params)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    disc_opt = torch.optim.Adam(loss_fn.discriminator.parameters(), lr=1e-4, betas=(0.5, 0.9))
    model.train()

    def step(i: int) -> dict:
        factors = dataset.sample_factors(batch, step_rng(seed, i))
        x = dataset.images(factors).float().contiguous(memory_format=torch.channels_last)
        gen = step_generator(seed, i)
        terms = loss_fn(model, x, gen)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        disc = loss_fn.discriminator_loss(terms["z"], gen)
        disc_opt.zero_grad(set_to_none=True)
        disc.backward()
        disc_opt.step()
        return {k: float(v.detach()) for k, v in terms.items() if torch.is_tensor(v) and v.dim() == 0}

    return model, step


def relative_cost(dataset, params: dict, batch: int, lr: float, repeats: int = 6) -> tuple[float, dict]:
    """Per-step time of AD-FactorVAE / FactorVAE: best of interleaved timings on throw-away models."""
    steps = {name: make_training(dataset, name, params[name], 123, batch, lr)[1] for name in params}
    best = {name: float("inf") for name in params}
    for r in range(repeats):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step(r)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best["ad-factorvae"] / best["factorvae"], best


def annotate(result: dict) -> dict:
    """Count runs still in posterior collapse (all codes inactive: metric 0), which dominate short budgets."""
    collapsed = {name: sum(1 for r in rows if r["factor_vae_score"] == 0.0) for name, rows in result["runs"].items()}
    result["collapsed_runs"] = collapsed
    result["note"] = (
        "At this budget a run either is still in posterior collapse (every code inactive, metric 0) or has "
        f"escaped it (metric ~0.5); collapsed runs per model: {collapsed} of {len(result['runs']['factorvae'])}. "
        "The means mostly count escapes, so the ratio is not a significant difference; longer runs are needed "
        "to compare with the papers."
    )
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="FactorVAE training steps (the budget)")
    parser.add_argument("--equal-steps", action="store_true", help="give AD-FactorVAE the same number of steps")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--gamma", type=float, default=35.0)
    parser.add_argument("--ad-lambda", type=float, default=40.0)
    parser.add_argument("--ad-layer", default="encoder.3")
    parser.add_argument("--ad-pair", default="top", choices=["top", "random"])
    parser.add_argument("--votes", type=int, default=300, help="FactorVAE-metric training votes (eval: half)")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "ad_factorvae.json"))
    args = parser.parse_args(argv)
    dataset = DSprites()
    overrides = {"factor_vae": {"num_train": args.votes, "num_eval": max(1, args.votes // 2),
                                "num_variance_estimate": 2000}}  # fmt: skip
    runs = {"factorvae": [], "ad-factorvae": []}
    params = {
        "factorvae": {"gamma": args.gamma},
        "ad-factorvae": {"gamma": args.gamma, "ad_lambda": args.ad_lambda, "ad_layer": args.ad_layer,
                         "ad_pair": args.ad_pair},  # fmt: skip
    }
    began = time.perf_counter()
    cost, step_seconds = relative_cost(dataset, params, args.batch, args.lr)
    budget = {"factorvae": args.steps,
              "ad-factorvae": args.steps if args.equal_steps else max(1, round(args.steps / cost))}  # fmt: skip
    print(f"AD-FactorVAE step costs {cost:.2f}x a FactorVAE step; steps {budget}", flush=True)
    for seed in range(args.seeds):
        for name in runs:
            t0 = time.perf_counter()
            model, step = make_training(dataset, name, params[name], seed, args.batch, args.lr)
            last = {}
            for i in range(budget[name]):
                last = step(i)
            model.eval()
            scores = evaluate_representation(dataset, vae_representation(model), metrics=["factor_vae"],
                                             preset="fast", random_state=0, overrides=overrides)  # fmt: skip
            runs[name].append({"seed": seed, "steps": budget[name], "factor_vae_score": float(scores["factor_vae_score"]),
                               "final_terms": last, "wall_seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
            print(f"seed {seed} {name:13s} steps {budget[name]:5d} FactorVAE metric {scores['factor_vae_score']:.3f} "
                  f"(kl {last.get('kl', float('nan')):.1f}, rec {last.get('rec', float('nan')):.1f})", flush=True)

    def summary(rows):
        s = np.array([r["factor_vae_score"] for r in rows])
        return {"mean": float(s.mean()), "sd": float(s.std(ddof=1)) if len(s) > 1 else 0.0,
                "mean_steps": float(np.mean([r["steps"] for r in rows]))}  # fmt: skip

    stats = {name: summary(rows) for name, rows in runs.items()}
    result = {
        "name": "ad_factorvae",
        "ours": stats["ad-factorvae"]["mean"],
        "reference": stats["factorvae"]["mean"],
        "ratio": stats["ad-factorvae"]["mean"] / max(stats["factorvae"]["mean"], 1e-12),
        "unit": "FactorVAE metric (mean over seeds), AD-FactorVAE vs FactorVAE at equal compute"
        + (" (equal steps)" if args.equal_steps else ""),
        "ad_step_cost_relative": cost,
        "best_step_seconds": step_seconds,
        "steps": budget,
        "command": "python benchmarks/ad_factorvae.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "summary": stats,
        "runs": runs,
        "settings": {**vars(args), "metric_overrides": overrides, "latent_dim": 10, "threads": torch.get_num_threads()},
        "paper_reference": "Liu et al. fig.: FactorVAE ~0.82, AD-FactorVAE ~0.89-0.91; reproduction (300k steps) "
                           "0.805 +- 0.048 vs 0.854 +- 0.005 at lambda 40",
        "seconds": round(time.perf_counter() - began, 1),
    }
    annotate(result)
    write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("ours", "reference", "ratio", "collapsed_runs", "seconds")}))
    return result


if __name__ == "__main__":
    main()
