"""``latentlens sfvq --run RUN --bits B [--out DIR]``: a space-filling curve through the run's latents, read
panoptically (corner images, per-label histograms, distances) with its lines as ranked directions; a thin
wrapper over :func:`latentlens.workflows.sfvq.sfvq_run`."""

from __future__ import annotations

import logging

from . import add_model_options, positive_int, run_folder, seed

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("sfvq", help="space-filling vector quantization of a latent space (panoptic view)")
    add_model_options(p)
    p.add_argument("--bits", type=positive_int, default=6, help="final bitrate: 2^bits corners (default 6)")
    p.add_argument("--epochs", type=positive_int, default=3, help="epochs per bitrate (default 3)")
    p.add_argument("--samples", type=positive_int, default=10_000, help="latents the curve is fitted to")
    p.add_argument("--lines", type=positive_int, default=10, help="ranked lines kept as directions")
    p.add_argument("--data", default=None, help="your images (with --labels CSV or class sub-folders) for a VAE")
    p.add_argument("--labels", default=None)
    p.add_argument("--augment", default="", help="comma-separated lines to sample images along, e.g. 3,17")
    p.add_argument("--augment-n", type=positive_int, default=16, help="images per augmented line")
    p.add_argument("--out", default=None, help="output folder (default RUN/sfvq); with --model: the run folder")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import LatentLensError
    from ..workflows.sfvq import sfvq_run

    if not 2 <= args.bits <= 14:
        raise LatentLensError(f"--bits must be in [2, 14], got {args.bits}")
    try:
        lines = [int(v) for v in args.augment.split(",") if v.strip()]
    except ValueError:
        raise LatentLensError(f"--augment takes comma-separated line numbers, got {args.augment!r}") from None
    if any(not 0 <= j < 2**args.bits - 1 for j in lines):
        raise LatentLensError(f"--augment lines must be in [0, {2**args.bits - 2}]")
    run_dir = run_folder(args)
    summary = sfvq_run(run_dir, args.bits, None if args.model else args.out, args.epochs, args.samples, args.lines,
                       args.seed, args.data, args.labels, lines, args.augment_n, args.device, not args.no_progress)  # fmt: skip
    log.info("sfvq: %d corners, locality %.3f, curve MSE %.4f (k-means %.4f)", summary["corners"],
             summary["locality_ratio"], summary["curve_mse"], summary["kmeans_mse"])  # fmt: skip
    return 0
