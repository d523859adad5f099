"""EncoderReadout: dSprites factors read through an encoder and an MLP probe."""

import numpy as np
import pytest
import torch
from torch import nn

from latentlens.data.dsprites import DSprites
from latentlens.errors import LatentLensError
from latentlens.metrics.encoder_readout import EncoderReadout
from latentlens.metrics.factor_alignment import factor_effects


class CentroidEncoder(nn.Module):
    """A stand-in 'VAE' whose code is the sprite's centroid and area (what posX, posY and scale are)."""

    latent_dim = 3

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        grid = torch.arange(64, dtype=torch.float32)
        self.register_buffer("gx", grid.view(1, 1, 64))
        self.register_buffer("gy", grid.view(1, 64, 1))

    def encode(self, x):
        m = x[:, 0]
        area = m.sum((1, 2)).clamp_min(1e-3)
        cx, cy = (m * self.gx).sum((1, 2)) / area, (m * self.gy).sum((1, 2)) / area
        mu = torch.stack([cx / 64, cy / 64, area.sqrt() / 64], 1)
        return mu, torch.zeros_like(mu)


def test_readout_reads_what_the_encoder_encodes():
    readout = EncoderReadout(CentroidEncoder(), n_train=4000, steps=800).fit()
    images, factors = DSprites().sample(500, np.random.default_rng(7))
    p = readout.predict(images)
    assert float((p["posX"] * 31 - torch.as_tensor(factors[:, 3])).abs().mean()) < 1.5
    assert float((p["posY"] * 31 - torch.as_tensor(factors[:, 4])).abs().mean()) < 1.5
    assert float((p["shape"].argmax(1) == torch.as_tensor(factors[:, 0])).float().mean()) < 0.8  # not encoded


def test_readout_plugs_into_factor_effects_and_needs_fit():
    class Oracle(nn.Module):  # latent (x, y) -> a 4x4 square at that position
        latent_dim = 2

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, z):
            cls = (torch.special.ndtr(z) * 32).long().clamp(0, 31).numpy()
            f = np.stack([np.zeros(len(z), int), np.full(len(z), 2), np.zeros(len(z), int), cls[:, 0], cls[:, 1]], 1)
            return DSprites().images(f)

    readout = EncoderReadout(CentroidEncoder(), n_train=2000, steps=400)
    with pytest.raises(LatentLensError, match="not fitted"):
        readout.predict(torch.zeros(1, 1, 64, 64))
    readout.fit()
    effects = factor_effects(Oracle(), torch.eye(2), readout, n_samples=32)
    assert effects.shape == (2, 5)
    assert effects[0, 3] > 3 * effects[0, 4] and effects[1, 4] > 3 * effects[1, 3]  # x moves posX, y moves posY
