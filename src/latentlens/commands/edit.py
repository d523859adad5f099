"""``latentlens edit --run DDPM_RUN --directions FILE --k 3 --strength 4 --images PATH|samples``: edit sampled or
real images (DDIM inversion first) along h-space directions of a diffusion model; a thin wrapper over
:func:`latentlens.workflows.hspace.edit`.

Writes into ``--out`` (default ``RUN/edits``) a sheet per direction (rows: images; columns: shifts -s, -s/2,
0, s/2, s in standard deviations of h), the images edited by +s, and ``edit.json``.
"""

from __future__ import annotations

import logging

from . import fraction, positive_float, positive_int, seed

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("edit", help="edit images along h-space directions of a diffusion model")
    p.add_argument("--run", required=True, help="DDPM run folder, or zoo:NAME")
    p.add_argument("--directions", required=True, help="a Directions artifact from discover --space h (.safetensors)")
    p.add_argument("--k", default=None, help="direction index, or comma-separated indices (default: all)")
    p.add_argument("--strength", type=positive_float, default=4.0, help="largest shift s (std of h; default 4)")
    p.add_argument("--images", default="samples", help="'samples' (seeded noise) or a folder of your images")
    p.add_argument("--n", type=positive_int, default=8, help="images to edit (default 8)")
    p.add_argument("--ddim-steps", type=positive_int, default=None, help="default: as at discovery")
    p.add_argument("--t-edit", type=fraction, default=None, help="default: as at discovery")
    p.add_argument("--edit-mode", choices=("asyrp", "symmetric"), default=None)
    p.add_argument("--out", default=None, help="output folder (default RUN/edits)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import LatentLensError
    from ..workflows.hspace import edit

    ks = None
    if args.k is not None:
        try:
            ks = [int(v) for v in args.k.split(",") if v.strip()]
        except ValueError:
            raise LatentLensError(f"--k takes direction indices, e.g. 3 or 0,2,5; got {args.k!r}") from None
    summary = edit(args.run, args.directions, ks, args.strength, args.images, args.n, args.out, args.ddim_steps,
                   args.t_edit, args.edit_mode, args.seed, args.device, not args.no_progress)  # fmt: skip
    log.info("edit: %d images along %d directions -> %s", summary["n_images"], len(summary["written"]),
             args.out or "RUN/edits")  # fmt: skip
    return 0
