"""Shape outlines and the vectorised scanline rasteriser behind :mod:`latentlens.data.dsprites`.

All outlines are closed polygons in *local* sprite coordinates at scale 1: ``u`` to the right, ``v`` down,
origin at the sprite centre, in pixels of the 64x64 canvas.  See ``dsprites.py`` for the rendering model.
"""

from __future__ import annotations

import numpy as np

CANVAS = 64

#: Square half side at scale 1 (px).  The GIF frames pin it to (9.595, 9.600).
SQUARE_HALF_SIDE = 9.5975
#: Ellipse: a 72-gon with these semi-axes at scale 1 (major axis along u).
ELLIPSE_SEMI_AXES = (12.775, 7.22)
ELLIPSE_SEGMENTS = 72

#: Heart radii r(phi) in px, phi = 0, 2, ..., 180 degrees measured from local "up" (the notch, -v) towards +u;
#: the left half mirrors the right.  Research table (disentanglement.md section 1.6) plus HEART_TUNING.
_HEART_TABLE = """
5.352 5.612 6.338 6.914 7.430 7.884 8.298 8.679 9.057 9.394
9.687 9.927 10.175 10.361 10.548 10.709 10.841 10.953 11.048 11.118
11.178 11.217 11.224 11.234 11.241 11.230 11.178 11.128 11.051 10.973
10.885 10.771 10.637 10.479 10.323 10.157 9.991 9.816 9.593 9.417
9.188 8.966 8.753 8.539 8.349 8.141 7.936 7.742 7.563 7.400
7.244 7.089 6.965 6.832 6.704 6.595 6.490 6.398 6.326 6.244
6.193 6.133 6.069 6.024 5.992 5.956 5.934 5.927 5.927 5.924
5.925 5.942 5.956 6.001 6.043 6.093 6.152 6.226 6.312 6.395
6.522 6.644 6.774 6.965 7.147 7.354 7.643 7.978 8.304 8.803
9.639
"""
#: phi (degrees) -> tuned radius.  With the table alone, GIF frames 97, 114, 161 and 178 (heart, s = 1,
#: theta = 0, posX 7 or 24, posY 31 or 0) each missed one pixel at the top of a lobe: the local point
#: (+-7.274, -8.5) px, phi = 40.56 deg, r = 11.1877, which the 40-42 deg edge passed 0.0002 px inside of.
#: All 320 frames match for r(40) in [11.1785, 11.2065]; we take the middle, 11.192 (table: 11.178).
#: Dataset on-pixel total: 128,325,748 untuned -> 128,327,352 tuned (true 128,328,862, i.e. -0.0012 %).
HEART_TUNING: dict[int, float] = {40: 11.192}


