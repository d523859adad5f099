"""``latentlens data dsprites --out FILE.npz`` and ``latentlens data defects --out DIR``."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

from . import positive_int, seed

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
