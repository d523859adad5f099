"""Benchmark ``train_vae``: training throughput of latentlens' VAE step against the same network written
the way public beta-VAE repositories write it (NCHW tensors, default Adam, separate loss ops).

Both train the disentanglement architecture (conv 32-32-64-64, dense 256, 10 latents, Bernoulli decoder)
with the beta-VAE loss on the same dSprites batches of 64; steps alternate between the two so that machine
load hits both alike. Writes ``bench-results/train_vae.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from latentlens.data.dsprites import DSprites
from latentlens.data.sources import step_generator
from latentlens.models import build_model
from latentlens.models.vae_objectives import build_objective
from latentlens.train.loop import to_channels_last
from latentlens.train.vae import make_optimizers, train_step


class ReferenceBetaVAE(nn.Module):
    """The same architecture as a typical public beta-VAE repository writes it."""

    def __init__(self, z_dim: int = 10):
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(True), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(True),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(True), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(True),
            nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(True), nn.Linear(256, 2 * z_dim),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, 256), nn.ReLU(True), nn.Linear(256, 1024), nn.ReLU(True), nn.Unflatten(1, (64, 4, 4)),
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(True), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(True),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(True), nn.ConvTranspose2d(32, 1, 4, 2, 1),
        )  # fmt: skip

    def forward(self, x):
        stats = self.encoder(x)
        mu, logvar = stats[:, : self.z_dim], stats[:, self.z_dim :]
        std = logvar.div(2).exp()
        z = mu + std * torch.randn_like(std)
        return self.decoder(z), mu, logvar


def reference_step(model, optimizer, x, beta=4.0):
    x_recon, mu, logvar = model(x)
    recon = F.binary_cross_entropy_with_logits(x_recon, x, reduction="sum").div(x.size(0))
    kld = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean(0)
    loss = recon + beta * kld
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default="bench-results/train_vae.json")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    data = DSprites()
    rng = np.random.default_rng(0)
    batches = [data.sample(args.batch_size, rng)[0] for _ in range(8)]

    ours = build_model("vae", {}).to(memory_format=torch.channels_last)
    objective = build_objective("beta-vae", 10, beta=4.0)
    optimizer, _ = make_optimizers(ours, objective, 1e-4)
    reference = ReferenceBetaVAE()
    ref_optimizer = torch.optim.Adam(reference.parameters(), lr=1e-4)
    ours.train()
    reference.train()

    def run_ours(i):
        train_step(ours, objective, optimizer, None, to_channels_last(batches[i % 8]), step_generator(0, i))

    def run_reference(i):
        reference_step(reference, ref_optimizer, batches[i % 8])

    for i in range(3):
        run_ours(i), run_reference(i)
    spent = {"ours": 0.0, "reference": 0.0}
    for i in range(args.steps):
        for name, fn in (("ours", run_ours), ("reference", run_reference)):
            began = time.perf_counter()
            fn(i)
            spent[name] += time.perf_counter() - began
    images = args.steps * args.batch_size
    result = {
        "name": "train_vae",
        "ours": round(images / spent["ours"], 1),
        "reference": round(images / spent["reference"], 1),
        "unit": "images/s",
        "command": "python benchmarks/train_vae.py",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
    result["ratio"] = round(result["ours"] / result["reference"], 3)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
