"""``latentlens evaluate --run RUN [--metrics all|mig,dci,...] [--preset fast|reference]``.

Scores a VAE run's encoder mean against dSprites' ground-truth factors with the disentanglement_lib
recipes and merges the scores into ``RUN/metrics.json``; the report's metrics section draws them.
"""

from __future__ import annotations

import logging

from ..workflows.evaluate import evaluate_run

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="disentanglement metrics of a run against ground-truth factors")
    p.add_argument("--run", required=True, help="run folder of a VAE trained on dsprites, or zoo:NAME")
    p.add_argument("--metrics", default="all", help="all, or a comma list of beta_vae,factor_vae,mig,dci,sap,modularity")
    p.add_argument("--preset", default="fast", choices=["fast", "reference"], help="sample counts (default fast)")
    p.add_argument("--representation", default="mean", choices=["mean", "sampled"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    result = evaluate_run(args.run, args.metrics, args.preset, args.representation, args.seed, not args.no_progress)
    from ..metrics.harness import SCORE_KEYS

    shown = [k for keys in SCORE_KEYS.values() for k in keys if k in result]
    log.info("%s", ", ".join(f"{k}={result[k]:.3f}" for k in shown))
    return 0
