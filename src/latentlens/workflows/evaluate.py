"""Score a trained VAE's latent space against ground-truth factors (``latentlens evaluate``)."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def evaluate_run(run_dir, metrics="all", preset="fast", representation="mean", seed=0, progress=True) -> dict:
    from ..data.dsprites import DSprites
    from ..errors import LatentLensError
    from ..io import update_json
    from ..metrics import evaluate_representation, vae_representation
    from ..train.checkpoint import load_model, load_run_config

    from ..zoo import resolve_run

    run_dir = resolve_run(run_dir)  # a folder, or zoo:NAME
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
