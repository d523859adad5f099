"""Benchmark: how much does a shift of h move the images of the zoo DDPM? (the premise of h-space editing)

For the zoo dSprites DDPM (``--run`` for another), DDIM with ``--ddim-steps`` steps and 8 fixed noises: the
images drawn with a global h shift along the first and second principal components of sampled h (PCA of 512
noises' h at the first DDIM step) and along a random unit direction, at strengths of 6 to 100 standard
deviations of h per coordinate (the h-space generator's unit: its training shifts are up to 6), for Asyrp's
edit interval ``t_edit`` 0.0 / 0.2 / 0.5 and for the symmetric injection (Haas et al.). Reported per setting:
mean absolute pixel change and the fraction of pixels that change by more than 0.25. For scale: the spread
of sampled h along its first principal component, and the typical distance of a sample from the mean.

``ours`` = fraction of pixels changed by a shift of 100 along PC0 at t_edit 0.2 (Asyrp); ``reference`` = the same
for a random direction; ``ratio`` = ours / reference.

Also **bottleneck reliance** (``bottleneck_reliance`` in the JSON): 32 of the model's own samples, noised to
t = 900 ... 100; at each t the predicted x0 with h replaced by the batch mean of h, its mean absolute change,
divided by how much the predicted x0 differs between images (mean absolute deviation from the batch mean).
Near 0: the decoder ignores h (its skips carry the image); near 1 or above: h decides what the image shows.

Usage: ``python benchmarks/hspace_sensitivity.py [--run zoo:dsprites-ddpm] [--ddim-steps 10]``.
Writes ``bench-results/hspace_sensitivity.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from latentlens.io import write_json

ROOT = Path(__file__).resolve().parents[1]
STRENGTHS = (6, 20, 50, 100)
SETTINGS = ((0.2, "asyrp"), (0.0, "asyrp"), (0.5, "asyrp"), (0.2, "symmetric"))


def main(argv: list[str] | None = None) -> int:
    from latentlens.directions.hspace_generator import HSpaceGenerator
    from latentlens.workflows._runs import open_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="zoo:dsprites-ddpm")
    parser.add_argument("--ddim-steps", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "hspace_sensitivity.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    model = open_model(args.run)[2]
    began = time.perf_counter()
    results, scale = {}, {}
    for t_edit, mode in SETTINGS:
        g = HSpaceGenerator(model, steps=args.ddim_steps, t_edit=t_edit, mode=mode, n_calibration=256)
        u = g.sample_latents(512, torch.Generator().manual_seed(0))
        centred = u - u.mean(0)
        pcs = torch.pca_lowrank(centred, q=8, center=False)[2].T
        random = torch.randn(g.latent_dim, generator=torch.Generator().manual_seed(1))
        directions = {"pc0": pcs[0], "pc1": pcs[1], "random": random / random.norm()}
        scale = {"h_shape": list(g.h_shape), "spread_along_pc0": float((centred @ pcs[0]).std()),
                 "spread_along_random": float((centred @ directions["random"]).std()),
                 "distance_from_mean": float(centred.norm(dim=1).mean())}  # fmt: skip
        x_T = g.noise(g._anchor_seed[:8])
        with torch.no_grad():
            base = g.render(x_T)
            rows = {}
            for name, d in directions.items():
                rows[name] = []
                for a in STRENGTHS:
                    shift = (a * g.h_scale * d).view(1, *g.h_shape).expand(len(x_T), *g.h_shape)
                    change = (g.render(x_T, shift) - base).abs()
                    rows[name].append({"strength": a, "mean_abs_change": float(change.mean()),
                                       "changed_pixels": float((change > 0.25).float().mean())})  # fmt: skip
        results[f"{mode} t_edit {t_edit}"] = rows
        print(f"{mode} t_edit {t_edit}: " + "; ".join(
            f"{n} " + " ".join(f"{r['strength']}:{r['changed_pixels']:.4f}" for r in v) for n, v in rows.items()), flush=True)
    reliance = bottleneck_reliance(g)
    print("bottleneck reliance: " + " ".join(f"t={t}:{r:.3f}" for t, r in reliance.items()), flush=True)
    head = results["asyrp t_edit 0.2"]
    ours, ref = head["pc0"][-1]["changed_pixels"], head["random"][-1]["changed_pixels"]
    write_json(args.out, {
        "name": "hspace_sensitivity", "ours": ours, "reference": ref, "ratio": ours / max(ref, 1e-12),
        "unit": "fraction of pixels changed by > 0.25 under a shift of 100 h-std along PC0 (reference: a random direction)",
        "reference_name": "a random unit h-direction", "scale": scale, "settings": results,
        "bottleneck_reliance": reliance, "ddim_steps": args.ddim_steps, "run": args.run, "seconds": round(time.perf_counter() - began, 1),
        "command": "python benchmarks/hspace_sensitivity.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    })  # fmt: skip
    return 0


@torch.no_grad()
def bottleneck_reliance(g, n: int = 32, timesteps=(900, 700, 500, 300, 100)) -> dict[int, float]:
    """Change of the predicted x0 when h is replaced by its batch mean, over the predicted x0's spread."""
    diffusion = g.diffusion
    x0 = g.render(g.noise(torch.arange(n))) * 2 - 1
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2), dtype=x0.dtype)
    out = {}
    for t in timesteps:
        a = float(diffusion.alphas_cumprod[t])
        x_t = a**0.5 * x0 + (1 - a) ** 0.5 * noise
        plain = (x_t - (1 - a) ** 0.5 * diffusion.eps(x_t, t)) / a**0.5
        with diffusion.shifted(lambda h: h.mean(0, keepdim=True) - h):
            mean_h = (x_t - (1 - a) ** 0.5 * diffusion.eps(x_t, t)) / a**0.5
        spread = (plain - plain.mean(0)).abs().mean()
        out[t] = round(float((mean_h - plain).abs().mean() / spread), 4)
    return out


if __name__ == "__main__":
    sys.exit(main())
