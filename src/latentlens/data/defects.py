"""A synthetic defect benchmark in the MVTec AD folder layout, seeded and reproducible.

Categories
    textures ``brick``, ``grass``, ``gravel``: crops of scikit-image's bundled textures (``skimage.data``),
    tinted to colour; training crops come from the top 352 rows of the 512 x 512 source and test crops
    from the rows below, so test images are never seen in training.
    objects ``washer`` (a metal ring with a tab, rotated freely, shifted a little) and ``pill`` (a
    two-tone capsule, rotated within +-15 degrees, shifted a little), drawn procedurally on a matte
    background with lighting jitter.

Defects (the mask is exactly the set of pixels the defect changed)
    ``perlin``  DRAEM-style (Zavrtanik et al. 2021): a thresholded Perlin-noise region, localised by a
                soft window, filled with a foreign image (another bundled scikit-image picture) blended
                at opacity 0.6-1;
    ``scratch`` a thin curved stroke, bright or dark;
    ``hole``    an irregular dark blob, darker in its centre;
    ``color``   an irregular blob re-coloured with a saturated hue, keeping the texture's luminance.
    On objects, defects lie on the object.

Layout written by :func:`generate_benchmark` (``root/<category>/...``)::

    train/good/000.png ...
    test/good/000.png ...            test/<defect>/000.png ...
    ground_truth/<defect>/000_mask.png   (0 / 255, single channel)

plus ``root/benchmark.json`` with the parameters. Every image has its own seed derived from
``(seed, category, split, defect, index)``, so any subset regenerates identically.
"""

from __future__ import annotations

import io
import os
from colorsys import hsv_to_rgb, rgb_to_hsv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..errors import LatentLensError
from ..io import atomic_write_bytes, write_json

TEXTURES = ("brick", "grass", "gravel")
OBJECTS = ("washer", "pill")
CATEGORIES = TEXTURES + OBJECTS
DEFECT_TYPES = ("perlin", "scratch", "hole", "color")
FORMAT = 1

# dark and light end of each texture's tint (RGB in [0, 1])
_TINTS = {
    "brick": ((0.25, 0.08, 0.05), (0.95, 0.62, 0.48)),
    "grass": ((0.05, 0.18, 0.03), (0.62, 0.90, 0.38)),
    "gravel": ((0.16, 0.14, 0.12), (0.90, 0.86, 0.78)),
}
_FOREIGN = ("coffee", "astronaut", "chelsea", "rocket", "immunohistochemistry", "camera", "moon")
_SRC_SIDE = 512
_TRAIN_ROWS = 352  # texture rows [0, 352) train, [352, 512) test (crop side 128 at most fits 160 rows)
_CROP = 128


# ------------------------------------------------------------------------------------------ utilities


