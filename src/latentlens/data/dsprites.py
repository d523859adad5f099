"""Exact procedural dSprites (Matthey, Higgins, Hassabis & Lerchner 2017, "dSprites: Disentanglement
testing Sprites dataset", https://github.com/deepmind/dsprites-dataset).

737,280 binary 64x64 images, one per combination of color(1) x shape(3) x scale(6) x orientation(40) x
posX(32) x posY(32); index = 245760*shape + 40960*scale + 1024*orientation + 32*posX + posY (posY fastest).

Rendering model (reverse-engineered from the 320 real frames of the dataset's ``dsprites.gif``; see
``shared/research/disentanglement.md`` section 1.5):

* screen x right, y down; pixel (r, c) is on iff its centre (c + 0.5, r + 0.5) is inside the shape (no
  anti-aliasing); scanline crossings use the half-open rule min(y0, y1) <= Y < max(y0, y1);
* sprite centre (16 + 32 posX, 16 + 32 posY) px with pos in [0, 1] (posY = 0 is the top);
* orientation theta in linspace(0, 2 pi, 40) turns the sprite counter-clockwise on screen:
  x = x0 + u cos(theta) + v sin(theta),  y = y0 - u sin(theta) + v cos(theta)  (local v points down);
* scale s in linspace(0.5, 1, 6) multiplies every length;
* square half side 9.5975 px; ellipse a 72-gon with semi-axes 12.775 x 7.22 px; heart a 180-vertex polar
  polygon (lobes up, tip down; radii in ``_dsprites_geometry``, r(40 deg) tuned 11.178 -> 11.192).

With it all 320 GIF frames are reproduced pixel for pixel, and the whole dataset has 128,327,352 on-pixels
against the true 128,328,862 (-0.0012 %; the truth follows from the published pixel mean).  Orientation 0 and
39 render identical images (both 0 and 2 pi are in the linspace).

Implementation: the scanline spans of every (shape, scale, orientation, posY) are tabulated once (x relative
to the sprite centre); rendering a batch shifts them by the sprite's x, turns each span into a 64-bit row mask
and XORs the masks into per-row words, which are unpacked to bytes.  No Python loop runs over images.
"""

from __future__ import annotations

import functools
import io
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from latentlens.errors import LatentLensError
from latentlens.io import atomic_path

from . import _dsprites_geometry as geo

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
LATENT_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
LATENT_SIZES = (1, 3, 6, 40, 32, 32)
LATENT_BASES = (737280, 245760, 40960, 1024, 32, 1)
NUM_IMAGES = 737280
#: The true dataset's on-pixel total (pixel mean 0.042494423521889584 x 737280 x 4096).
TRUE_TOTAL_ON_PIXELS = 128_328_862

latents_values = {
    "color": np.array([1.0]),
    "shape": np.array([1.0, 2.0, 3.0]),
    "scale": np.linspace(0.5, 1.0, 6),
    "orientation": np.linspace(0.0, 2.0 * np.pi, 40),
    "posX": np.linspace(0.0, 1.0, 32),
    "posY": np.linspace(0.0, 1.0, 32),
}

_SIZES6 = np.array(LATENT_SIZES, dtype=np.int64)
_OUTLINES = geo.outlines()
DEFAULT_CHUNK = 4096


def classes_to_index(classes6: np.ndarray) -> np.ndarray:
    """Dataset indices of official 6-column class rows (color, shape, scale, orientation, posX, posY)."""
    c = np.asarray(classes6, dtype=np.int64)
    if c.shape[-1] != 6:
        raise ValueError(f"expected 6 class columns, got shape {c.shape}")
    if np.any(c < 0) or np.any(c >= _SIZES6):
        raise ValueError("class index out of range")
    return c @ np.array(LATENT_BASES, dtype=np.int64)


