"""Batch sources for training: dSprites rendered on demand, or an image folder held in memory.

A batch is a pure function of ``(seed, step, rank)``, so an interrupted run that resumes at step ``s``
sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import numpy as np
import torch

from .folders import load_image_folder


def step_rng(seed: int, step: int, rank: int = 0, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream, step, rank]))


def step_generator(seed: int, step: int, rank: int = 0, stream: int = 1) -> torch.Generator:
    state = np.random.SeedSequence([seed, stream, step, rank]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class DSpritesSource:
    """Uniformly sampled dSprites images, rendered per batch (no 3 GB array)."""

    name = "dsprites"
    channels = 1
    image_size = 64

    def __init__(self):
        from .dsprites import DSprites

        self.dataset = DSprites()

    def __len__(self) -> int:
        return len(self.dataset)

    def batch(self, batch_size: int, rng: np.random.Generator) -> torch.Tensor:
        return self.dataset.images(self.dataset.sample_factors(batch_size, rng))


class TensorSource:
    """Images kept in memory as uint8 ``(N, C, H, W)``; batches drawn with replacement."""

    def __init__(self, images: torch.Tensor, name: str = "tensor"):
        self.images = images
        self.name = name
        self.channels = images.shape[1]
        self.image_size = images.shape[-1]

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, batch_size: int, rng: np.random.Generator) -> torch.Tensor:
        index = torch.from_numpy(rng.integers(0, len(self.images), batch_size))
        return self.images[index].float().div_(255.0)


def make_source(spec: str, image_size: int = 64, channels: int | None = None):
    """``"dsprites"`` or a folder path."""
    if spec == "dsprites":
        return DSpritesSource()
    return TensorSource(load_image_folder(spec, image_size, channels), name=str(spec))
