"""Heat-map overlays and image grids: pure numpy / Pillow functions returning uint8 RGB arrays.

Colour scales are explicit (``vmin``/``vmax``): pass the same scale for every image of a figure so that
maps stay comparable; :func:`robust_range` picks one from a whole set of maps.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

_BG = 255


def to_numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def to_rgb_uint8(image) -> np.ndarray:
    """An image as (H, W, 3) uint8 from (C, H, W) / (H, W, C) / (H, W), floats in [0, 1] or uint8."""
    a = to_numpy(image)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    if a.dtype != np.uint8:
        a = np.clip(a.astype(np.float64) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a[..., :3])


def jet(t: np.ndarray) -> np.ndarray:
    """The 'jet' colour map for values in [0, 1]: (..., 3) floats."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)[..., None]
    centres = np.array([3.0, 2.0, 1.0])  # r, g, b
    return np.clip(1.5 - np.abs(4.0 * t - centres), 0.0, 1.0)


def robust_range(maps, low: float = 0.0, high: float = 99.5) -> tuple[float, float]:
    """A shared colour scale for a set of maps: percentiles ``low`` and ``high`` of all values."""
    a = to_numpy(maps).astype(np.float64).ravel()
    a = a[np.isfinite(a)]
    if a.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(a, [low, high])
    return float(lo), float(hi if hi > lo else lo + 1e-12)


def colorize(heat, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """A 2-D map as a jet-coloured (H, W, 3) uint8 image on the scale [vmin, vmax]."""
    h = to_numpy(heat).astype(np.float64).squeeze()
    lo = float(np.min(h)) if vmin is None else vmin
    hi = float(np.max(h)) if vmax is None else vmax
    t = (h - lo) / (hi - lo) if hi > lo else np.zeros_like(h)
    return (jet(t) * 255.0 + 0.5).astype(np.uint8)


def overlay(image, heat, vmin: float | None = None, vmax: float | None = None, alpha: float = 0.5) -> np.ndarray:
    """Blend a coloured heat map over an image (grey-scaled so the colours read): (H, W, 3) uint8."""
    base = to_rgb_uint8(image).astype(np.float64)
    grey = base.mean(axis=-1, keepdims=True).repeat(3, axis=-1)
    heat_rgb = colorize(heat, vmin, vmax).astype(np.float64)
    if heat_rgb.shape[:2] != base.shape[:2]:
        heat_rgb = np.asarray(
            Image.fromarray(heat_rgb.astype(np.uint8)).resize(base.shape[1::-1], Image.Resampling.BILINEAR),
            dtype=np.float64,
        )
    return np.clip((1 - alpha) * grey + alpha * heat_rgb + 0.5, 0, 255).astype(np.uint8)


def mask_edges(mask) -> np.ndarray:
    """Boolean outline (4-neighbourhood) of a binary mask."""
    m = to_numpy(mask).squeeze() > 0.5
    pad = np.pad(m, 1, mode="edge")
    inner = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return m & ~inner


def draw_contour(rgb: np.ndarray, mask, colour=(255, 255, 255)) -> np.ndarray:
    out = to_rgb_uint8(rgb).copy()
    out[mask_edges(mask)] = np.array(colour, dtype=np.uint8)
    return out


def upscale(tile: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement so small images stay crisp."""
    if factor <= 1:
        return tile
    return np.repeat(np.repeat(tile, factor, axis=0), factor, axis=1)


def caption(tile: np.ndarray, text: str, height: int = 12) -> np.ndarray:
    """The tile with a white strip above it holding ``text`` (Pillow's built-in font)."""
    tile = to_rgb_uint8(tile)
    strip = Image.new("RGB", (tile.shape[1], height), (_BG, _BG, _BG))
    ImageDraw.Draw(strip).text((2, 0), text[: max(1, tile.shape[1] // 6)], fill=(0, 0, 0))
    return np.concatenate([np.asarray(strip, dtype=np.uint8), tile], axis=0)


def grid(rows: list[list[np.ndarray]], pad: int = 2, background: int = _BG) -> np.ndarray:
    """Tiles arranged in rows (ragged rows allowed; tiles are centred in cells of the largest size)."""
    rows = [[to_rgb_uint8(t) for t in row] for row in rows if row]
    if not rows:
        return np.full((1, 1, 3), background, np.uint8)
    cell_h = max(t.shape[0] for row in rows for t in row)
    cell_w = max(t.shape[1] for row in rows for t in row)
    n_cols = max(len(row) for row in rows)
    out = np.full((pad + len(rows) * (cell_h + pad), pad + n_cols * (cell_w + pad), 3), background, np.uint8)
    for r, row in enumerate(rows):
        for c, t in enumerate(row):
            y = pad + r * (cell_h + pad) + (cell_h - t.shape[0]) // 2
            x = pad + c * (cell_w + pad) + (cell_w - t.shape[1]) // 2
            out[y : y + t.shape[0], x : x + t.shape[1]] = t
    return out


def save_png(path, array: np.ndarray) -> None:
    """Write a uint8 RGB array as PNG atomically."""
    import io

    from ..io import atomic_write_bytes

    buf = io.BytesIO()
    Image.fromarray(to_rgb_uint8(array)).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


__all__ = [
    "caption",
    "colorize",
    "draw_contour",
    "grid",
    "jet",
    "mask_edges",
    "overlay",
    "robust_range",
    "save_png",
    "to_rgb_uint8",
    "upscale",
]


MAX_DIMS_SHOWN = 16


def attention_figures(images, result, max_dims: int = MAX_DIMS_SHOWN) -> dict:
    """The pictures of a VAE attention result (:class:`~latentlens.explain.vae_attention.AttentionResult`):

    - ``overview.png``: a row per image: the image, its overall map (Eq. 3) and the map of each target
      (the ``max_dims`` targets with the most attention when there are more), on one colour scale;
    - ``mean_maps.png``: each target's map averaged over the images (is its attention consistent?).

    Returns ``{"pictures": {file name: RGB uint8 array}, "shown", "mean_attention", "colour_scale"}``.
    """
    maps, overall = to_numpy(result.maps), to_numpy(result.overall)
    x = to_numpy(images)
    mass = maps.mean(axis=(0, 2, 3))
    shown = np.argsort(-mass)[:max_dims] if len(mass) > max_dims else np.arange(len(mass))
    scale = max(1, 96 // x.shape[-1])
    lo, hi = robust_range(maps[:, shown])
    olo, ohi = robust_range(overall)
    rows = []
    for i in range(len(x)):
        image = to_rgb_uint8(x[i])
        tiles = [image, overlay(image, overall[i, 0], olo, ohi)] + [overlay(image, maps[i, d], lo, hi) for d in shown]
        tiles = [upscale(t, scale) for t in tiles]
        if i == 0:
            names = ["image", "overall"] + [result.labels[d] for d in shown]
            tiles = [caption(t, s) for t, s in zip(tiles, names)]
        rows.append(tiles)
    mean_tiles = [caption(upscale(colorize(maps[:, d].mean(0), lo, hi), scale), result.labels[d]) for d in shown]
    return {
        "pictures": {"overview.png": grid(rows), "mean_maps.png": grid([mean_tiles])},
        "shown": [int(d) for d in shown],
        "mean_attention": [float(v) for v in mass],
        "colour_scale": [float(lo), float(hi)],
    }
