"""Loader for the MVTec AD folder layout (the real dataset and :mod:`latentlens.data.defects`).

::

    <root>/<category>/train/good/*.png
    <root>/<category>/test/good/*.png
    <root>/<category>/test/<defect>/*.png
    <root>/<category>/ground_truth/<defect>/<stem>_mask.png

Images may be grey or RGB (MVTec's grid, screw and zipper are grey); the channel count is detected from
the training images unless given. Images are resized (bilinear, antialiased) to ``image_size`` squared;
masks are resized bilinearly and thresholded at one half, so a pixel is defective when at least about
half of it was. Every defective test image must have its mask (matched by file stem, as anomalib does);
good test images get an all-zero mask.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import LatentLensError
from .folders import IMAGE_SUFFIXES, detect_channels, read_image

GOOD = "good"


@dataclass
class AnomalySplit:
    """Images (N, C, S, S) in [0, 1], masks (N, 1, S, S) in {0, 1}, labels (N,) with 1 = defective."""

    images: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    defect_types: list[str]
    paths: list[Path]

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index) -> "AnomalySplit":
        index = torch.as_tensor(index, dtype=torch.long)
        return AnomalySplit(
            self.images[index],
            self.masks[index],
            self.labels[index],
            [self.defect_types[i] for i in index.tolist()],
            [self.paths[i] for i in index.tolist()],
        )


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def list_categories(data: str | os.PathLike) -> list[str]:
    """Sub-folders of ``data`` that have a ``train/good`` folder."""
    data = Path(data)
    if not data.is_dir():
        return []
    return sorted(p.name for p in data.iterdir() if (p / "train" / GOOD).is_dir())


def category_root(data: str | os.PathLike, category: str | None) -> Path:
    """``data/category`` (or ``data`` itself when it is a category folder and ``category`` is None)."""
    data = Path(data)
    if not data.exists():
        raise LatentLensError(f"data folder not found: {data}")
    if category is None:
        if (data / "train" / GOOD).is_dir():
            return data
        raise LatentLensError(
            f"{data} is not an MVTec-style category folder; pass --category (found: "
            f"{', '.join(list_categories(data)) or 'none'})"
        )
    root = data / category
    if not (root / "train" / GOOD).is_dir():
        found = ", ".join(list_categories(data)) or "none"
        raise LatentLensError(f"no category {category!r} with train/good in {data} (found: {found})")
    return root


def _read_mask(path: Path, image_size: int | None, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """A binary mask (>= 128 is defect), resized like its image; refused when its own size differs from
    the image's (``expected_size``, width x height) - a mask of another image, or a misaligned one."""
    try:
        with Image.open(path) as im:
            if expected_size is not None and im.size != expected_size:
                raise LatentLensError(f"mask {path} is {im.size[0]} x {im.size[1]} pixels but its image is "
                                      f"{expected_size[0]} x {expected_size[1]}")  # fmt: skip
            im = im.convert("L")
            if image_size is not None and im.size != (image_size, image_size):
                im = im.resize((image_size, image_size), Image.Resampling.BILINEAR)
            return (np.asarray(im, dtype=np.uint8) >= 128).astype(np.float32)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise LatentLensError(f"cannot read mask {path}: {exc}") from None


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise LatentLensError(f"cannot read image {path}: {exc}") from None


def _channels(root: Path, channels: int | None) -> int:
    if channels is not None:
        if channels not in (1, 3):
            raise LatentLensError(f"channels must be 1 or 3, got {channels}")
        return channels
    files = _images_in(root / "train" / GOOD)
    if not files:
        raise LatentLensError(f"no training images in {root / 'train' / GOOD}")
    return detect_channels(files)


def _stack(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).float().div_(255.0)


def load_train(
    data: str | os.PathLike, category: str | None, image_size: int = 64, channels: int | None = None
) -> AnomalySplit:
    """The defect-free training images of a category."""
    root = category_root(data, category)
    c = _channels(root, channels)
    files = _images_in(root / "train" / GOOD)
    if not files:
        raise LatentLensError(f"no training images in {root / 'train' / GOOD}")
    images = _stack([read_image(p, image_size, c) for p in files])
    n = len(files)
    return AnomalySplit(
        images, torch.zeros(n, 1, *images.shape[-2:]), torch.zeros(n, dtype=torch.long), [GOOD] * n, files
    )


def load_test(
    data: str | os.PathLike, category: str | None, image_size: int = 64, channels: int | None = None
) -> AnomalySplit:
    """All test images of a category with their masks and labels (``good`` = 0, any defect = 1)."""
    root = category_root(data, category)
    c = _channels(root, channels)
    test_dir = root / "test"
    if not test_dir.is_dir():
        raise LatentLensError(f"no test folder in {root}")
    images, masks, labels, kinds, paths = [], [], [], [], []
    for kind_dir in sorted(p for p in test_dir.iterdir() if p.is_dir()):
        kind = kind_dir.name
        for path in _images_in(kind_dir):
            img = read_image(path, image_size, c)
            if kind == GOOD:
                mask = np.zeros(img.shape[-2:], dtype=np.float32)
            else:
                mask_path = root / "ground_truth" / kind / f"{path.stem}_mask.png"
                if not mask_path.exists():
                    raise LatentLensError(f"missing mask for defective test image {path}: expected {mask_path}")
                mask = _read_mask(mask_path, image_size, _image_size(path))
                if mask.shape != img.shape[-2:]:
                    raise LatentLensError(f"mask {mask_path} has size {mask.shape}, image {path} {img.shape[-2:]}")
            images.append(img)
            masks.append(mask)
            labels.append(0 if kind == GOOD else 1)
            kinds.append(kind)
            paths.append(path)
    if not images:
        raise LatentLensError(f"no test images in {test_dir}")
    if len(set(a.shape for a in images)) > 1:
        raise LatentLensError(f"test images in {test_dir} have different sizes; pass an image size")
    return AnomalySplit(
        _stack(images),
        torch.from_numpy(np.stack(masks))[:, None],
        torch.tensor(labels, dtype=torch.long),
        kinds,
        paths,
    )


def split_normal(n: int, val_fraction: float = 0.15, seed: int = 0, min_val: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(fit, held_out)`` of a seeded split of ``n`` normal images; the held-out part is used only
    to choose thresholds (never the test set)."""
    if n < 2:
        raise LatentLensError(f"need at least 2 normal training images, got {n}")
    n_val = min(n - 1, max(min_val, int(round(n * val_fraction))))
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


__all__ = ["AnomalySplit", "category_root", "list_categories", "load_test", "load_train", "split_normal"]