def heart_radii() -> np.ndarray:
    radii = np.array(_HEART_TABLE.split(), dtype=np.float64)
    assert radii.shape == (91,)
    for phi, value in HEART_TUNING.items():
        radii[phi // 2] = value
    return radii


def square_outline() -> np.ndarray:
    h = SQUARE_HALF_SIDE
    return np.array([[-h, -h], [h, -h], [h, h], [-h, h]], dtype=np.float64)


def ellipse_outline() -> np.ndarray:
    t = 2.0 * np.pi * np.arange(ELLIPSE_SEGMENTS) / ELLIPSE_SEGMENTS
    a, b = ELLIPSE_SEMI_AXES
    return np.stack([a * np.cos(t), b * np.sin(t)], axis=1)


def heart_outline(radii: np.ndarray | None = None) -> np.ndarray:
    """180 vertices: right half phi = 0..180 deg, then the mirrored left half phi = 178..2 deg."""
    r = heart_radii() if radii is None else np.asarray(radii, dtype=np.float64)
    phi = np.deg2rad(np.arange(0, 181, 2, dtype=np.float64))
    right = np.stack([r * np.sin(phi), -r * np.cos(phi)], axis=1)
    left = right[-2:0:-1] * np.array([-1.0, 1.0])
    return np.concatenate([right, left], axis=0)


def outlines() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outlines indexed by the shape class: 0 square, 1 ellipse, 2 heart."""
    return square_outline(), ellipse_outline(), heart_outline()


def place(outline: np.ndarray, scale, theta, x0, y0) -> tuple[np.ndarray, np.ndarray]:
    """Screen coordinates (n, V + 1) of ``outline`` (closed: first vertex repeated) scaled, rotated
    counter-clockwise by ``theta`` and moved:
    x = x0 + s (u cos t + v sin t),  y = y0 + s (-u sin t + v cos t).
    """
    closed = np.concatenate([outline, outline[:1]], axis=0)
    u, v = closed[:, 0], closed[:, 1]
    c = (np.cos(theta) * scale)[:, None]
    s = (np.sin(theta) * scale)[:, None]
    xs = x0[:, None] + u * c + v * s
    ys = y0[:, None] - u * s + v * c
    return xs, ys


def scanline_crossings(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge/pixel-row crossings of closed polygons given as vertex arrays (n, V + 1), last = first vertex.

    Row r is sampled at Y = r + 0.5; an edge crosses it iff min(y0, y1) <= Y < max(y0, y1) (half-open rule,
    horizontal edges never cross).  Returns (image, row, crossing x) for every crossing.
    """
    n, nv1 = xs.shape
    ya, yb = ys[:, :-1], ys[:, 1:]
    r0 = np.ceil(np.minimum(ya, yb) - 0.5).astype(np.int64)
    span = np.ceil(np.maximum(ya, yb) - 0.5).astype(np.int64) - r0  # rows r0 .. r0 + span - 1
    edge = np.flatnonzero(span)  # flat (image, edge) ids of edges that cross at least one row
    img, e = np.divmod(edge, nv1 - 1)
    flat_a = img * nv1 + e
    xa, ya1 = xs.ravel()[flat_a], ys.ravel()[flat_a]
    dxdy = (xs.ravel()[flat_a + 1] - xa) / (ys.ravel()[flat_a + 1] - ya1)
    r0, span = r0.ravel()[edge], span.ravel()[edge]
    imgs_out, rows_out, xs_out = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for k in range(int(span.max()) if span.size else 0):
        sel = np.flatnonzero(span > k) if k else slice(None)
        r = r0[sel] + k
        imgs_out.append(img[sel])
        rows_out.append(r)
        xs_out.append(xa[sel] + (r + 0.5 - ya1[sel]) * dxdy[sel])
    img, row, x = np.concatenate(imgs_out), np.concatenate(rows_out), np.concatenate(xs_out)
    keep = (row >= 0) & (row < CANVAS)
    if not keep.all():
        img, row, x = img[keep], row[keep], x[keep]
    return img, row, x


def toggle_columns(x: np.ndarray) -> np.ndarray:
    """A crossing at x toggles each column c with c + 0.5 >= x, i.e. from column ceil(x - 0.5) (64: none)."""
    return np.clip(np.ceil(x - 0.5), 0, CANVAS).astype(np.int64)


#: MASKS[c] = the bits of columns c..63 (MASKS[64] = 0).
MASKS = np.array([(0xFFFFFFFFFFFFFFFF << c) & 0xFFFFFFFFFFFFFFFF for c in range(CANVAS + 1)], dtype=np.uint64)


def crossing_pairs(xs_rel: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scanline spans of placed polygons, packed as (pairs (K, S, 2) float64, rows (K, S) int64).

    ``xs_rel`` are vertex x coordinates relative to the sprite centre (its x is added at render time), ``ys``
    absolute.  Each row's sorted crossings are paired (1st, 2nd), (3rd, 4th), ...; slot ``j`` of polygon ``k``
    toggles row ``rows[k, j]`` between ``pairs[k, j, 0]`` and ``pairs[k, j, 1]``.  Unused slots hold +inf
    (toggling nothing) and row 0.
    """
    img, row, x = scanline_crossings(xs_rel, ys)
    order = np.lexsort((x, row, img))
    img, row, x = img[order], row[order], x[order]
    group = img * CANVAS + row
    if len(group) % 2 or np.any(group[0::2] != group[1::2]):
        raise AssertionError("odd number of crossings on a scanline")
    img, row = img[0::2], row[0::2]
    starts = np.flatnonzero(np.r_[True, img[1:] != img[:-1]])
    slot = np.arange(len(img)) - np.repeat(starts, np.diff(np.r_[starts, len(img)]))
    n, width = len(xs_rel), int(slot.max()) + 1 if len(slot) else 1
    pairs = np.full((n, width, 2), np.inf)
    rows = np.zeros((n, width), dtype=np.int64)
    pairs[img, slot] = x.reshape(-1, 2)
    rows[img, slot] = row
    return pairs, rows


def row_words(n: int, img: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Pixel rows as 64-bit words (n * 64,), bit c = column c, from crossing toggles (even-odd parity)."""
    words = np.zeros(n * CANVAS, dtype=np.uint64)
    np.bitwise_xor.at(words, img * CANVAS + row, MASKS[col])
    return words


def unpack(words: np.ndarray) -> np.ndarray:
    """(n * 64,) row words -> (n, 64, 64) uint8 {0, 1}."""
    bytes_le = words.astype("<u8", copy=False).view(np.uint8)
    return np.unpackbits(bytes_le, bitorder="little").reshape(-1, CANVAS, CANVAS)
