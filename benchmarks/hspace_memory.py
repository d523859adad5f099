"""Benchmark: memory and time of one training step through the whole DDIM chain, step-checkpointed vs full graph.

The step is what the h-space direction trainer does (Zhang et al., arXiv 2310.09912): a global shift dh of the
zoo DDPM's bottleneck (4x4x64) is applied at every step of a T-step Asyrp chain from a batch of noises, a loss
is taken on x_0, and its gradient is sent back to dh. **Full graph**: ordinary autograd keeps every step's
activations. **Checkpointed** (:func:`latentlens.directions.checkpointed_chain.checkpointed_chain`): only the T
states are kept and each step is recomputed once during the backward pass. Both give the same gradient (checked
here, relative difference printed).

Memory is measured three ways, each config in a fresh process: the bytes autograd saves for backward
(``SavedTensorMeter``; for the checkpointed chain, the stored states plus one step's graph), the process's peak
resident memory above its level before the step (``ru_maxrss``), and on CUDA ``max_memory_allocated``. The
full graph is skipped where it would not fit (``--max-full-gb``).

``ratio`` = full-graph / checkpointed peak memory at T = 50 (aim >= 5, for at most 2.5x the time).
Usage: ``python benchmarks/hspace_memory.py [--batch 4] [--device cpu]``. Writes ``bench-results/hspace_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
STEPS = (10, 20, 50)


def one(mode: str, steps: int, batch: int, device: str) -> dict:
    from latentlens.directions.checkpointed_chain import SavedTensorMeter, checkpointed_chain, full_graph_chain
    from latentlens.directions.hspace import as_diffusion
    from latentlens.errors import LatentLensError
    from latentlens.zoo import load

    try:
        model = load("dsprites-ddpm").to(device)
        which = "zoo dsprites-ddpm"
    except LatentLensError:  # the zoo model is not installed yet: the same architecture, untrained
        from latentlens.models import build_model

        model = build_model("ddpm", {}).to(device).eval()
        which = "untrained DDPM of the zoo's architecture"
    model.requires_grad_(False)
    diffusion = as_diffusion(model)
    sampler = diffusion.sampler(steps)
    g = torch.Generator().manual_seed(0)
    x_T = torch.randn(batch, *diffusion.image_shape, generator=g).to(device)
    delta = torch.zeros(batch, *diffusion.h_shape, device=device, requires_grad=True)
    target = torch.rand(batch, *diffusion.image_shape, generator=g).to(device)
    edited = diffusion.edited_eps(delta, sampler)

    def step(x, i):
        return sampler.step(x, i, edited=edited, mode="asyrp")

    def train_step():
        delta.grad = None
        chain = checkpointed_chain(step, x_T, steps, params=(delta,)) if mode == "checkpointed" else full_graph_chain(step, x_T, steps)
        loss = (chain - target).pow(2).mean()
        loss.backward()
        return loss

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    with SavedTensorMeter() as meter:
        train_step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - began
    rss_peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    saved = meter.bytes
    if mode == "checkpointed":  # the states live outside autograd; one step's graph is rebuilt per step
        with SavedTensorMeter() as one_step:
            step(x_T.clone(), 0)
        saved = one_step.bytes + steps * x_T.numel() * x_T.element_size()
    return {
        "mode": mode, "steps": steps, "batch": batch, "seconds": round(seconds, 3), "saved_mb": round(saved / 2**20, 2),
        "rss_peak_mb": round(rss_peak_mb, 1),
        "cuda_peak_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
        "grad": delta.grad.detach().cpu().flatten()[:4096].tolist(), "model": which,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-full-gb", type=float, default=12.0, help="skip the full graph above this estimate")
    parser.add_argument("--one", nargs=2, metavar=("MODE", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.batch, args.device)))
        return 0
    rows = []
    per_step_mb = None
    for steps in STEPS:
        for mode in ("checkpointed", "full"):
            if mode == "full" and per_step_mb is not None and per_step_mb * steps / 1024 > args.max_full_gb:
                rows.append({"mode": mode, "steps": steps, "skipped": "would not fit"})
                continue
            out = subprocess.run([sys.executable, __file__, "--one", mode, str(steps), "--batch", str(args.batch),
                                  "--device", args.device], capture_output=True, text=True, check=True)  # fmt: skip
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            if mode == "full":
                per_step_mb = row["saved_mb"] / steps
            print(f"T={steps:3d} {mode:12s} {row['seconds']:8.2f} s  saved {row['saved_mb']:9.1f} MB  "
                  f"peak RSS +{row['rss_peak_mb']:9.1f} MB", flush=True)  # fmt: skip
    table = []
    for steps in STEPS:
        ck = next(r for r in rows if r["steps"] == steps and r["mode"] == "checkpointed")
        full = next(r for r in rows if r["steps"] == steps and r["mode"] == "full")
        entry = {"steps": steps, "checkpointed_s": ck["seconds"], "checkpointed_saved_mb": ck["saved_mb"],
                 "checkpointed_rss_mb": ck["rss_peak_mb"], "checkpointed_cuda_mb": ck["cuda_peak_mb"]}  # fmt: skip
        if "skipped" not in full:
            g_ck, g_full = torch.tensor(ck["grad"]), torch.tensor(full["grad"])
            entry.update({"full_s": full["seconds"], "full_saved_mb": full["saved_mb"], "full_rss_mb": full["rss_peak_mb"],
                          "full_cuda_mb": full["cuda_peak_mb"], "time_ratio": round(ck["seconds"] / full["seconds"], 3),
                          "memory_ratio_saved": round(full["saved_mb"] / ck["saved_mb"], 2),
                          "memory_ratio_rss": round(full["rss_peak_mb"] / max(ck["rss_peak_mb"], 1e-9), 2),
                          "grad_rel_diff": float((g_ck - g_full).norm() / g_full.norm().clamp_min(1e-30))})  # fmt: skip
        table.append(entry)
    last = table[-1]
    key = "memory_ratio_rss" if args.device == "cpu" else "memory_ratio_saved"
    result = {
        "name": "hspace_memory", "unit": "x less peak memory at T=50 (full graph / checkpointed)",
        "ours": last.get("checkpointed_rss_mb"), "reference": last.get("full_rss_mb"), "ratio": last.get(key),
        "time_ratio_at_50": last.get("time_ratio"), "table": table, "batch": args.batch, "device": args.device,
        "model": rows[0]["model"], "command": "python benchmarks/hspace_memory.py",
    }  # fmt: skip
    (ROOT / "bench-results").mkdir(exist_ok=True)
    (ROOT / "bench-results" / "hspace_memory.json").write_text(json.dumps(result, indent=2))
    for e in table:
        print(json.dumps({k: v for k, v in e.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