def _rng(seed: int, *keys) -> np.random.Generator:
    words = [seed] + [sum((i + 1) * ord(c) for i, c in enumerate(str(k))) if not isinstance(k, int) else k for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def _load_skimage(name: str) -> np.ndarray:
    from skimage import data as skdata

    img = getattr(skdata, name)()
    img = img.astype(np.float32) / 255.0
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    u8 = Image.fromarray(np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return np.asarray(u8.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0


def perlin_noise(shape: tuple[int, int], res: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """2-D gradient (Perlin) noise, values in about [-0.7, 0.7], ``res`` lattice cells per axis."""
    h, w = shape
    gy, gx = int(np.ceil(res[0])) + 1, int(np.ceil(res[1])) + 1
    angles = rng.uniform(0, 2 * np.pi, size=(gy + 1, gx + 1))
    grads = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    y = (np.arange(h) + 0.5) * res[0] / h
    x = (np.arange(w) + 0.5) * res[1] / w
    yy, xx = np.meshgrid(y, x, indexing="ij")
    y0, x0 = np.floor(yy).astype(int), np.floor(xx).astype(int)
    fy, fx = yy - y0, xx - x0

    def dot(oy, ox):
        g = grads[y0 + oy, x0 + ox]
        return g[..., 0] * (fy - oy) + g[..., 1] * (fx - ox)

    def fade(t):
        return t * t * t * (t * (t * 6 - 15) + 10)

    uy, ux = fade(fy), fade(fx)
    top = dot(0, 0) * (1 - ux) + dot(0, 1) * ux
    bottom = dot(1, 0) * (1 - ux) + dot(1, 1) * ux
    return top * (1 - uy) + bottom * uy


def _blob(size: int, centre, radius: float, rng: np.random.Generator, wobble: float = 0.25) -> np.ndarray:
    """Boolean irregular blob: a polar outline r(theta) = radius * (1 + sum of random harmonics)."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    dy, dx = yy - centre[0], xx - centre[1]
    theta = np.arctan2(dy, dx)
    r = np.ones_like(theta)
    for k in range(2, 6):
        r += wobble / k * rng.uniform(-1, 1) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    stretch = rng.uniform(0.6, 1.0)
    phi = rng.uniform(0, np.pi)
    u = dx * np.cos(phi) + dy * np.sin(phi)
    v = (-dx * np.sin(phi) + dy * np.cos(phi)) / stretch
    return np.hypot(u, v) <= radius * r


def _pick_point(support: np.ndarray, rng: np.random.Generator, margin: int) -> tuple[float, float]:
    s = support.copy()
    if margin:
        s[:margin], s[-margin:], s[:, :margin], s[:, -margin:] = False, False, False, False
    ys, xs = np.nonzero(s if s.any() else support)
    i = rng.integers(len(ys))
    return float(ys[i]) + 0.5, float(xs[i]) + 0.5


# -------------------------------------------------------------------------------------- normal images


def _texture_image(name: str, size: int, split: str, rng: np.random.Generator) -> np.ndarray:
    gray = _texture_source(name)
    crop = min(_CROP, _SRC_SIDE - _TRAIN_ROWS)
    if split == "train":
        top = rng.integers(0, _TRAIN_ROWS - crop + 1)
    else:
        top = rng.integers(_TRAIN_ROWS, _SRC_SIDE - crop + 1)
    left = rng.integers(0, _SRC_SIDE - crop + 1)
    patch = gray[top : top + crop, left : left + crop]
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    dark, light = (np.array(c, dtype=np.float32) for c in _TINTS[name])
    gain = rng.uniform(0.93, 1.07)
    t = np.clip((patch - 0.5) * gain + 0.5, 0, 1)[..., None]
    rgb = dark + (light - dark) * t
    return _resize(rgb.astype(np.float32), size)


_TEXTURE_CACHE: dict[str, np.ndarray] = {}


def _texture_source(name: str) -> np.ndarray:
    if name not in _TEXTURE_CACHE:
        g = _load_skimage(name)[..., 0]
        lo, hi = np.percentile(g, [1, 99])
        _TEXTURE_CACHE[name] = np.clip((g - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)
    return _TEXTURE_CACHE[name]


def _supersampled_grid(size: int, factor: int = 2):
    step = 1.0 / factor
    offs = (np.arange(factor) + 0.5) * step
    yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return [(yy + oy, xx + ox) for oy in offs for ox in offs]


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    base = np.array([0.30, 0.33, 0.38], dtype=np.float32) * rng.uniform(0.92, 1.08)
    noise = perlin_noise((size, size), (3, 3), rng)[..., None] * 0.06
    return np.clip(base + noise, 0, 1).astype(np.float32)


def _object_image(name: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Render an object; returns (image (S, S, 3), support mask of the object's visible surface)."""
    img = _background(size, rng)
    cy = size / 2 + rng.uniform(-0.04, 0.04) * size
    cx = size / 2 + rng.uniform(-0.04, 0.04) * size
    light = rng.uniform(0, 2 * np.pi)
    brightness = rng.uniform(0.9, 1.1)
    cover = np.zeros((size, size), dtype=np.float32)
    colour = np.zeros((size, size, 3), dtype=np.float32)
    samples = _supersampled_grid(size)
    if name == "washer":
        r_out, r_in = 0.33 * size, 0.14 * size
        tab_angle = rng.uniform(0, 2 * np.pi)
        for yy, xx in samples:
            dy, dx = yy - cy, xx - cx
            r = np.hypot(dy, dx)
            ang = np.arctan2(dy, dx)
            diff = np.angle(np.exp(1j * (ang - tab_angle)))
            tab = (np.abs(diff) < 0.22) & (r < r_out + 0.07 * size)
            inside = ((r <= r_out) | tab) & (r >= r_in)
            shade = 0.62 + 0.22 * np.cos(ang - light) * (r - r_in) / (r_out - r_in) + 0.08 * np.cos(3 * ang)
            grey = np.clip(shade * brightness, 0, 1)
            cover += inside
            colour += inside[..., None] * (grey[..., None] * np.array([0.92, 0.94, 1.0], dtype=np.float32))
    elif name == "pill":
        half_len, rad = 0.30 * size, 0.13 * size
        phi = np.deg2rad(rng.uniform(-15, 15))
        for yy, xx in samples:
            dy, dx = yy - cy, xx - cx
            u = dx * np.cos(phi) + dy * np.sin(phi)
            v = -dx * np.sin(phi) + dy * np.cos(phi)
            du = np.clip(np.abs(u) - (half_len - rad), 0, None)
            inside = np.hypot(du, v) <= rad
            shade = 0.75 + 0.25 * np.cos(np.arcsin(np.clip(v / rad, -1, 1))) * np.cos(light) * 0.6
            left = np.array([0.92, 0.90, 0.86], dtype=np.float32)
            right = np.array([0.85, 0.30, 0.18], dtype=np.float32)
            base = np.where((u < 0)[..., None], left, right)
            cover += inside
            colour += inside[..., None] * (base * np.clip(shade * brightness, 0, 1)[..., None])
    else:  # pragma: no cover - guarded by generate_category
        raise LatentLensError(f"unknown object {name!r}")
    n = float(len(samples))
    alpha = (cover / n)[..., None]
    mean_colour = colour / np.maximum(cover, 1)[..., None]
    speckle = rng.normal(0, 0.012, size=(size, size, 1)).astype(np.float32)
    img = np.clip(img * (1 - alpha) + mean_colour * alpha + speckle, 0, 1)
    support = cover >= n  # fully covered pixels only
    return img.astype(np.float32), support


def normal_image(category: str, size: int, split: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A defect-free image (S, S, 3) in [0, 1] and the support where defects may be placed."""
    if category in TEXTURES:
        return _texture_image(category, size, split, rng), np.ones((size, size), dtype=bool)
    return _object_image(category, size, rng)


# --------------------------------------------------------------------------------------------- defects


def _perlin_defect(img, support, rng, size):
    for _ in range(20):
        scale = 2 ** rng.integers(1, 4)
        noise = perlin_noise((size, size), (scale, scale), rng)
        cy, cx = _pick_point(support, rng, size // 8)
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        window = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (rng.uniform(0.08, 0.16) * size) ** 2))
        field = noise * window
        frac = rng.uniform(0.01, 0.05)
        values = field[support]
        q = np.quantile(values, 1 - frac)
        mask = (field > max(q, 0.05)) & support
        if mask.sum() >= max(12, size * size // 300):
            break
    foreign = _load_skimage(str(rng.choice(_FOREIGN)))
    fh, fw = foreign.shape[:2]
    side = int(min(fh, fw) * rng.uniform(0.3, 0.8))
    top, left = rng.integers(0, fh - side + 1), rng.integers(0, fw - side + 1)
    patch = _resize(foreign[top : top + side, left : left + side], size)
    beta = rng.uniform(0.6, 1.0)
    out = img.copy()
    out[mask] = (1 - beta) * img[mask] + beta * patch[mask]
    return out, mask


def _scratch_defect(img, support, rng, size):
    for _ in range(20):
        cy, cx = _pick_point(support, rng, size // 10)
        length = rng.uniform(0.2, 0.45) * size
        ang = rng.uniform(0, np.pi)
        bend = rng.uniform(-0.3, 0.3) * length
        p0 = np.array([cx - np.cos(ang) * length / 2, cy - np.sin(ang) * length / 2])
        p2 = np.array([cx + np.cos(ang) * length / 2, cy + np.sin(ang) * length / 2])
        p1 = np.array([cx, cy]) + bend * np.array([-np.sin(ang), np.cos(ang)])
        t = np.linspace(0, 1, 40)[:, None]
        pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        canvas = Image.new("L", (size, size), 0)
        width = max(1, int(round(size / 128 * rng.uniform(1.0, 2.5))))
        ImageDraw.Draw(canvas).line([tuple(p) for p in pts], fill=255, width=width)
        mask = (np.asarray(canvas) > 0) & support
        if mask.sum() >= max(8, size // 8):
            break
    out = img.copy()
    if rng.random() < 0.5:
        value = rng.uniform(0.88, 1.0, size=3)
    else:
        value = rng.uniform(0.0, 0.12, size=3)
    out[mask] = np.clip(value + rng.normal(0, 0.02, size=(int(mask.sum()), 3)), 0, 1)
    return out, mask


def _hole_defect(img, support, rng, size):
    for _ in range(20):
        centre = _pick_point(support, rng, size // 8)
        radius = rng.uniform(0.035, 0.08) * size
        mask = _blob(size, centre, radius, rng) & support
        if mask.sum() >= 12:
            break
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    depth = np.clip(1 - np.hypot(yy - centre[0], xx - centre[1]) / (1.6 * radius), 0, 1)
    dark = rng.uniform(0.02, 0.10) * (1.0 - 0.6 * depth)
    out = img.copy()
    out[mask] = np.clip(dark[mask][:, None] + 0.25 * img[mask] * (1 - depth[mask][:, None]) * 0.4, 0, 1)
    return out, mask


def _color_defect(img, support, rng, size):
    for _ in range(20):
        centre = _pick_point(support, rng, size // 8)
        radius = rng.uniform(0.045, 0.10) * size
        mask = _blob(size, centre, radius, rng, wobble=0.15) & support
        if mask.sum() >= 12:
            break
    base_hue = rgb_to_hsv(*(float(c) for c in img[mask].mean(axis=0)))[0]
    hue = (base_hue + rng.uniform(0.3, 0.7)) % 1.0  # far from the surface's own hue
    colour = np.array(hsv_to_rgb(hue, rng.uniform(0.8, 1.0), 1.0), dtype=np.float32)
    lum = img[mask].mean(axis=1, keepdims=True)
    a = rng.uniform(0.55, 0.85)
    out = img.copy()
    out[mask] = np.clip((1 - a) * img[mask] + a * colour * (0.35 + 0.9 * lum), 0, 1)
    return out, mask


_DEFECTS = {"perlin": _perlin_defect, "scratch": _scratch_defect, "hole": _hole_defect, "color": _color_defect}


def apply_defect(img: np.ndarray, support: np.ndarray, defect: str, rng: np.random.Generator):
    """Return ``(defective image, mask)``; the mask marks exactly the pixels that changed."""
    if defect not in _DEFECTS:
        raise LatentLensError(f"unknown defect type {defect!r} (known: {', '.join(DEFECT_TYPES)})")
    out, mask = _DEFECTS[defect](img, support, rng, img.shape[0])
    changed = np.any(np.abs(out - img) > 0, axis=-1)
    return out, mask & changed


# ------------------------------------------------------------------------------------------------ files


def _png(path: Path, array: np.ndarray) -> None:
    u8 = np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8) if array.dtype != np.uint8 else array
    im = Image.fromarray(u8)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False)
    atomic_write_bytes(path, buf.getvalue())


def generate_category(
    out_dir: str | os.PathLike,
    category: str,
    seed: int = 0,
    n_train: int = 200,
    n_test: int = 12,
    image_size: int = 128,
    defect_types: tuple[str, ...] | list[str] | None = None,
) -> dict:
    """Write one category (``out_dir/<category>/...``); returns its counts."""
    if category not in CATEGORIES:
        raise LatentLensError(f"unknown category {category!r} (known: {', '.join(CATEGORIES)})")
    defects = tuple(defect_types or DEFECT_TYPES)
    root = Path(out_dir) / category
    for i in range(n_train):
        img, _ = normal_image(category, image_size, "train", _rng(seed, category, "train", "good", i))
        _png(root / "train" / "good" / f"{i:03d}.png", img)
    for i in range(n_test):
        img, _ = normal_image(category, image_size, "test", _rng(seed, category, "test", "good", i))
        _png(root / "test" / "good" / f"{i:03d}.png", img)
    for defect in defects:
        for i in range(n_test):
            rng = _rng(seed, category, "test", defect, i)
            img, support = normal_image(category, image_size, "test", rng)
            bad, mask = apply_defect(img, support, defect, rng)
            _png(root / "test" / defect / f"{i:03d}.png", bad)
            _png(root / "ground_truth" / defect / f"{i:03d}_mask.png", mask.astype(np.uint8) * 255)
    return {"train": n_train, "test": {"good": n_test, **{d: n_test for d in defects}}}


def generate_benchmark(
    out_dir: str | os.PathLike,
    categories=None,
    seed: int = 0,
    n_train: int = 200,
    n_test: int = 12,
    image_size: int = 128,
    defect_types=None,
) -> dict:
    """Write the benchmark under ``out_dir`` in MVTec AD layout and return its description.

    ``categories`` defaults to all five (:data:`CATEGORIES`); ``n_test`` is the number of test images per
    defect type and of good test images; ``image_size`` is the side in pixels (crops of 128 source
    pixels are resized to it).
    """
    cats = list(categories or CATEGORIES)
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        raise LatentLensError(f"unknown categories {unknown} (known: {', '.join(CATEGORIES)})")
    defects = list(defect_types or DEFECT_TYPES)
    bad = [d for d in defects if d not in DEFECT_TYPES]
    if bad:
        raise LatentLensError(f"unknown defect types {bad} (known: {', '.join(DEFECT_TYPES)})")
    if n_train < 1 or n_test < 1 or image_size < 16:
        raise LatentLensError("n_train and n_test must be >= 1 and image_size >= 16")
    out = Path(out_dir)
    info = {
        "format": FORMAT,
        "generator": "latentlens.data.defects",
        "seed": seed,
        "image_size": image_size,
        "n_train": n_train,
        "n_test": n_test,
        "defect_types": defects,
        "categories": {},
    }
    for cat in cats:
        info["categories"][cat] = generate_category(out, cat, seed, n_train, n_test, image_size, defects)
    write_json(out / "benchmark.json", info)
    info["root"] = str(out)
    return info


__all__ = [
    "CATEGORIES",
    "DEFECT_TYPES",
    "OBJECTS",
    "TEXTURES",
    "apply_defect",
    "generate_benchmark",
    "generate_category",
    "normal_image",
    "perlin_noise",
]
