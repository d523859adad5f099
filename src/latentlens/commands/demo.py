"""``latentlens demo --out runs/demo``: the main job on built-in data and the model zoo, ending in
``report.html`` (a thin wrapper over :func:`latentlens.workflows.demo.run_demo`). Run it again after an
interruption and it continues where it stopped."""

from __future__ import annotations

from . import positive_int, seed


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="interpret the zoo's dSprites VAE and write a report (the main job)")
    p.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    p.add_argument("--short-steps", type=positive_int, default=600, help="steps of the short training run")
    p.add_argument("--zoo-model", default=None, help="zoo VAE to interpret (default: the best dSprites VAE)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..workflows.demo import run_demo

    run_demo(args.out, seed=args.seed, progress=not args.no_progress, short_steps=args.short_steps,
             zoo_model=args.zoo_model)  # fmt: skip
    return 0
