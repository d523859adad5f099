"""``latentlens explain --run RUN|--model SPEC --images PATH|dsprites [--out DIR] [--layer --variant --n]``:
attention maps of every latent dimension of a VAE (Liu et al. 2020, Eqs. 1-3), written as PNG overlays plus
``attention/summary.json`` for the report; a thin wrapper over :func:`latentlens.workflows.explain`."""

from __future__ import annotations

import logging
from pathlib import Path

from ..workflows.explain import explain_run
from . import add_model_options, positive_int, run_folder, seed

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    from ..explain.vae_attention import VARIANTS

    p = subparsers.add_parser("explain", help="attention maps of each VAE latent dimension")
    add_model_options(p)
    p.add_argument("--images", required=True, help="'dsprites' or a folder of images (a seeded sample of --n)")
    p.add_argument("--out", default=None, help="folder to write into (default: the run folder)")
    p.add_argument("--layer", default=None, help="encoder layer (default: encoder.3 for latentlens VAEs, else the "
                                                 "encoder's last convolution)")  # fmt: skip
    p.add_argument("--variant", choices=VARIANTS, default="paper", help="paper (Eqs. 1-3), official, signed")
    p.add_argument("--latent", choices=["mean", "sample"], default="mean", help="explain mu (default) or sampled z")
    p.add_argument("--n", type=positive_int, default=8, help="number of images to explain")
    p.add_argument("--seed", type=seed, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    run_dir = run_folder(args)
    out = None if args.model else args.out
    summary = explain_run(run_dir, args.images, out, args.layer, args.variant, args.latent, args.n, args.seed,
                          device=args.device)  # fmt: skip
    log.info("wrote attention maps of %d images (layer %s, variant %s) to %s", summary["n"], summary["layer"],
             summary["variant"], Path(out or run_dir) / "attention")  # fmt: skip
    return 0
