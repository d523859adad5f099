"""Tiny ground-truth data sets for the disentanglement-metric tests (dlib's ``dummy_data`` style)."""

from __future__ import annotations

import numpy as np
import torch

DSPRITES_SIZES = (3, 6, 40, 32, 32)


class IdentityObservationsData:
    """``num_factors`` factors of ``size`` classes each; the observation is the factor vector itself (float)."""

    def __init__(self, num_factors: int = 10, size: int = 10):
        self.factor_sizes = (size,) * num_factors
        self.factor_names = tuple(f"f{k}" for k in range(num_factors))

    def sample_factors(self, n, rng):
        return rng.integers(0, self.factor_sizes[0], size=(n, len(self.factor_sizes)), dtype=np.int64)

    def images(self, factors):
        return torch.as_tensor(np.asarray(factors), dtype=torch.float32)


class SmallData(IdentityObservationsData):
    """Three factors of different sizes; observations are (n, 3) floats."""

    deterministic_images = True  # observations are the factors themselves

    def __init__(self, sizes=(3, 4, 5)):
        self.factor_sizes = tuple(sizes)
        self.factor_names = tuple(f"g{k}" for k in range(len(sizes)))

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, size=n, dtype=np.int64) for s in self.factor_sizes], axis=1)


def as_array(x):
    return (x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)).astype(np.float64)


def identity(x):
    return as_array(x)


def zeros(x):
    return np.zeros_like(as_array(x))


def duplicated(x):
    x = as_array(x)
    return np.hstack([x, x])


def permuting(seed=0):
    """dlib's 'bad' representation: every code is a random permutation of its own factor values."""
    rng = np.random.default_rng(seed)

    def rep(x):
        return rng.permuted(as_array(x), axis=1)

    return rep
