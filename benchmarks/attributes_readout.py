"""Benchmark: when AttFind's attributes on synthetic cells miss a planted phenotype, is it the VAE or the read-out?

``attributes_cells`` names each attribute by the factor a factor regressor, fitted on real cells, reads off
the edited (decoded) pictures. Decoded cells are blurred, so a miss can come from the VAE (its
reconstructions no longer hold the phenotype apart from the others) or from the regressor (it holds them, but
a regressor fitted on sharp cells misreads blurred ones). Per seed this trains what ``attributes_cells`` trains
(cells with graded phenotypes, the classifier, the classifier-aware VAE) and runs AttFind on the oracle
directions (each factor's own direction in z), then reads each planted factor on held-out cells three ways:

- ``real``: a regressor fitted on real cells, read on real cells (what the pictures hold);
- ``real_on_recon``: the same regressor read on the VAE's reconstructions (what ``attributes`` does);
- ``recon``: a regressor fitted on reconstructions, read on reconstructions (what the VAE keeps).

For each: the held-out R^2 and the least-squares weights of the true standardised factors in the read-out
(``drivers``: a read-out of nucleus size driven by elongation mixes the two). Also the linear R^2 of each
factor from the posterior means. ``ours`` = the ``recon`` R^2 of nucleus size (the weaker phenotype),
``reference`` = its ``real`` R^2, ``ratio`` = the share of it the VAE keeps (mean over seeds).

Usage: ``python benchmarks/attributes_readout.py [--seeds 0] [--vae-steps 3000] [--image-size 32]``.
Writes ``bench-results/attributes_readout.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from attributes_cells import PLANTED, ROOT, one_seed, read_factor_table

from latentlens.io import write_json
from latentlens.train.checkpoint import load_model
from latentlens.train.classifier import fit_factor_regressor


def _readout(regressor, images: torch.Tensor, truth: np.ndarray, names: list[str]) -> dict:
    """Per planted factor: held-out R^2 of the regressor's read-out and the true factors that drive it."""
    with torch.inference_mode():
        pred = regressor(images.float() / 255)[:, : len(names)].numpy()
    design = np.c_[truth, np.ones(len(truth))]
    out = {}
    for j, name in enumerate(names):
        if name not in PLANTED:
            continue
        weights = np.linalg.lstsq(design, pred[:, j], rcond=None)[0][:-1]
        top = sorted(zip(names, weights), key=lambda a: -abs(a[1]))[:3]
        out[name] = {"r2": round(float(1 - ((pred[:, j] - truth[:, j]) ** 2).mean() / truth[:, j].var()), 3),
                     "drivers": {k: round(float(w), 3) for k, w in top}}  # fmt: skip
    return out


def one_readout(work: Path, seed: int, vae_steps: int, size: int = 32) -> dict:
    steps = {"vae": vae_steps, "clf": 600, "diffae": 1500, "voynov": 1000}
    oracle = one_seed(work, seed, steps, 500, sources=("vae oracle",), response="graded", size=size)["vae oracle"]
    data = work / f"cells-{seed}"
    names, values, images = read_factor_table(data)
    vae = load_model(work / f"runs-{data.name}" / "vae").eval()
    with torch.inference_mode():
        mu = torch.cat([vae.encode(images[i : i + 256].float() / 255)[0] for i in range(0, len(images), 256)])
        recon = torch.cat([vae.decode(mu[i : i + 256]) for i in range(0, len(mu), 256)])
    recon = (recon * 255).round().clamp(0, 255).to(torch.uint8)
    order = np.random.default_rng(seed + 1).permutation(len(images))
    fit, held = order[: int(0.8 * len(order))], order[int(0.8 * len(order)) :]
    truth = (values - values[fit].mean(0)) / values[fit].std(0)
    real_reg = fit_factor_regressor(images[fit], values[fit], steps=1000, seed=seed)[0]
    recon_reg = fit_factor_regressor(recon[fit], values[fit], steps=1000, seed=seed)[0]
    latents = np.c_[mu.double().numpy(), np.ones(len(mu))]
    linear = {}
    for j, name in enumerate(names):
        coef = np.linalg.lstsq(latents[fit], truth[fit, j], rcond=None)[0]
        linear[name] = round(float(1 - ((latents[held] @ coef - truth[held, j]) ** 2).mean() / truth[held, j].var()), 3)
    result = {
        "oracle_main_factors": oracle["main_factors"], "oracle_top2_planted": oracle["top2_planted"],
        "real": _readout(real_reg, images[held], truth[held], names),
        "real_on_recon": _readout(real_reg, recon[held], truth[held], names),
        "recon": _readout(recon_reg, recon[held], truth[held], names),
        "linear_r2_from_latents": linear,
    }  # fmt: skip
    print(seed, {k: result[k] for k in ("oracle_main_factors", "real", "real_on_recon", "recon")}, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--vae-steps", type=int, default=3000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "attributes_readout.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="attributes-readout-"))
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = {str(s): one_readout(work, s, args.vae_steps, args.image_size) for s in seeds}
    ours = statistics.mean(r["recon"]["nucleus_size"]["r2"] for r in runs.values())
    ref = statistics.mean(r["real"]["nucleus_size"]["r2"] for r in runs.values())
    write_json(args.out, {
        "name": "attributes_readout", "ours": ours, "reference": ref, "ratio": ours / ref if ref > 0 else None,
        "unit": "held-out R^2 of nucleus size read off the VAE's reconstructions (regressor fitted on them)",
        "reference_name": "the same read off real cells", "vae_steps": args.vae_steps,
        "image_size": args.image_size, "runs": runs,
        "command": "python benchmarks/attributes_readout.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