def index_to_classes(index) -> np.ndarray:
    """Official 6-column classes (int64) of dataset indices; inverse of :func:`classes_to_index`."""
    idx = np.asarray(index, dtype=np.int64)
    if np.any(idx < 0) or np.any(idx >= NUM_IMAGES):
        raise ValueError("dataset index out of range")
    out = np.zeros(idx.shape + (6,), dtype=np.int64)
    for j, (base, size) in enumerate(zip(LATENT_BASES[1:], LATENT_SIZES[1:]), start=1):
        out[..., j] = (idx // base) % size
    return out


def latents_values_from_classes(classes6: np.ndarray) -> np.ndarray:
    """Official float64 ``latents_values`` rows of 6-column class rows."""
    c = np.asarray(classes6, dtype=np.int64)
    cols = [latents_values[name][c[..., j]] for j, name in enumerate(LATENT_NAMES)]
    return np.stack(cols, axis=-1).astype(np.float64)


def _as_factors(classes: np.ndarray) -> np.ndarray:
    c = np.asarray(classes)
    if c.ndim == 1:
        c = c[None]
    if c.ndim != 2 or c.shape[1] not in (5, 6):
        raise ValueError(f"factor classes must have shape (n, 5) or (n, 6), got {np.shape(classes)}")
    c = c.astype(np.int64)[:, -5:]
    if np.any(c < 0) or np.any(c >= np.array(FACTOR_SIZES)):
        raise ValueError("factor class out of range")
    return c


def _row_words_direct(c: np.ndarray) -> np.ndarray:
    """Row words of (n, 5) factors straight from the placed polygons (reference for the tabulated path)."""
    n = len(c)
    scale = latents_values["scale"][c[:, 1]]
    theta = latents_values["orientation"][c[:, 2]]
    x0 = 16.0 + 32.0 * latents_values["posX"][c[:, 3]]
    y0 = 16.0 + 32.0 * latents_values["posY"][c[:, 4]]
    parts = [(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))]
    for shape, outline in enumerate(_OUTLINES):
        where = np.flatnonzero(c[:, 0] == shape)
        if where.size:
            xs, ys = geo.place(outline, scale[where], theta[where], x0[where], y0[where])
            img, row, x = geo.scanline_crossings(xs, ys)
            parts.append((where[img], row, x))
    img, row, x = (np.concatenate(a) for a in zip(*parts))
    return geo.row_words(n, img, row, geo.toggle_columns(x))


@functools.cache
def _span_tables() -> list[tuple[np.ndarray, np.ndarray]]:
    """Per shape: scanline spans (x relative to the sprite centre) of every (scale, orientation, posY)."""
    grid = np.meshgrid(np.arange(6), np.arange(40), np.arange(32), indexing="ij")
    scale = latents_values["scale"][grid[0].ravel()]
    theta = latents_values["orientation"][grid[1].ravel()]
    y0 = 16.0 + 32.0 * latents_values["posY"][grid[2].ravel()]
    return [geo.crossing_pairs(*geo.place(o, scale, theta, np.zeros_like(y0), y0)) for o in _OUTLINES]


def _row_words(c: np.ndarray) -> np.ndarray:
    """Row words (n * 64,) of (n, 5) factors: tabulated spans shifted by the sprite's x centre."""
    words = np.zeros(len(c) * geo.CANVAS, dtype=np.uint64)
    x0 = 16.0 + 32.0 * latents_values["posX"][c[:, 3]]
    for shape, (pairs, rows) in enumerate(_span_tables()):
        where = np.flatnonzero(c[:, 0] == shape)
        if where.size == 0:
            continue
        cs = c[where]
        key = (cs[:, 1] * 40 + cs[:, 2]) * 32 + cs[:, 4]
        cols = geo.toggle_columns(pairs[key] + x0[where, None, None])
        span_words = geo.MASKS[cols[..., 0]] ^ geo.MASKS[cols[..., 1]]
        np.bitwise_xor.at(words, (where * geo.CANVAS)[:, None] + rows[key], span_words)
    return words


