"""Benchmark: SFVQ fitting time, latentlens vs a loop written as the official training script writes it.

Same data (2^16 points of N(0, I_D)), same bitrates (2 -> 6), epochs, batch (64), Adam (1e-3) and step
schedule. **Reference** (MHVali/Space-Filling-Vector-Quantizer ``train.py`` + ``spacefilling_vq.py``): per batch
a Python step that builds the dithered codebook, computes the full distance matrix, takes the argmin,
forms the loss with autograd, ``loss.backward()`` and ``optimizer.step()``. **Ours**:
:class:`latentlens.directions.sfvq.SpaceFillingVQ` (closed-form gradient, no autograd graph, fused Adam).
Both end with the curve MSE on the data, which must agree (within 5 %: the two draw their random numbers
differently).

``ours``/``reference`` are seconds; ``ratio`` = reference / ours (aim >= 3).

Usage: ``python benchmarks/sfvq_speed.py [--dim 16] [--bits 6] [--epochs 3]``.
Writes ``bench-results/sfvq_speed.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from latentlens.directions.sfvq import SpaceFillingVQ, extend_codebook, norm_sorted_init, project
from latentlens.io import write_json

ROOT = Path(__file__).resolve().parents[1]


def reference_fit(x: torch.Tensor, bits: int, epochs: int, batch: int = 64, lr: float = 1e-3, seed: int = 0):
    """The official script's structure: autograd loss per batch, a fresh Adam and MultiStepLR per bitrate."""
    torch.manual_seed(seed)
    codebook = norm_sorted_init(x, 4)
    for b in range(2, bits + 1):
        if b > 2:
            codebook = extend_codebook(codebook)
        param = torch.nn.Parameter(codebook.clone())
        opt = torch.optim.Adam([param], lr=lr)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[max(1, round(0.6 * epochs)), max(1, round(0.8 * epochs))], gamma=0.5)
        for _ in range(epochs):
            order = torch.randperm(len(x))
            for start in range(0, len(x), batch):
                xb = x[order[start : start + batch]]
                lam = torch.rand(len(param) - 1, 1)
                dithered = (1 - lam) * param[:-1] + lam * param[1:]
                dist = torch.cdist(xb, dithered)  # the full distance matrix
                chosen = dithered[dist.argmin(1)]
                loss = (xb - chosen).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()
        codebook = param.detach().clone()
    return codebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--points", type=int, default=2**16)
    parser.add_argument("--bits", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "sfvq_speed.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    x = torch.randn(args.points, args.dim, generator=torch.Generator().manual_seed(0))
    t = time.perf_counter()
    ours = SpaceFillingVQ(args.bits, args.epochs, random_state=0).fit(x)
    ours_s = time.perf_counter() - t
    t = time.perf_counter()
    ref_codebook = reference_fit(x, args.bits, args.epochs)
    ref_s = time.perf_counter() - t
    ours_mse = ours.curve_mse(x)
    ref_mse = float((x - project(x, ref_codebook)[1]).pow(2).mean())
    result = {
        "name": "sfvq_speed", "ours": round(ours_s, 2), "reference": round(ref_s, 2), "ratio": round(ref_s / ours_s, 2),
        "unit": "seconds to fit (ratio = reference / ours)",
        "reference_name": "the official train.py structure (autograd loss per batch, full distance matrix)",
        "curve_mse": {"ours": ours_mse, "reference": ref_mse}, "mse_agree": abs(ours_mse - ref_mse) <= 0.05 * ref_mse,
        "aim": ">= 3x with equal final MSE", "aim_met": ref_s / ours_s >= 3 and abs(ours_mse - ref_mse) <= 0.05 * ref_mse,
        "setup": {"dim": args.dim, "points": args.points, "bits": args.bits, "epochs": args.epochs, "threads": args.threads},
        "torch": torch.__version__,
        "command": "python benchmarks/sfvq_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }  # fmt: skip
    write_json(args.out, result)
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
