"""Models written the way users write them (not latentlens'), for the adapter tests and the README snippets."""

from __future__ import annotations

import torch
from torch import nn


class DCGANGenerator(nn.Module):
    """The PyTorch DCGAN tutorial's generator, shrunk: z as (N, nz, 1, 1), ConvTranspose2d first, Tanh out."""

    def __init__(self, nz: int = 8, ngf: int = 8, nc: int = 1):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh(),
        )  # fmt: skip

    def forward(self, x):
        return self.main(x)


class MLPGenerator(nn.Module):
    """An MLP generator returning flat sigmoid pixels reshaped to (N, 1, 16, 16)."""

    def __init__(self, z_dim: int = 6):
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(nn.Linear(z_dim, 64), nn.ReLU(), nn.Linear(64, 256), nn.Sigmoid())

    def forward(self, z):
        return self.net(z).view(-1, 1, 16, 16)


class ConditionalGenerator(nn.Module):
    """A class-conditional generator: forward(z, labels) with an embedding of the label."""

    def __init__(self, nz: int = 5, n_classes: int = 3):
        super().__init__()
        self.embed = nn.Embedding(n_classes, nz)
        self.net = nn.Sequential(nn.Linear(nz, 64), nn.ReLU(), nn.Linear(64, 144), nn.Sigmoid())

    def forward(self, z, labels):
        return self.net(z * self.embed(labels)).view(-1, 1, 12, 12)


class AttrVAE(nn.Module):
    """A user VAE with ``encoder``/``decoder`` attributes and ``forward -> (recon, mu, logvar)``; no ``encode``,
    no ``latent_dim``. The encoder ends in a Linear(1024 -> 2 * latent) as many tutorials write it."""

    def __init__(self, latent: int = 4):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 4, 2, 1), nn.ReLU(inplace=True), nn.Conv2d(8, 16, 4, 2, 1), nn.ReLU(inplace=True),
            nn.Flatten(), nn.Linear(16 * 8 * 8, 2 * latent),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(latent, 16 * 8 * 8), nn.ReLU(), nn.Unflatten(1, (16, 8, 8)),
            nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(8, 1, 4, 2, 1), nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decoder(z), mu, logvar


class MethodVAE(nn.Module):
    """A user VAE with ``encode``/``decode`` methods, no ``latent_dim`` and a decoder returning logits."""

    def __init__(self, latent: int = 3):
        super().__init__()
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(256, 32), nn.ReLU())
        self.mu, self.logvar = nn.Linear(32, latent), nn.Linear(32, latent)
        self.dec = nn.Sequential(nn.Linear(latent, 32), nn.ReLU(), nn.Linear(32, 256))

    def encode(self, x):
        h = self.enc(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z):
        return 4 * self.dec(z).view(-1, 1, 16, 16)  # logits, well outside [-1, 1]


def seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    for p in module.parameters():
        nn.init.normal_(p, std=0.3)
    return module.eval()


class UserUNet(nn.Module):
    """A DDPM-like noise predictor of the diffusers kind: ``forward(x, t)`` returns an object with ``.sample``,
    the bottleneck is ``mid_block``; 16x16 grey images."""

    class Output:
        def __init__(self, sample):
            self.sample = sample

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.down = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.mid_block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.SiLU())
        self.up = nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1)

    def forward(self, x, t):
        h = self.down(x) + (t.float() / 1000)[:, None, None, None]
        return UserUNet.Output(self.up(self.mid_block(h)))


class BrightnessClassifier(nn.Module):
    """A user classifier with no ``classes``: logits ``[0, 8 * (mean brightness - 0.5)]`` of 32x32 grey images,
    so class 1 ("bright") wins above half brightness."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, 2))
        with torch.no_grad():
            self.net[1].weight.zero_()
            self.net[1].weight[1].fill_(8.0 / (32 * 32))
            self.net[1].bias.copy_(torch.tensor([0.0, -4.0]))

    def forward(self, x):
        return self.net(x)
