"""Benchmark: training steps/s of latentlens' Voynov & Babenko loop vs the loop as the reference code writes it.

Same generator (latentlens' DCGAN, 64x64, latent 10, width 32, random weights: speed does not depend on
training), same orthonormal deformator (matrix exponential of a skew-symmetric matrix), same LeNet
reconstructor, same batch (32) and K = 10 directions.

- **reference** — the structure of GANLatentDiscovery's ``trainer.py`` re-written for CPU: the shift comes
  from a one-hot basis matrix multiplied through the deformator, ``G(z)`` and ``G(z + shift)`` are two
  separate forward passes, both under autograd, the generator's weights keep ``requires_grad=True`` (they are
  only left out of the optimizers, so their gradients are still computed), default NCHW layout, and the
  generator's gradients are zeroed each step.
- **ours** — :func:`latentlens.directions.deformator.train_shift_model`: frozen generator weights,
  channels_last, ``G(z)`` without autograd (``pair_forward="split"``, the default). The one-batch variant
  ``pair_forward="batched"`` is timed too and reported under ``variants``.

Rounds are interleaved (reference, ours, batched, reference, ...) and the median steps/s is reported, so a
busy machine slows all of them alike. Threads default to 1 (``--threads``): on a shared CPU, OpenMP barriers
with 2 threads make small kernels erratic.

Usage: ``python benchmarks/voynov_speed.py [--steps 10] [--rounds 5] [--threads 1]``.
Writes ``bench-results/voynov_speed.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from latentlens.directions import as_generator
from latentlens.directions.deformator import LinearDeformator, Reconstructor, sample_shifts, train_shift_model
from latentlens.io import write_json
from latentlens.models import build_model

ROOT = Path(__file__).resolve().parents[1]
BATCH, K = 32, 10


def reference_steps(model, n_steps: int, seed: int) -> float:
    """The reference loop's structure; returns steps/s (after one warm-up step)."""
    gen_module = model.generator.to(memory_format=torch.contiguous_format)
    gen_module.eval()
    for p in gen_module.parameters():
        p.requires_grad_(True)  # the reference never freezes G; it only keeps G out of the optimizers
    torch.manual_seed(seed)
    deformator = LinearDeformator(gen_module.latent_dim, K, "ortho")
    recon = Reconstructor(1, K)
    d_opt = torch.optim.Adam(deformator.parameters(), lr=1e-4)
    r_opt = torch.optim.Adam(recon.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(seed)
    began = 0.0
    for step in range(n_steps + 1):
        if step == 1:
            began = time.perf_counter()
        gen_module.zero_grad()
        deformator.zero_grad()
        recon.zero_grad()
        z = torch.randn(BATCH, gen_module.latent_dim, generator=g)
        idx, eps = sample_shifts(BATCH, K, 6.0, 0.5, g)
        basis_shift = torch.zeros(BATCH, K)
        basis_shift[torch.arange(BATCH), idx] = eps
        shift = basis_shift @ deformator.matrix().T  # one-hot shifts through the deformator
        imgs = gen_module(z)
        imgs_shifted = gen_module(z + shift)
        logits, eps_hat = recon(imgs, imgs_shifted)
        loss = F.cross_entropy(logits, idx) + 0.25 * (eps_hat - eps).abs().mean()
        loss.backward()
        d_opt.step()
        r_opt.step()
    return n_steps / (time.perf_counter() - began)


def our_steps(model, n_steps: int, seed: int, pair_forward: str) -> float:
    gen = as_generator(model)
    torch.manual_seed(seed)
    deformator = LinearDeformator(gen.latent_dim, K, "ortho")
    recon = Reconstructor(1, K).to(memory_format=torch.channels_last)
    train_shift_model(gen, deformator, recon, 1, BATCH, seed=seed, pair_forward=pair_forward)  # warm-up
    began = time.perf_counter()
    train_shift_model(gen, deformator, recon, n_steps, BATCH, seed=seed + 1, pair_forward=pair_forward)
    return n_steps / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--width", type=int, default=32, help="DCGAN width")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "voynov_speed.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = build_model("gan", {"width": args.width, "latent_dim": 10}).eval()
    times: dict[str, list[float]] = {"reference": [], "split": [], "batched": []}
    for r in range(args.rounds):
        times["reference"].append(reference_steps(model, args.steps, r))
        times["split"].append(our_steps(model, args.steps, r, "split"))
        times["batched"].append(our_steps(model, args.steps, r, "batched"))
        print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.2f} steps/s" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "name": "voynov_speed",
        "ours": med["split"],
        "reference": med["reference"],
        "ratio": med["split"] / med["reference"],
        "unit": "training steps/s (higher is better)",
        "command": "python benchmarks/voynov_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "variants": {
            "split (default)": med["split"], "batched (one 2B forward)": med["batched"],
            "batched_ratio": med["batched"] / med["reference"],
        },
        "rounds": times,
        "setup": {"generator": f"DCGAN 64x64, latent 10, width {args.width}", "batch": BATCH, "directions": K,
                  "deformator": "ortho (matrix_exp)", "reconstructor": "LeNet width 2",
                  "threads": args.threads, "steps_per_round": args.steps, "rounds": args.rounds},
        "aim": ">= 1.5x",
    }  # fmt: skip
    write_json(args.out, result)
    print(f"voynov_speed: ours {med['split']:.2f} vs reference {med['reference']:.2f} steps/s "
          f"-> {result['ratio']:.2f}x (batched variant {result['variants']['batched_ratio']:.2f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
