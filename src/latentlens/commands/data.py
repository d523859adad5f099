"""``latentlens data dsprites --out FILE.npz``, ``latentlens data defects --out DIR`` and
``latentlens data cells --out DIR``."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

from . import non_negative_float, positive_int, seed

log = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("data", help="generate the built-in datasets")
    kinds = p.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    d = kinds.add_parser("dsprites", help="the whole dSprites dataset in the official .npz layout")
    d.add_argument("--out", required=True, help="file to write, e.g. dsprites.npz")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=run_dsprites)
    m = kinds.add_parser("defects", help="synthetic defect benchmark in the MVTec AD folder layout")
    m.add_argument("--out", required=True, help="folder to write")
    m.add_argument("--seed", type=seed, default=0)
    m.add_argument("--categories", default=None, help="comma-separated subset of categories")
    m.add_argument("--image-size", type=positive_int, default=None)
    m.set_defaults(func=run_defects)
    c = kinds.add_parser("cells", help="synthetic fluorescence cells in conditions that differ by planted phenotypes")
    c.add_argument("--out", required=True, help="folder to write (one sub-folder per condition + factors.csv)")
    c.add_argument("--n", type=positive_int, default=500, help="cells per condition")
    c.add_argument("--strength", type=non_negative_float, default=1.0, help="size of the planted differences (0 = none)")
    c.add_argument("--phenotypes", default="nucleus_size,elongation",
                   help="planted phenotypes: nucleus_size, elongation, puncta, ring")  # fmt: skip
    c.add_argument("--conditions", default="control,treated")
    c.add_argument("--response", choices=["all", "graded"], default="all",
                   help="all: every treated cell shows the full shift; graded: each cell its own U(0, 2) share of "
                        "each phenotype's shift (uneven response; the phenotypes vary independently)")  # fmt: skip
    c.add_argument("--rgb", action="store_true", help="three channels (the ring in its own channel)")
    c.add_argument("--image-size", type=positive_int, default=64)
    c.add_argument("--seed", type=seed, default=0)
    c.set_defaults(func=run_cells)


def run_dsprites(args) -> int:
    from tqdm.auto import tqdm

    from ..data.dsprites import NUM_IMAGES, write_npz
    from ..errors import LatentLensError
    from ..io import ensure_writable_dir

    out = Path(args.out)
    if out.is_dir():
        raise LatentLensError(f"--out must be a file path, {out} is a folder")
    if out.suffix != ".npz":
        raise LatentLensError(f"--out must end in .npz, got {out.name}")
    ensure_writable_dir(out.parent)
    with tqdm(total=NUM_IMAGES, disable=args.no_progress, unit="img", desc="dsprites") as bar:
        write_npz(out, progress=lambda done, total: bar.update(done - bar.n))
    log.info("wrote %s (%d images)", out, NUM_IMAGES)
    return 0


def run_defects(args) -> int:
    from ..data.defects import generate_benchmark
    from ..io import ensure_writable_dir

    ensure_writable_dir(args.out)
    kwargs = {"seed": args.seed}
    if args.categories:
        kwargs["categories"] = [c.strip() for c in args.categories.split(",") if c.strip()]
    if args.image_size:
        kwargs["image_size"] = args.image_size
    accepted = inspect.signature(generate_benchmark).parameters
    summary = generate_benchmark(args.out, **{k: v for k, v in kwargs.items() if k in accepted})
    log.info("wrote the defect benchmark to %s: %s", args.out, summary)
    return 0


def run_cells(args) -> int:
    from ..data.cells import DEFAULT_EFFECTS, PHENOTYPES, generate_cells
    from ..errors import LatentLensError

    chosen = [p.strip() for p in args.phenotypes.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PHENOTYPES]
    if unknown or not chosen:
        raise LatentLensError(f"--phenotypes must name some of {', '.join(PHENOTYPES)}, got {args.phenotypes!r}")
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    if len(conditions) < 2 or len(set(conditions)) != len(conditions):
        raise LatentLensError("--conditions needs two or more distinct names")
    shifts = {"puncta": 0.6, "ring": 0.5, **DEFAULT_EFFECTS}
    out = generate_cells(args.out, args.n, args.strength, {p: shifts[p] for p in chosen}, conditions,
                         args.image_size, 3 if args.rgb else 1, args.seed, args.response)  # fmt: skip
    log.info("wrote %d cells per condition (%s) to %s", args.n, ", ".join(conditions), out)
    return 0