def render(classes: np.ndarray, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Render (n, 5) factor classes (or official (n, 6) rows) to (n, 64, 64) uint8 images in {0, 1}.

    Vectorised over images (scanline crossings + parity fill), processed ``chunk`` images at a time.
    """
    c = _as_factors(classes)
    if len(c) <= chunk:
        return geo.unpack(_row_words(c))
    out = np.empty((len(c), 64, 64), dtype=np.uint8)
    for start in range(0, len(c), chunk):
        out[start : start + chunk] = geo.unpack(_row_words(c[start : start + chunk]))
    return out


def render_index(index, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Images of dataset indices."""
    return render(index_to_classes(index), chunk=chunk)


def total_on_pixels(chunk: int = 8192) -> int:
    """On-pixel sum over the whole regenerated dataset (true dataset: 128,328,862)."""
    total = 0
    for start in range(0, NUM_IMAGES, chunk):
        classes = index_to_classes(np.arange(start, min(start + chunk, NUM_IMAGES)))
        words = _row_words(classes[:, 1:])
        if hasattr(np, "bitwise_count"):  # numpy >= 2.0
            total += int(np.bitwise_count(words).sum(dtype=np.int64))
        else:
            total += int(geo.unpack(words).sum(dtype=np.int64))
    return total


class DSprites:
    """Ground-truth dSprites with the 5 variable factors (color dropped, as in disentanglement_lib)."""

    deterministic_images = True  # a factor row always renders to the same image (metrics may cache codes)

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    image_shape = (1, 64, 64)

    def __len__(self) -> int:
        return NUM_IMAGES

    @property
    def num_factors(self) -> int:
        return len(FACTOR_SIZES)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 5) int64 factor classes drawn i.i.d. uniformly."""
        return np.stack([rng.integers(0, size, size=n, dtype=np.int64) for size in FACTOR_SIZES], axis=1)

    def render(self, factors: np.ndarray) -> np.ndarray:
        return render(factors)

    def images(self, factors: np.ndarray) -> torch.Tensor:
        """(n, 1, 64, 64) float32 tensor in {0, 1}."""
        return torch.from_numpy(render(factors)).unsqueeze(1).to(torch.float32)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
        factors = self.sample_factors(n, rng)
        return self.images(factors), factors

    def sample_fixed(
        self, n: int, rng: np.random.Generator, fixed: dict[int, int] | None = None
    ) -> np.ndarray:
        """Uniform factor batch whose factor ``k`` equals ``fixed[k]`` for every key (the rest vary)."""
        factors = self.sample_factors(n, rng)
        for k, value in (fixed or {}).items():
            if not 0 <= k < len(FACTOR_SIZES) or not 0 <= value < FACTOR_SIZES[k]:
                raise ValueError(f"cannot fix factor {k} to {value}")
            factors[:, k] = value
        return factors


_NPZ_KEYS = {
    "imgs": (np.uint8, (64, 64)),
    "latents_classes": (np.int64, (6,)),
    "latents_values": (np.float64, (6,)),
}


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read ``imgs``, ``latents_classes`` and ``latents_values`` from an official-layout dSprites ``.npz``.

    The official file's ``metadata`` entry is a Python-2 pickle; it is never unpickled (not read at all).
    """
    path = Path(path)
    if not path.is_file():
        raise LatentLensError(f"missing dSprites file: {path}")
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for key, (dtype, tail) in _NPZ_KEYS.items():
                if f"{key}.npy" not in names:
                    raise LatentLensError(f"{path}: not a dSprites npz (no '{key}' array)")
                with zf.open(f"{key}.npy") as fh:
                    arr = np.lib.format.read_array(fh, allow_pickle=False)
                if arr.ndim != 1 + len(tail) or arr.shape[1:] != tail:
                    raise LatentLensError(f"{path}: '{key}' has shape {arr.shape}, expected (n, {tail})")
                out[key] = arr.astype(dtype, copy=False)
    except LatentLensError:
        raise
    except Exception as exc:  # a damaged zip or .npy header fails in zipfile, zlib, numpy or tokenize, in many types
        raise LatentLensError(f"corrupt dSprites file {path}: {type(exc).__name__}: {exc}") from None
    n = {len(a) for a in out.values()}
    if len(n) != 1:
        raise LatentLensError(f"{path}: arrays disagree on the number of images")
    return out


def _npy_header(dtype, shape) -> bytes:
    buf = io.BytesIO()
    header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def write_npz(
    path: str | os.PathLike,
    chunk: int = 16384,
    indices: Sequence[int] | np.ndarray | None = None,
    compresslevel: int = 6,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the dataset (or ``indices`` of it) as an official-layout ``.npz``, atomically.

    Arrays ``imgs`` uint8 (n, 64, 64) in {0,1}, ``latents_classes`` int64 (n, 6), ``latents_values`` float64
    (n, 6); zip-deflate compressed (``compresslevel``, default 6 like ``np.savez_compressed``; every level
    gives a valid npz for ``np.load``).  Images are rendered and streamed ``chunk`` at a time, so memory stays
    bounded; ``progress(done, total)`` is called after every chunk.  No ``metadata`` entry is written.  The
    file appears only when complete (temporary file in the same folder + ``os.replace``).  The full dataset
    takes about 30 s on 2 cores (about 19 MB).
    """
    path = Path(path)
    idx = np.arange(NUM_IMAGES, dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64)
    classes = index_to_classes(idx)
    n = len(idx)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
            with zf.open("imgs.npy", "w", force_zip64=True) as fh:
                fh.write(_npy_header(np.uint8, (n, 64, 64)))
                for start in range(0, n, chunk):
                    fh.write(render(classes[start : start + chunk], chunk=chunk).tobytes())
                    if progress is not None:
                        progress(min(start + chunk, n), n)
            labels = {"latents_classes": classes, "latents_values": latents_values_from_classes(classes)}
            for key, arr in labels.items():
                with zf.open(f"{key}.npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.ascontiguousarray(arr), allow_pickle=False)
    return path
