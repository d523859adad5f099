"""Benchmark: vectorised dSprites rendering vs a per-image PIL ``ImageDraw.polygon`` reference.

Usage: ``python benchmarks/dsprites_render.py [--quick] [--n 4096]``.  Writes
``bench-results/dsprites_render.json``.  ``--quick`` skips timing the full-dataset ``write_npz``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from latentlens.data import _dsprites_geometry as geo
from latentlens.data import dsprites as ds

ROOT = Path(__file__).resolve().parents[1]


def reference_render(factors: np.ndarray) -> np.ndarray:
    """Same geometry, one image at a time with PIL (PIL samples pixel centres at integer coordinates)."""
    out = np.empty((len(factors), 64, 64), dtype=np.uint8)
    outlines = geo.outlines()
    for i, (shape, scale, orient, px, py) in enumerate(factors):
        s = ds.latents_values["scale"][scale]
        t = ds.latents_values["orientation"][orient]
        x0 = 16.0 + 32.0 * ds.latents_values["posX"][px]
        y0 = 16.0 + 32.0 * ds.latents_values["posY"][py]
        u, v = outlines[shape][:, 0], outlines[shape][:, 1]
        xs = x0 + s * (u * np.cos(t) + v * np.sin(t)) - 0.5
        ys = y0 + s * (-u * np.sin(t) + v * np.cos(t)) - 0.5
        canvas = Image.new("L", (64, 64), 0)
        ImageDraw.Draw(canvas).polygon(list(zip(xs.tolist(), ys.tolist())), fill=1)
        out[i] = np.asarray(canvas)
    return out


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the full-dataset write")
    parser.add_argument("--n", type=int, default=4096, help="images per timed batch")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "dsprites_render.json"))
    args = parser.parse_args(argv)

    factors = ds.DSprites().sample_factors(args.n, np.random.default_rng(0))
    ds.render(factors[:64])  # warm-up
    ours_s = best_time(lambda: ds.render(factors), repeats=3)
    reference_render(factors[:64])  # warm-up
    ref_s = best_time(lambda: reference_render(factors), repeats=3)
    agreement = float((ds.render(factors) == reference_render(factors)).mean())

    result = {
        "name": "dsprites_render",
        "ours": args.n / ours_s,
        "reference": args.n / ref_s,
        "ratio": ref_s / ours_s,
        "unit": "images/s",
        "command": "python benchmarks/dsprites_render.py",
        "batch": args.n,
        "reference_impl": "PIL ImageDraw.polygon, one image at a time, same polygons",
        "pixel_agreement_with_reference": agreement,
        "cpu_count": os.cpu_count(),
        "full_dataset_write_s": None,
    }
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            path = ds.write_npz(Path(tmp) / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
            result["full_dataset_write_s"] = time.perf_counter() - start
            result["full_dataset_npz_bytes"] = path.stat().st_size
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
