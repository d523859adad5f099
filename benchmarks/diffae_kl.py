"""Benchmark: does DiffEx's classifier KL term make a diffusion autoencoder's round trips keep the class?

DiffEx (Bourou et al., arXiv 2502.09663) trains its diffusion autoencoder with
``(1 - w) L_diffusion + w KL(C(x) || C(x_hat))``, ``x_hat`` the decoded round trip, so that reconstructions keep
the classifier's decision (they ask >= 95 %). Here, on the synthetic cells (``latentlens data cells``, graded
phenotypes) and their classifier (``train classifier``, 600 steps): a base autoencoder with the classifier
component and no KL term (``train diffae --cls-weight 0``), then, from the same base weights and the same
batches, ``--steps`` more steps of each variant: no KL term (the control), the KL term as ``train diffae``
computes it (5 DDIM steps, 8 images per batch, gradient into every weight) at several weights ``w``, the same
with the gradient into ``z_sem`` only (encoder and fusion layer), and with ``x_hat`` the one-step prediction of
x0 from a noised image (t < 500) instead of the round trip; not in the default set, ``x_hat`` decoded from z_sem
and fresh noise (the KL can then only be lowered by putting the class into z_sem). ``w`` is annealed from 0
over the first third, gradients clipped to norm 1 (as DiffAE does). Measured: the gradient norms of the
diffusion loss and of the KL at the base weights, the diffusion loss and the KL over the last 50 steps, the
class agreement of 20-, 10- and 100-step round trips (stochastic encoding, then decoding) on 100 held-out cells,
and their semantic agreement (decoded from z_sem and fresh noise, beside another cell's z_sem).

JSON: ``ours`` = the best agreement (20 steps) of a variant with the KL term, ``reference`` = the control's,
``table`` = every variant.

Usage: ``python benchmarks/diffae_kl.py [--seed 0] [--base-steps 300] [--steps 300] [--variants a,b] [--work DIR]``.
Writes ``bench-results/diffae_kl.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from latentlens.cli import main as cli
from latentlens.io import write_json

ROOT = Path(__file__).resolve().parents[1]
# name: (w, how x_hat is made, KL DDIM steps, KL batch)
VARIANTS = {
    "no KL term": (0.0, "round trip", 5, 8),
    "w 0.3 (DiffEx)": (0.3, "round trip", 5, 8),
    "w 0.01": (0.01, "round trip", 5, 8),
    "w 0.001": (0.001, "round trip", 5, 8),
    "w 0.3 into z_sem only": (0.3, "round trip, z_sem only", 5, 8),
    "w 0.3 one-step x0": (0.3, "one-step x0", 1, 32),
    "w 0.01 20-step round trip": (0.01, "round trip", 20, 2),
    "w 0.3 from fresh noise": (0.3, "fresh noise", 5, 8),
    "w 0.01 from fresh noise": (0.01, "fresh noise", 5, 8),
}


def x_hat(model, x, z_sem, how: str, kl_steps: int) -> torch.Tensor:
    from latentlens.directions.checkpointed_chain import checkpointed_chain
    from latentlens.train.diffae import render_with_grad, round_trip

    if how == "round trip":
        return round_trip(model, x, z_sem, kl_steps, grad=True)
    if how == "fresh noise":  # the decoding of z_sem alone: the KL can only be lowered through z_sem
        return render_with_grad(model, z_sem, torch.randn_like(x), kl_steps)
    if how == "round trip, z_sem only":
        with torch.no_grad():
            x_T = model.stochastic_encode(x, z_sem.detach(), kl_steps)
        sampler = model.sampler(z_sem, kl_steps)
        return ((checkpointed_chain(sampler.step, x_T, len(sampler), params=[z_sem]) + 1) / 2).clamp(0, 1)
    x0 = x * 2 - 1
    t = torch.randint(0, 500, (len(x0),))
    x_t = model.ddpm.noisy(x0, t, torch.randn_like(x0))
    a = model.alphas_cumprod[t].view(-1, 1, 1, 1).to(x0.dtype)
    return (((x_t - (1 - a).sqrt() * model.eps(x_t, t, z_sem)) / a.sqrt() + 1) / 2).clamp(0, 1)


def continue_training(base: Path, clf, train: torch.Tensor, val: torch.Tensor, variant: tuple, steps: int,
                      seed: int, lr: float) -> dict:  # fmt: skip
    from latentlens.models.classifier import prediction_kl
    from latentlens.train.checkpoint import load_model
    from latentlens.train.diffae import class_agreement, semantic_agreement

    w_max, how, kl_steps, kl_batch = variant
    model = load_model(base).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    torch.manual_seed(seed)
    losses, began = [], time.process_time()
    for step in range(steps):
        x = train[torch.randint(0, len(train), (32,))]
        reference = clf(x)
        z = model.semantic(x, reference.softmax(1))
        diffusion = model.loss(x, z)
        w = w_max * min(1.0, step / (steps / 3))
        kl = torch.zeros(())
        if w > 0:
            kl = prediction_kl(reference[:kl_batch], clf(x_hat(model, x[:kl_batch], z[:kl_batch], how, kl_steps)))
        optimizer.zero_grad(set_to_none=True)
        ((1 - w) * diffusion + w * kl).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append((float(diffusion.detach()), float(kl.detach())))
    model.eval()
    cpu_seconds = round(time.process_time() - began, 1)  # training only (the earlier tables also counted 20- and 10-step checks)
    tail = np.array(losses[-50:])
    return {"w": w_max, "x_hat": how, "kl_steps": kl_steps, "kl_batch": kl_batch,
            "diffusion_loss": float(tail[:, 0].mean()), "kl": float(tail[:, 1].mean()),
            "agreement_20": class_agreement(model, clf, val, steps=20),
            "agreement_10": class_agreement(model, clf, val, steps=10),
            "agreement_100": class_agreement(model, clf, val, steps=100),
            **dict(zip(("semantic_agreement", "semantic_agreement_other"), semantic_agreement(model, clf, val, seed=seed))),
            "cpu_seconds": cpu_seconds}  # fmt: skip


def gradient_norms(base: Path, clf, x: torch.Tensor) -> dict:
    """Norm of the gradient (all weights) of the diffusion loss on ``x`` and of the KL of 5- and 20-step round
    trips of its first 8 images, at the base weights: how much the KL term outweighs the diffusion loss."""
    from latentlens.models.classifier import prediction_kl
    from latentlens.train.checkpoint import load_model
    from latentlens.train.diffae import round_trip

    model = load_model(base).train()

    def norm(loss):
        model.zero_grad()
        loss.backward()
        return float(torch.sqrt(sum((p.grad**2).sum() for p in model.parameters() if p.grad is not None)))

    torch.manual_seed(0)
    reference = clf(x)
    out = {"diffusion": norm(model.loss(x, model.semantic(x, reference.softmax(1))))}
    for steps in (5, 20):
        z = model.semantic(x[:8], reference[:8].softmax(1))
        out[f"kl_{steps}_steps"] = norm(prediction_kl(reference[:8], clf(round_trip(model, x[:8], z, steps, grad=True))))
    return out


def cells_and_classifier(work: str | None, seed: int, prefix: str) -> tuple[Path, Path, list[str]]:
    """32 px graded cells and their classifier (600 steps) in ``work`` (default: a new temporary folder), kept
    there for reruns: the cells' folder, the runs' folder and the options every ``train`` command shares."""
    from latentlens.data.cells import generate_cells

    work = Path(work) if work else Path(tempfile.mkdtemp(prefix=prefix))
    print("cells and runs in", work, flush=True)
    data, runs = work / f"cells-{seed}", work / f"runs-{seed}"
    generate_cells(data, n_per_condition=500, strength=1.0, effects={"nucleus_size": 0.15, "elongation": 0.35},
                   size=32, seed=seed, response="graded")  # fmt: skip
    common = ["--data", str(data), "--image-size", "32", "--seed", str(seed), "--no-progress"]
    if not (runs / "clf" / "model.safetensors").is_file():
        assert cli(["train", "classifier", *common, "--steps", "600", "--out", str(runs / "clf")]) == 0
    return data, runs, common


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base-steps", type=int, default=300, help="steps of the base autoencoder (no KL term)")
    parser.add_argument("--steps", type=int, default=300, help="steps of each variant from the base weights")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--variants", default=",".join(list(VARIANTS)[:-3]),
                        help="comma-separated subset of: " + ", ".join(VARIANTS))  # fmt: skip
    parser.add_argument("--work", default=None, help="folder for the cells and runs (default: a new temporary one)")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "diffae_kl.json"))
    args = parser.parse_args(argv)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not names or set(names) - set(VARIANTS) or "no KL term" not in names:
        parser.error(f"--variants must name 'no KL term' and some of: {', '.join(VARIANTS)}")
    torch.set_num_threads(2)
    from latentlens.data.folders import load_image_folder
    from latentlens.train.checkpoint import load_model

    data, runs, common = cells_and_classifier(args.work, args.seed, "diffae-kl-")
    base = runs / f"base-{args.base_steps}"
    if not (base / "model.safetensors").is_file():
        assert cli(["train", "diffae", *common, "--steps", str(args.base_steps), "--batch-size", "32", "--patch-size",
                    "2", "--classifier", str(runs / "clf"), "--cls-weight", "0", "--out", str(base)]) == 0  # fmt: skip
    clf = load_model(runs / "clf").eval().requires_grad_(False)
    images = load_image_folder(str(data), 32, 1).float() / 255
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(args.seed))
    val, train = images[order[:100]], images[order[100:]]
    norms = gradient_norms(base, clf, train[:32])
    print("gradient norms at the base weights:", {k: round(v, 2) for k, v in norms.items()}, flush=True)
    table = {}
    for name in names:
        table[name] = continue_training(base, clf, train, val, VARIANTS[name], args.steps, args.seed, args.lr)
        r = table[name]
        print(f"{name:<28} diffusion {r['diffusion_loss']:.3f}  KL {r['kl']:.3f}  agreement 20 / 10 steps "
              f"{r['agreement_20']:.2f} / {r['agreement_10']:.2f} (100 steps {r['agreement_100']:.2f}); z_sem alone "
              f"{r['semantic_agreement']:.2f}, another's {r['semantic_agreement_other']:.2f}  ({r['cpu_seconds']:.0f} CPU s)",
              flush=True)  # fmt: skip
    with_kl = [n for n in names if VARIANTS[n][0] > 0]
    best = max(with_kl, key=lambda n: table[n]["agreement_20"]) if with_kl else "no KL term"
    ours, ref = table[best]["agreement_20"], table["no KL term"]["agreement_20"]
    write_json(args.out, {
        "name": "diffae_kl", "ours": ours, "reference": ref, "ratio": ours / ref if ref else None,
        "unit": f"class agreement of 20-step round trips, best KL variant ({best}) vs no KL term",
        "reference_name": "the same autoencoder trained on without the KL term", "best_variant": best,
        "table": table, "gradient_norms": norms, "seed": args.seed, "base_steps": args.base_steps, "steps": args.steps, "lr": args.lr,
        "command": "python benchmarks/diffae_kl.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
