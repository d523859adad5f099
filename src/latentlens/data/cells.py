"""Synthetic fluorescence-like cells with planted phenotypes: does a tool find the real difference?

Each image is one cell: a cytoplasm (an ellipse with a smooth texture), a brighter nucleus, optional
punctate spots in the cytoplasm, and an optional ring at the cell's edge (a second channel in RGB, or added
to the grey image). **Nuisance** factors vary in every condition alike: position, rotation, brightness,
cell size and background noise. **Phenotypes** differ between conditions by a planted shift of adjustable
strength: nucleus size, elongation, puncta (spot count) and ring intensity. Every image's factor values are
written beside it, so any claim ("treated cells have larger nuclei") can be checked against the truth.

``generate_cells(out)`` writes ``out/<condition>/cell_00000.png`` (a folder per condition, the layout a
biologist has) and ``out/factors.csv`` (file, condition, and every factor). Seeded and reproducible.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..errors import LatentLensError

PHENOTYPES = ("nucleus_size", "elongation", "puncta", "ring")
NUISANCES = ("x", "y", "rotation", "brightness", "cell_size", "noise")
FACTORS = NUISANCES + PHENOTYPES
BASELINE = {"nucleus_size": 0.35, "elongation": 0.15, "puncta": 0.0, "ring": 0.0}
# the shift of each phenotype in the "treated" condition at strength 1
DEFAULT_EFFECTS = {"nucleus_size": 0.15, "elongation": 0.35}


def sample_factors(n: int, condition_effects: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-cell factor values: nuisances from fixed ranges; phenotypes = baseline + condition shift + jitter."""
    f = {
        "x": rng.uniform(-0.15, 0.15, n), "y": rng.uniform(-0.15, 0.15, n), "rotation": rng.uniform(0, np.pi, n),
        "brightness": rng.uniform(0.6, 1.0, n), "cell_size": rng.uniform(0.26, 0.34, n), "noise": rng.uniform(0.0, 0.06, n),
    }  # fmt: skip
    for name in PHENOTYPES:
        jitter = {"nucleus_size": 0.03, "elongation": 0.05, "puncta": 0.1, "ring": 0.05}[name]
        value = BASELINE[name] + condition_effects.get(name, 0.0) + rng.normal(0, jitter, n)
        f[name] = np.clip(value, {"nucleus_size": 0.15, "elongation": 0.0, "puncta": 0.0, "ring": 0.0}[name],
                          {"nucleus_size": 0.7, "elongation": 0.8, "puncta": 1.0, "ring": 1.0}[name])  # fmt: skip
    return f


def _smooth_noise(rng: np.random.Generator, size: int, scale: int = 8) -> np.ndarray:
    coarse = rng.random((scale, scale))
    idx = np.linspace(0, scale - 1, size)
    i0 = np.floor(idx).astype(int)
    i1 = np.minimum(i0 + 1, scale - 1)
    t = idx - i0
    rows = coarse[i0] * (1 - t)[:, None] + coarse[i1] * t[:, None]
    return rows[:, i0] * (1 - t)[None, :] + rows[:, i1] * t[None, :]


def _soft_inside(r: np.ndarray, sharpness: float) -> np.ndarray:
    """About 1 inside the ellipse ``r < 1``, 0 outside, with a soft edge."""
    return 1 / (1 + np.exp(np.clip((r - 1) * sharpness, -50, 50)))


def render_cell(f: dict, size: int = 64, channels: int = 1, rng: np.random.Generator | None = None) -> np.ndarray:
    """One cell ``(channels, size, size)`` in [0, 1] from scalar factor values ``f`` (see the module docstring)."""
    rng = rng or np.random.default_rng(0)
    grid = np.linspace(-1, 1, size)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    c, s = np.cos(f["rotation"]), np.sin(f["rotation"])
    u = (xx - f["x"]) * c + (yy - f["y"]) * s
    v = -(xx - f["x"]) * s + (yy - f["y"]) * c
    a = f["cell_size"] * (1 + f["elongation"])
    b = f["cell_size"] / (1 + f["elongation"])
    r_cell = (u / a) ** 2 + (v / b) ** 2
    cell = _soft_inside(r_cell, 12)
    texture = 0.75 + 0.25 * _smooth_noise(rng, size)
    rn = f["nucleus_size"]
    nucleus = _soft_inside((u / (a * rn)) ** 2 + (v / (b * rn)) ** 2, 10)
    grey = 0.45 * cell * texture + 0.5 * nucleus
    n_spots = int(round(12 * f["puncta"]))
    for _ in range(n_spots):
        angle, radius = rng.uniform(0, 2 * np.pi), rng.uniform(rn + 0.1, 0.85)
        su, sv = radius * a * np.cos(angle), radius * b * np.sin(angle)
        grey = grey + 0.5 * np.exp(-((u - su) ** 2 + (v - sv) ** 2) / (2 * 0.025**2))
    ring = f["ring"] * np.exp(-((np.sqrt(r_cell) - 1) ** 2) / (2 * 0.08**2))
    grey = f["brightness"] * grey
    out = np.stack([grey + (ring if channels == 1 else 0)] + ([0.3 * grey * 0.5, ring] if channels == 3 else []))
    out = out + f["noise"] * rng.normal(size=out.shape)
    return np.clip(out, 0, 1).astype(np.float32)


