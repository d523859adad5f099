"""``latentlens demo --out runs/demo``: the main job on built-in data, ending in ``report.html``.

It trains a beta-VAE on dSprites (rendered on the fly), then runs each step of ``DEMO_STEPS`` on the
trained run and writes the report. A demo interrupted at any point continues where it stopped when run
again: training resumes from its last checkpoint and finished steps are not redone.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from . import positive_int

log = logging.getLogger(__name__)

DEMO_STEPS_DEFAULT = 1000


def _train(run_dir: Path, args) -> None:
    from ..data.sources import make_source
    from ..train.loop import TrainSettings
    from ..train.vae import train_vae

    summary = run_dir / "train_summary.json"
    if summary.exists():
        log.info("demo: the VAE in %s is already trained", run_dir)
        return
    resume = (run_dir / "config.json").exists()
    settings = TrainSettings(steps=args.steps, batch_size=64, lr=5e-4, seed=args.seed, checkpoint_every=100,
                             progress=not args.no_progress)  # fmt: skip
    train_vae(make_source("dsprites"), run_dir, settings, {"latent_dim": 10}, "beta-vae", {"beta": 4.0}, resume)


def _report(run_dir: Path, args) -> None:
    from ..viz.report import build_report

    build_report(run_dir)


def _lazy(module: str, function: str):
    """A step that imports its command module only when it runs."""

    def step(run_dir: Path, args) -> None:
        import importlib

        getattr(importlib.import_module(f"latentlens.workflows.{module}"), function)(run_dir, args)

    return step


# (what it does, function(run_dir, args)); each step adds pictures or metrics to the same run folder and
# skips work that an earlier, interrupted demo already finished.
DEMO_STEPS = [
    ("train a beta-VAE on dSprites", _train),
    ("disentanglement metrics (fast preset)", _lazy("evaluate", "demo_step")),
    ("attention maps of each latent dimension", _lazy("explain", "demo_step")),
    ("SeFa and Voynov directions of the VAE decoder, with traversals", _lazy("discover", "demo_step")),
    ("write the report", _report),
]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="train on dSprites and write a report (the main job)")
    p.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    p.add_argument("--steps", type=positive_int, default=DEMO_STEPS_DEFAULT, help="VAE training steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io import append_jsonl, ensure_writable_dir

    run_dir = ensure_writable_dir(args.out)
    began = time.perf_counter()
    for index, (name, step) in enumerate(DEMO_STEPS, 1):
        log.info("demo [%d/%d] %s", index, len(DEMO_STEPS), name)
        started = time.perf_counter()
        step(run_dir, args)
        append_jsonl(run_dir / "demo_timing.jsonl", {"step": name, "seconds": round(time.perf_counter() - started, 2)})
    log.info("demo finished in %.0f s; open %s", time.perf_counter() - began, run_dir / "report.html")
    return 0
