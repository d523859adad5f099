"""Tiny generators with known structure for the direction-finder tests (imported by the test modules)."""

from __future__ import annotations

import torch
from torch import nn


class TinyGenerator(nn.Module):
    """Linear(D -> 64) -> ReLU -> Linear -> 1x16x16 sigmoid image. ``latent_dim`` attribute, random weights."""

    def __init__(self, latent_dim: int = 6, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.latent_dim = latent_dim
        self.first = nn.Linear(latent_dim, 64)
        self.out = nn.Linear(64, 256)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, z):
        return torch.sigmoid(self.out(torch.relu(self.first(z)))).view(-1, 1, 16, 16)


class BlobGenerator(nn.Module):
    """Analytic 32x32 generator with identifiable latent axes.

    z0 moves a Gaussian blob horizontally, z1 vertically, z2 changes its brightness, z3 its width.
    A fixed first Linear layer (identity) exposes an affine first layer to SeFa / GANSpace.
    """

    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(4, 4)
        with torch.no_grad():
            self.first.weight.copy_(torch.diag(torch.tensor([3.0, 2.0, 1.0, 0.5])))
            self.first.bias.zero_()
        grid = torch.linspace(-1, 1, 32)
        self.register_buffer("gy", grid.view(1, 32, 1))
        self.register_buffer("gx", grid.view(1, 1, 32))

    def forward(self, z):
        h = self.first(z)
        cx = torch.tanh(h[:, 0] / 6)[:, None, None] * 0.6
        cy = torch.tanh(h[:, 1] / 4)[:, None, None] * 0.6
        amp = torch.sigmoid(h[:, 2])[:, None, None] * 0.8 + 0.2
        width = 0.08 + 0.15 * torch.sigmoid(h[:, 3] * 2)[:, None, None]
        img = amp * torch.exp(-((self.gx - cx) ** 2 + (self.gy - cy) ** 2) / (2 * width**2))
        return img[:, None]
