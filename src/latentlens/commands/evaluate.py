"""``latentlens evaluate --run RUN [--metrics all|mig,dci,...] [--preset fast|reference]``.

Scores a VAE run's encoder mean against dSprites' ground-truth factors with the disentanglement_lib
recipes and merges the scores into ``RUN/metrics.json``; the report's metrics section draws them.
"""

from __future__ import annotations

import logging

from ..workflows.evaluate import evaluate_run
from . import add_model_options, run_folder, seed

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="disentanglement metrics of a run against ground-truth factors")
    add_model_options(p, required=True, data=False)
    p.add_argument("--data", default=None, help="'dsprites' (default for runs trained on it) or a folder of your images")
    p.add_argument("--labels", default=None, help="with --data FOLDER: a CSV (image, factor, ...); default: class sub-folders")
    p.add_argument("--out", default=None, help="with --model: the folder to write metrics.json into")
    p.add_argument("--metrics", default="all", help="all, or a comma list of beta_vae,factor_vae,mig,dci,sap,modularity")
    p.add_argument("--preset", default="fast", choices=["fast", "reference"], help="sample counts (default fast)")
    p.add_argument("--representation", default="mean", choices=["mean", "sampled"])
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    run_dir = run_folder(args)
    result = evaluate_run(run_dir, args.metrics, args.preset, args.representation, args.seed, not args.no_progress,
                          data=args.data, labels=args.labels, device=args.device)  # fmt: skip
    from ..metrics.harness import SCORE_KEYS

    shown = [k for keys in SCORE_KEYS.values() for k in keys if isinstance(result.get(k), float)]
    log.info("%s", ", ".join(f"{k}={result[k]:.3f}" for k in shown))
    return 0
