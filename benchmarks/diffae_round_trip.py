"""Benchmark: does a diffusion autoencoder's round trip keep the class, and does its z_sem hold the class?

DiffEx (Bourou et al., arXiv 2502.09663) asks that reconstructions keep the classifier's decision (>= 95 %) and
edits z_sem, the semantic code of a diffusion autoencoder (Preechakul et al., CVPR 2022). On the synthetic cells
(``latentlens data cells``, graded phenotypes, 32 px) and their classifier (``train classifier``, 600 steps), an
autoencoder with the classifier component and no KL term (``train diffae --cls-weight 0``, ``--steps``) is read
on 100 held-out cells:

- the class agreement and the pixel MSE of round trips (DDIM inversion, then decoding) at 10 - 200 DDIM steps:
  how much of a lost class is the sampler's discretisation;
- the semantic agreement: the share of cells whose class survives decoding their own z_sem from fresh noise,
  beside another cell's z_sem (equal shares: z_sem holds none of what the classifier reads);
- how much the noise prediction moves when the z_sem of a batch is shuffled, at t = 100, 500 and 900.

JSON: ``ours`` = agreement at 100 DDIM steps, ``reference`` = at 20 steps (``attributes``' earlier default).

Usage: ``python benchmarks/diffae_round_trip.py [--seed 0] [--steps 1500] [--work DIR]``.
Writes ``bench-results/diffae_round_trip.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from diffae_kl import cells_and_classifier
from latentlens.cli import main as cli
from latentlens.io import write_json

ROOT = Path(__file__).resolve().parents[1]
DDIM_STEPS = (10, 20, 50, 100, 200)


@torch.no_grad()
def read_autoencoder(model, clf, val: torch.Tensor, seed: int) -> dict:
    from latentlens.train.diffae import round_trip, semantic_agreement

    logits = clf(val)
    z = model.semantic(val, logits.softmax(1))
    out = {"round_trip": {}}
    for steps in DDIM_STEPS:
        began = time.process_time()
        x_hat = round_trip(model, val, z, steps)
        out["round_trip"][steps] = {
            "agreement": float((clf(x_hat).argmax(1) == logits.argmax(1)).float().mean()),
            "mse": float(((x_hat - val) ** 2).mean()), "cpu_seconds": round(time.process_time() - began, 1)}  # fmt: skip
    out["semantic_agreement"], out["semantic_agreement_other"] = semantic_agreement(model, clf, val, seed=seed)
    g = torch.Generator().manual_seed(seed)
    x0, shuffled = val * 2 - 1, z[torch.randperm(len(z), generator=g)]
    out["eps_change_when_z_sem_shuffled"] = {}
    for t in (100, 500, 900):
        tt = torch.full((len(val),), t)
        x_t = model.ddpm.noisy(x0, tt, torch.randn(x0.shape, generator=g))
        eps = model.eps(x_t, tt, z)
        out["eps_change_when_z_sem_shuffled"][t] = float((eps - model.eps(x_t, tt, shuffled)).norm() / eps.norm())
    out["z_sem_spread"] = float(z.std(0).mean() / z.abs().mean())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1500, help="training steps of the autoencoder")
    parser.add_argument("--work", default=None, help="folder for the cells and runs (default: a new temporary one)")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "diffae_round_trip.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    from latentlens.data.folders import load_image_folder
    from latentlens.train.checkpoint import load_model

    data, runs, common = cells_and_classifier(args.work, args.seed, "diffae-round-trip-")
    run = runs / f"diffae-{args.steps}"
    train_seconds = None  # a run reused from --work was not trained here
    if not (run / "model.safetensors").is_file():
        began = time.perf_counter()
        assert cli(["train", "diffae", *common, "--steps", str(args.steps), "--batch-size", "32", "--patch-size", "2",
                    "--classifier", str(runs / "clf"), "--cls-weight", "0", "--out", str(run)]) == 0  # fmt: skip
        train_seconds = round(time.perf_counter() - began, 1)
    clf = load_model(runs / "clf").eval().requires_grad_(False)
    model = load_model(run).eval()
    images = load_image_folder(str(data), 32, 1).float() / 255
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(args.seed))
    r = read_autoencoder(model, clf, images[order[:100]], args.seed)
    for steps, v in r["round_trip"].items():
        print(f"{steps:>4} DDIM steps: round trips keep the class for {v['agreement']:.2f}, MSE {v['mse']:.5f} "
              f"({v['cpu_seconds']:.0f} CPU s)")  # fmt: skip
    print(f"decoded from fresh noise: own z_sem keeps the class for {r['semantic_agreement']:.2f}, another cell's "
          f"{r['semantic_agreement_other']:.2f}; noise prediction moved by shuffling z_sem "
          + ", ".join(f"t {t}: {v:.3f}" for t, v in r["eps_change_when_z_sem_shuffled"].items())
          + f"; z_sem spread {r['z_sem_spread']:.3f}")  # fmt: skip
    ours, ref = r["round_trip"][100]["agreement"], r["round_trip"][20]["agreement"]
    write_json(args.out, {
        "name": "diffae_round_trip", "ours": ours, "reference": ref, "ratio": ours / ref if ref else None,
        "unit": "class agreement of round trips, 100 vs 20 DDIM steps", **r, "seed": args.seed,
        "train_steps": args.steps, "train_wall_seconds": train_seconds,
        "command": "python benchmarks/diffae_round_trip.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
