"""The demo (``latentlens demo``): interpret the zoo's best dSprites VAE, and show a short training run.

Steps, each skipped when an earlier (interrupted) demo already finished it:

1. export the zoo model :data:`~latentlens.zoo.recipes.BEST_VAE` into the demo folder (its training log and
   provenance come with it);
2. train a short beta-VAE on dSprites into ``short-run/`` and write its own report: what training looks like
   (losses, KL per latent, a young model's traversals);
3. the zoo model's disentanglement metrics (fast preset, labelled as such in the report);
4. attention maps of each of its latent dimensions;
5. SeFa and Voynov directions of its decoder (random directions beside them), scored by RCA and dSprites
   factor alignment, with traversal sheets;
6. when the zoo ships the dSprites DDPM: its samples and h-space directions (PCA of sampled h beside random
   h-directions, with traversal sheets) in ``diffusion/``, with its own report (no DDPM is trained);
7. the report of the demo folder, which names the model each section shows.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)

SHORT_RUN = "short-run"
DIFFUSION_RUN = "diffusion"
DEMO_DDPM = "dsprites-ddpm"


def export_zoo_model(run_dir: Path, options: dict) -> None:
    from .. import zoo

    name = options.get("zoo_model") or zoo.recipes.BEST_VAE
    if (run_dir / "provenance.json").is_file():
        return
    zoo.export(name, run_dir)


def train_short_run(run_dir: Path, options: dict) -> None:
    from ..data.sources import make_source
    from ..train.loop import TrainSettings
    from ..train.vae import train_vae
    from ..viz.report import build_report

    short = run_dir / SHORT_RUN
    if not (short / "train_summary.json").exists():
        resume = (short / "checkpoint.safetensors").exists()
        settings = TrainSettings(steps=options.get("short_steps", 600), batch_size=64, lr=1e-3,
                                 seed=options.get("seed", 0), checkpoint_every=100, log_every=10,
                                 progress=options.get("progress", True))  # fmt: skip
        train_vae(make_source("dsprites"), short, settings, {"latent_dim": 10}, "beta-vae", {"beta": 4.0}, resume)
    if not (short / "report.html").exists():
        build_report(short)


def metrics(run_dir: Path, options: dict) -> None:
    from ..io import read_json
    from .evaluate import evaluate_run

    path = run_dir / "metrics.json"
    if path.exists() and read_json(path).get("recipe", {}).get("preset") == "fast":
        return
    evaluate_run(run_dir, "all", "fast", "mean", options.get("seed", 0), options.get("progress", True))


def attention(run_dir: Path, options: dict) -> None:
    from .explain import explain_run

    if (run_dir / "attention" / "summary.json").exists():
        return
    explain_run(run_dir, "dsprites", n=8, seed=options.get("seed", 0))


def directions(run_dir: Path, options: dict) -> None:
    from .discover import DEMO_EVAL_PARAMS, DEMO_FINDER_PARAMS, discover

    params = {m: dict(p) for m, p in DEMO_FINDER_PARAMS.items()}
    if "voynov_steps" in options:
        params["voynov"]["n_steps"] = options["voynov_steps"]
    discover(run_dir, ["sefa", "voynov", "random"], seeds=[options.get("seed", 0)], evaluation="fast",
             show_progress=options.get("progress", True), finder_params=params,
             eval_params=options.get("eval_params", DEMO_EVAL_PARAMS))  # fmt: skip


def diffusion_directions(run_dir: Path, options: dict) -> None:
    from .. import zoo
    from ..viz.report import build_report
    from .discover import discover

    if DEMO_DDPM not in zoo.available():
        log.info("demo: the zoo has no %s; skipping the diffusion model", DEMO_DDPM)
        return
    sub = run_dir / DIFFUSION_RUN
    if not (sub / "provenance.json").is_file():
        zoo.export(DEMO_DDPM, sub)
    if not (sub / "directions" / "pca.safetensors").is_file():
        discover(sub, ["pca", "random"], k=4, seeds=[options.get("seed", 0)], evaluation="none",
                 show_progress=options.get("progress", True), hspace={"steps": 10},
                 finder_params={"pca": {"n_samples": 2000}})  # fmt: skip
    if not (sub / "report.html").is_file():
        build_report(sub)


def report(run_dir: Path, options: dict) -> None:
    from ..viz.report import build_report

    build_report(run_dir)


DEMO_STEPS = [
    ("export the zoo's best dSprites VAE", export_zoo_model),
    ("train a short beta-VAE run to show training", train_short_run),
    ("disentanglement metrics of the zoo VAE (fast preset)", metrics),
    ("attention maps of each latent dimension", attention),
    ("SeFa and Voynov directions of the decoder, with traversals", directions),
    ("h-space directions of the zoo's diffusion model", diffusion_directions),
    ("write the report", report),
]


def run_demo(out="runs/demo", **options) -> Path:
    """Run every demo step into ``out`` (resuming an interrupted demo); returns the report's path.
    ``options``: ``seed``, ``progress``, ``short_steps``, ``zoo_model``, ``voynov_steps``, ``eval_params``."""
    from ..io import append_jsonl, output_folder
    from ..train.checkpoint import load_run_config

    run_dir = Path(out)
    if (run_dir / "config.json").exists() and not (run_dir / "provenance.json").exists():
        from ..errors import LatentLensError

        load_run_config(run_dir)
        raise LatentLensError(f"{run_dir} holds another run (not a demo); choose a new --out")
    output_folder(run_dir)
    began = time.perf_counter()
    for index, (name, step) in enumerate(DEMO_STEPS, 1):
        log.info("demo [%d/%d] %s", index, len(DEMO_STEPS), name)
        started = time.perf_counter()
        step(run_dir, options)
        append_jsonl(run_dir / "demo_timing.jsonl", {"step": name, "seconds": round(time.perf_counter() - started, 2)})
    log.info("demo finished in %.0f s; open %s", time.perf_counter() - began, run_dir / "report.html")
    return run_dir / "report.html"
