"""``latentlens evaluate --run RUN [--metrics all|mig,dci,...] [--preset fast|reference]``.

Scores a VAE run's encoder mean against dSprites' ground-truth factors with the disentanglement_lib
recipes and merges the scores into ``RUN/metrics.json``; the report's metrics section draws them.
"""

from __future__ import annotations

import logging
from pathlib import Path

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


def evaluate_run(run_dir, metrics="all", preset="fast", representation="mean", seed=0, progress=True) -> dict:
    from ..data.dsprites import DSprites
    from ..errors import LatentLensError
    from ..io import update_json
    from ..metrics import evaluate_representation, vae_representation
    from ..train.checkpoint import load_model, load_run_config

    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    if config["kind"] != "vae":
        raise LatentLensError(f"evaluate scores VAE runs; {run_dir} holds a {config['kind']}")
    if config.get("train", {}).get("data") != "dsprites":
        raise LatentLensError("evaluate needs ground-truth factors: the run must be trained on dsprites")
    model = load_model(run_dir)
    chosen = metrics if metrics == "all" else [m.strip() for m in metrics.split(",") if m.strip()]
    result = evaluate_representation(
        DSprites(), vae_representation(model, mode=representation, random_state=seed), chosen, preset, seed,
        show_progress=progress,
    )  # fmt: skip
    result["representation"] = representation
    update_json(run_dir / "metrics.json", result)
    return result


def demo_step(run_dir: Path, args) -> None:
    from ..io import read_json

    path = Path(run_dir) / "metrics.json"
    if path.exists() and "factor_vae_score" in read_json(path):
        return
    evaluate_run(run_dir, "all", "fast", "mean", args.seed, not args.no_progress)


def run(args) -> int:
    result = evaluate_run(args.run, args.metrics, args.preset, args.representation, args.seed, not args.no_progress)
    from ..metrics.harness import SCORE_KEYS

    shown = [k for keys in SCORE_KEYS.values() for k in keys if k in result]
    log.info("%s", ", ".join(f"{k}={result[k]:.3f}" for k in shown))
    return 0
