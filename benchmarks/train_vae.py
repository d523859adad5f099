"""Benchmark ``train_vae``: training throughput of latentlens' VAE step against the same network written
the way public beta-VAE repositories write it (NCHW tensors, default Adam, separate loss ops).

Both train the disentanglement architecture (conv 32-32-64-64, dense 256, 10 latents, Bernoulli decoder)
with the beta-VAE loss on the same dSprites batches of 64. latentlens' training is a process-level set-up
as well as a step (channels_last, fused Adam, and :func:`~latentlens.train.loop.keep_freed_memory`, which
is process-wide), so each side runs in its own fresh process, alternating for ``--rounds`` rounds so that
machine load hits both alike; each side's figure is the median over rounds of its median step time.
``same_process_ratio`` is the step alone: both in one process with the allocator left as it is.
``ours_bf16`` is latentlens' step with ``--precision bf16`` (the convolutions in bfloat16 while training; its
own ratio, ``ratio_bf16``, against the same float32 reference), measured the same way.
Writes ``bench-results/train_vae.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
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
from latentlens.train.loop import keep_freed_memory, to_channels_last
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


def make_step(side: str, batches):
    """A closure running one training step of ``side`` ("ours", "ours_bf16" or "reference") on batch ``i % len``."""
    torch.manual_seed(0)
    if side == "reference":
        reference = ReferenceBetaVAE().train()
        optimizer = torch.optim.Adam(reference.parameters(), lr=1e-4)
        return lambda i: reference_step(reference, optimizer, batches[i % len(batches)])
    ours = build_model("vae", {}).to(memory_format=torch.channels_last).train()
    ours.train_precision = "bf16" if side == "ours_bf16" else "fp32"
    objective = build_objective("beta-vae", 10, beta=4.0)
    optimizer, _ = make_optimizers(ours, objective, 1e-4)
    ready = [to_channels_last(b) for b in batches]
    return lambda i: train_step(ours, objective, optimizer, None, ready[i % len(ready)], step_generator(0, i))


def step_times(steps: dict, count: int, warmup: int = 5) -> dict:
    """Median seconds per step of each closure in ``steps``, steps interleaved."""
    spent = {name: [] for name in steps}
    for i in range(warmup + count):
        for name, step in steps.items():
            began = time.perf_counter()
            step(i)
            if i >= warmup:
                spent[name].append(time.perf_counter() - began)
    return {name: statistics.median(times) for name, times in spent.items()}


def dsprites_batches(batch_size: int) -> list:
    rng = np.random.default_rng(0)
    data = DSprites()
    return [data.sample(batch_size, rng)[0] for _ in range(8)]


def worker(side: str, steps: int, batch_size: int) -> None:
    if side != "reference":
        keep_freed_memory()
    print(json.dumps({"seconds_per_step": step_times({side: make_step(side, dsprites_batches(batch_size))}, steps)[side]}))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default="bench-results/train_vae.json")
    parser.add_argument("--worker", choices=["ours", "ours_bf16", "reference"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.steps, args.batch_size)
        return {}
    per_round = {"ours": [], "ours_bf16": [], "reference": []}
    for _ in range(args.rounds):
        for side in per_round:
            command = [sys.executable, __file__, "--worker", side, "--steps", str(args.steps)]
            output = subprocess.run(command + ["--batch-size", str(args.batch_size)], check=True, capture_output=True)
            per_round[side].append(json.loads(output.stdout.decode().strip().splitlines()[-1])["seconds_per_step"])
    batches = dsprites_batches(args.batch_size)
    same_process = step_times({side: make_step(side, batches) for side in ("ours", "reference")}, args.steps)
    rate = {side: args.batch_size / statistics.median(times) for side, times in per_round.items()}
    result = {
        "name": "train_vae",
        "ours": round(rate["ours"], 1),
        "reference": round(rate["reference"], 1),
        "ratio": round(rate["ours"] / rate["reference"], 3),
        "ours_bf16": round(rate["ours_bf16"], 1),
        "ratio_bf16": round(rate["ours_bf16"] / rate["reference"], 3),
        "unit": "images/s",
        "command": "python benchmarks/train_vae.py",
        "same_process_ratio": round(same_process["reference"] / same_process["ours"], 3),
        "seconds_per_step": {side: [round(t, 4) for t in times] for side, times in per_round.items()},
        "steps": args.steps,
        "rounds": args.rounds,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
