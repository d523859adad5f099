"""Images from any folder: PNG/JPEG/BMP/TIFF, grey or RGB, resized to the model's size.

Files are read once, decoded with Pillow, resized (bilinear, antialiased) and kept in memory as uint8.
A file Pillow cannot decode stops the load with a message naming it, before anything is trained.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import LatentLensError
from ..io import OUTPUT_MARKER

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"}


def _is_image(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def is_output_folder(folder: Path) -> bool:
    """A folder latentlens wrote: it holds the output marker, or is a run written before the marker existed
    (``config.json`` beside ``model.safetensors`` or ``checkpoint.safetensors``)."""
    return (folder / OUTPUT_MARKER).is_file() or ((folder / "config.json").is_file() and (
        (folder / "model.safetensors").is_file() or (folder / "checkpoint.safetensors").is_file()))  # fmt: skip


def list_images(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """The image files below ``folder``, sorted. Sub-folders latentlens wrote (:func:`is_output_folder`: run
    folders, discover/attributes/report outputs kept inside the data folder) are left out with a log line, so
    that traversal sheets and grids never join the data; ``folder`` itself is always read."""
    folder = Path(folder)
    if not folder.exists():
        raise LatentLensError(f"data folder not found: {folder}")
    if not folder.is_dir():
        raise LatentLensError(f"not a folder: {folder}")
    files, skipped = [], {}
    for root, dirs, names in os.walk(folder):
        root = Path(root)
        if root != folder and is_output_folder(root):
            skipped[root] = sum(1 for _, _, n in os.walk(root) for name in n if _is_image(name))
            dirs[:] = []
            continue
        files.extend(root / n for n in names if _is_image(n) and (root / n).is_file())
        if not recursive:
            dirs[:] = []
    skipped = {k: v for k, v in skipped.items() if v}
    if skipped:
        where = ", ".join(str(k.relative_to(folder)) for k in sorted(skipped))
        log.info("left out %d images in latentlens output folders below %s (%s)", sum(skipped.values()), folder, where)
    if not files and skipped:
        raise LatentLensError(f"every image below {folder} lies in a latentlens output folder ({where}): give the "
                              "images' own folder")  # fmt: skip
    if not files:
        raise LatentLensError(f"no images (png, jpg, bmp, tif) in {folder}")
    return sorted(files)


MAX_PIXELS = 64_000_000  # larger images (or decompression bombs claiming to be) are refused


def _to_unit_float(im: Image.Image, path) -> np.ndarray:
    """A 16-bit or floating-point single-channel image as float32 in [0, 1], scaled, never clipped:
    integers by their bit depth, floats as they are when already in [0, 1], else by their own min..max."""
    array = np.asarray(im, dtype=np.float64)
    if not np.isfinite(array).all():
        raise LatentLensError(f"image {path} has NaN or infinite pixels")
    if im.mode.startswith("I;16") or (im.mode == "I" and array.max() <= 65535 and array.min() >= 0):
        return (array / 65535.0).astype(np.float32)
    lo, hi = float(array.min()), float(array.max())
    if lo >= 0 and hi <= 1:
        return array.astype(np.float32)
    return ((array - lo) / max(hi - lo, 1e-12)).astype(np.float32)


def read_image(path: str | os.PathLike, image_size: int | None, channels: int) -> np.ndarray:
    """Decode one image to uint8 ``(channels, H, W)``, resized to ``image_size`` squared when given.

    16-bit and floating-point images are scaled to the 8-bit range (not clipped); images with NaN or infinite
    pixels, or more than :data:`MAX_PIXELS` pixels, are refused with a one-line error."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise LatentLensError(f"image {path} is {im.width} x {im.height} pixels, more than the "
                                      f"{MAX_PIXELS:,} latentlens reads; resize it first")  # fmt: skip
            if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
                unit = _to_unit_float(im, path)
                im = Image.fromarray((unit * 255.0 + 0.5).astype(np.uint8))
            im = im.convert("L" if channels == 1 else "RGB")
            if image_size is not None and im.size != (image_size, image_size):
                im = im.resize((image_size, image_size), Image.Resampling.BILINEAR)
            array = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise LatentLensError(f"cannot read image {path}: {exc}") from None
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def detect_channels(files: list[Path], sample: int = 16) -> int:
    """3 if any of the first ``sample`` images has colour, else 1."""
    for path in files[:sample]:
        try:
            with Image.open(path) as im:
                if im.mode not in ("1", "L", "LA", "I", "I;16", "F"):
                    rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
                    if np.abs(rgb - rgb.mean(2, keepdims=True)).max() > 2:
                        return 3
        except (UnidentifiedImageError, OSError) as exc:
            raise LatentLensError(f"cannot read image {path}: {exc}") from None
    return 1


def load_image_folder(
    folder: str | os.PathLike, image_size: int = 64, channels: int | None = None
) -> torch.Tensor:
    """All images below ``folder`` as a uint8 tensor ``(N, C, image_size, image_size)``."""
    files = list_images(folder)
    channels = channels or detect_channels(files)
    return torch.from_numpy(np.stack([read_image(p, image_size, channels) for p in files]))