def generate_cells(out, n_per_condition: int = 500, strength: float = 1.0, effects: dict | None = None,
                   conditions=("control", "treated"), size: int = 64, channels: int = 1, seed: int = 0,
                   response: str = "all") -> Path:  # fmt: skip
    """Write the image folders and ``factors.csv`` (see the module docstring); returns ``out``.

    ``effects`` maps phenotypes to their shift in every condition after the first (default: nucleus size
    and elongation, :data:`DEFAULT_EFFECTS`), multiplied by ``strength``; with more than two conditions the
    k-th condition gets k times the shift. ``response="all"``: every cell of a condition shows its full
    shift, so the phenotypes move together from cell to cell; ``"graded"``: each cell shows each phenotype's
    shift scaled by its own U(0, 2) draw (the same mean shift; a population whose cells respond unevenly),
    so the phenotypes also vary independently of each other."""
    from PIL import Image

    from ..io import atomic_write_bytes, atomic_write_text, ensure_writable_dir

    effects = dict(DEFAULT_EFFECTS if effects is None else effects)
    unknown = sorted(set(effects) - set(PHENOTYPES))
    if unknown:
        raise LatentLensError(f"unknown phenotypes {unknown} (known: {', '.join(PHENOTYPES)})")
    if n_per_condition < 1 or len(conditions) < 2 or channels not in (1, 3) or size < 16:
        raise LatentLensError("need n_per_condition >= 1, two or more conditions, channels 1 or 3, size >= 16")
    if response not in ("all", "graded"):
        raise LatentLensError(f"response must be 'all' or 'graded', got {response!r}")
    out = ensure_writable_dir(out)
    rng = np.random.default_rng(seed)
    rows = []
    for k, condition in enumerate(conditions):
        shift = {name: k * strength * value * (rng.uniform(0, 2, n_per_condition) if response == "graded" else 1.0)
                 for name, value in effects.items()}  # fmt: skip
        f = sample_factors(n_per_condition, shift, rng)
        folder = ensure_writable_dir(out / condition)
        for i in range(n_per_condition):
            one = {name: float(v[i]) for name, v in f.items()}
            image = render_cell(one, size, channels, rng)
            array = (image[0] if channels == 1 else image.transpose(1, 2, 0)) * 255 + 0.5
            buffer = io.BytesIO()
            Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
            name = f"cell_{i:05d}.png"
            atomic_write_bytes(folder / name, buffer.getvalue())
            rows.append({"file": f"{condition}/{name}", "condition": condition, **{n: round(one[n], 5) for n in FACTORS}})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["file", "condition", *FACTORS])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "factors.csv", text.getvalue())
    return Path(out)


def nucleus_area(image: np.ndarray, threshold: float = 0.62) -> float:
    """Share of pixels brighter than the nucleus threshold (relative to the image's own brightness)."""
    grey = np.asarray(image, dtype=np.float64)
    grey = grey[0] if grey.ndim == 3 else grey
    return float((grey > threshold * grey.max()).mean())


def cell_elongation(image: np.ndarray, threshold: float = 0.15) -> float:
    """Ratio of the cell mask's principal axes (second moments), minus 1: 0 for a disc."""
    grey = np.asarray(image, dtype=np.float64)
    grey = grey[0] if grey.ndim == 3 else grey
    ys, xs = np.nonzero(grey > threshold * grey.max())
    if len(xs) < 3:
        return 0.0
    evals = np.linalg.eigvalsh(np.cov(np.stack([xs, ys])))
    return float(np.sqrt(evals[-1] / max(evals[0], 1e-12)) - 1)


__all__ = ["FACTORS", "NUISANCES", "PHENOTYPES", "cell_elongation", "generate_cells", "nucleus_area", "render_cell",
           "sample_factors"]  # fmt: skip
