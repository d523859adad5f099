"""Labels for your own images: a CSV of per-image factors, or class sub-folders.

``labelled_images(folder, labels=None)`` returns the images with a ``(N, F)`` integer factor table and the
factor names. With ``labels=CSV`` the first column names the image (its path relative to ``folder``, or its
file name, or its stem) and every other column is a factor; without it, the sub-folder of each image is
its class (one factor, ``class``). Factor values are made discrete as the disentanglement metrics expect:
text and whole numbers with at most ``max_classes`` distinct values become classes; other numbers are cut
into ``max_classes`` equal-count bins (the CSV keeps the exact values; the metrics see the bins).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import LatentLensError
from .folders import detect_channels, list_images, read_image

MAX_CLASSES = 20


@dataclass
class LabelledImages:
    images: torch.Tensor  # uint8 (N, C, H, W)
    factors: np.ndarray  # int64 (N, F) classes
    factor_names: list[str]
    paths: list[Path]
    class_values: list[list[str]] = field(default_factory=list)  # what each class index stands for, per factor

    def __len__(self) -> int:
        return len(self.images)


def discretize(values: list[str], name: str, max_classes: int = MAX_CLASSES) -> tuple[np.ndarray, list[str]]:
    """Classes of one factor column: ``(codes, labels)`` (see the module docstring)."""
    if any(v.strip() == "" for v in values):
        raise LatentLensError(f"labels: factor {name!r} has empty cells")
    try:
        numbers = np.array([float(v) for v in values])
    except ValueError:
        numbers = None
    if numbers is not None and not np.isfinite(numbers).all():
        raise LatentLensError(f"labels: factor {name!r} has non-finite values")
    distinct = sorted(set(values), key=(lambda v: float(v)) if numbers is not None else str)
    if numbers is None or len(distinct) <= max_classes:
        index = {v: i for i, v in enumerate(distinct)}
        return np.array([index[v] for v in values], dtype=np.int64), distinct
    edges = np.quantile(numbers, np.linspace(0, 1, max_classes + 1)[1:-1])
    codes = np.searchsorted(edges, numbers, side="right").astype(np.int64)
    _, codes = np.unique(codes, return_inverse=True)  # drop empty bins (ties)
    return codes.astype(np.int64), [f"bin{i}" for i in range(int(codes.max()) + 1)]


def read_label_table(path: str | os.PathLike) -> tuple[list[str], dict[str, list[str]]]:
    """``(factor names, {image key: [values]})`` from a CSV whose first column names images."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.reader(handle) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as exc:
        raise LatentLensError(f"cannot read labels {path}: {exc}") from None
    if len(rows) < 2 or len(rows[0]) < 2:
        raise LatentLensError(f"labels {path} needs a header (image, factor, ...) and at least one row")
    header, body = rows[0], rows[1:]
    names = [h.strip() for h in header[1:]]
    if len(set(names)) != len(names) or any(not n for n in names):
        raise LatentLensError(f"labels {path}: factor names must be distinct and not empty, got {names}")
    table: dict[str, list[str]] = {}
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise LatentLensError(f"labels {path} line {number}: {len(row)} cells, the header has {len(header)}")
        key = row[0].strip()
        if key in table:
            raise LatentLensError(f"labels {path} line {number}: image {key!r} is listed twice")
        table[key] = [c.strip() for c in row[1:]]
    return names, table


def labelled_images(
    folder: str | os.PathLike, labels: str | os.PathLike | None = None, image_size: int = 64,
    channels: int | None = None, max_classes: int = MAX_CLASSES,
) -> LabelledImages:  # fmt: skip
    """The images below ``folder`` with their factors (module docstring); images without labels are skipped
    with a count in the error when none is left."""
    folder = Path(folder)
    files = list_images(folder)
    if labels is None:
        classes = [p.parent.relative_to(folder).as_posix() for p in files]
        if len(set(classes)) < 2:
            raise LatentLensError(f"{folder} has no class sub-folders: pass a labels CSV (image, factor, ...)")
        names, columns = ["class"], [classes]
    else:
        names, table = read_label_table(labels)
        rows, kept = [], []
        for p in files:
            rel = p.relative_to(folder).as_posix()
            for key in (rel, p.name, p.stem):
                if key in table:
                    rows.append(table[key])
                    kept.append(p)
                    break
        if not kept:
            raise LatentLensError(f"no image of {folder} is named in {labels} (first column: path, name or stem)")
        files = kept
        columns = [list(c) for c in zip(*rows)]
    coded = [discretize(col, name, max_classes) for col, name in zip(columns, names)]
    factors = np.stack([c for c, _ in coded], axis=1)
    channels = channels or detect_channels(files)
    images = torch.from_numpy(np.stack([read_image(p, image_size, channels) for p in files]))
    return LabelledImages(images, factors, names, files, [v for _, v in coded])
