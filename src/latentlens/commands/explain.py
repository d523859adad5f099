"""``latentlens explain --run RUN --images PATH|dsprites [--out DIR] [--layer --variant --n]``: attention
maps of every latent dimension of a trained VAE (Liu et al. 2020, Eqs. 1-3), written as PNG overlays
plus ``attention/summary.json`` for the report."""

from __future__ import annotations

import logging
from pathlib import Path

from ..workflows.explain import explain_run
from . import positive_int

log = logging.getLogger(__name__)

def add_parser(subparsers) -> None:
    from ..explain.vae_attention import DEFAULT_LAYER, VARIANTS

    p = subparsers.add_parser("explain", help="attention maps of each VAE latent dimension")
    p.add_argument("--run", required=True, help="a VAE run folder (from `latentlens train vae`), or zoo:NAME")
    p.add_argument("--images", required=True, help="'dsprites' or a folder of images")
    p.add_argument("--out", default=None, help="folder to write into (default: the run folder)")
    p.add_argument("--layer", default=DEFAULT_LAYER, help=f"encoder layer (default {DEFAULT_LAYER})")
    p.add_argument("--variant", choices=VARIANTS, default="paper", help="paper (Eqs. 1-3), official, signed")
    p.add_argument("--latent", choices=["mean", "sample"], default="mean", help="explain mu (default) or sampled z")
    p.add_argument("--n", type=positive_int, default=8, help="number of images to explain")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    summary = explain_run(args.run, args.images, args.out, args.layer, args.variant, args.latent, args.n, args.seed)
    log.info("wrote attention maps of %d images (layer %s, variant %s) to %s", summary["n"], summary["layer"],
             summary["variant"], Path(args.out or args.run) / "attention")  # fmt: skip
    return 0
