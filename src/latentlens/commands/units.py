"""``latentlens units --run RUN|--model SPEC|--activations FILE --images PATH|dsprites [--layer NAME]``:
interpretability of a layer's units vs directions in its activation space (Klindt et al.); a thin wrapper
over :func:`latentlens.workflows.units.units_run`."""

from __future__ import annotations

import logging

from . import positive_int, run_folder, seed

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    from . import add_model_options

    p = subparsers.add_parser("units", help="are a layer's units interpretable? directions vs neurons (Klindt et al.)")
    add_model_options(p, required=False)
    p.add_argument("--activations", default=None, help="your own recordings: a .npy or .csv (images x units)")
    p.add_argument("--images", default="dsprites", help="'dsprites' or a folder of images (sorted, matching --activations)")
    p.add_argument("--layer", default=None, help="layer name (default: the encoder's last convolution)")
    p.add_argument("--n", type=positive_int, default=2000, help="images to score (at least 880)")
    p.add_argument("--metric", choices=["pixel", "colour"], default="pixel")
    p.add_argument("--out", default=None, help="folder to write into (default: the run folder)")
    p.add_argument("--seed", type=seed, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import LatentLensError
    from ..workflows.units import units_run

    if (args.run is None and args.model is None) == (args.activations is None):
        raise LatentLensError("give one of --run, --model or --activations")
    run_dir = run_folder(args) if args.activations is None else None
    summary = units_run(run_dir, args.layer, args.images, None if args.model else args.out, args.n, args.metric,
                        args.activations, args.seed, args.device)  # fmt: skip
    ii = summary["ii"]
    log.info("units: II units %.3f, k-means %.3f (p = %.3g), PCA %.3f, random %.3f", ii["units"]["mean"],
             ii["kmeans"]["mean"], summary["directions_vs_units"]["kmeans"]["p_value_greater"], ii["pca"]["mean"],
             ii["random"]["mean"])  # fmt: skip
    return 0
