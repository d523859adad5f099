"""Benchmark: attention maps of all latent dimensions for a batch, vectorised vs per-dimension loops.

``ours``: :class:`latentlens.explain.vae_attention.VAEAttention` (one encoder pass, one batched backward
over all D targets, linear-successor shortcut). References, timed in the same run on the same model and
batch: ``captum-style`` — one forward and one backward per dimension (what ``captum.attr.LayerGradCam``
does when called once per target, and what ``attention_loop_reference`` implements); ``retained-graph``
— one forward, then D backward passes with ``retain_graph`` (public expVAE reimplementations). Maps are
checked equal (max abs difference reported). Times are the best of ``--repeats`` runs.

Usage: ``python benchmarks/attention_all_dims.py [--batch 64] [--latent-dim 10] [--repeats 7]``.
Writes ``bench-results/attention_all_dims.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from latentlens.explain.vae_attention import LayerCapture, VAEAttention, attention_loop_reference, eval_mode, upsample
from latentlens.io import write_json
from latentlens.models import build_model

ROOT = Path(__file__).resolve().parents[1]


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up (vmap set-up, allocator)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def retained_graph_loop(model, x, layer):
    with eval_mode(model), torch.enable_grad():
        with LayerCapture(model, layer) as cap:
            mu, _ = model.encode(x)
        maps = []
        for i in range(mu.shape[1]):
            (g,) = torch.autograd.grad(mu[:, i].sum(), cap.activation, retain_graph=True)
            m = (g.mean(dim=(-2, -1), keepdim=True) * cap.activation).sum(dim=1, keepdim=True)
            maps.append(upsample(m.relu(), x.shape[-2:]).detach())
    return torch.cat(maps, dim=1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--layer", default="encoder.3")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "attention_all_dims.json"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = build_model("vae", {"in_channels": 1, "image_size": args.image_size, "latent_dim": args.latent_dim})
    x = torch.rand(args.batch, 1, args.image_size, args.image_size, generator=torch.Generator().manual_seed(0))

    ours = VAEAttention(model, args.layer)
    generic = VAEAttention(model, args.layer, shortcut=False)
    t_ours = best_time(lambda: ours.attribute(x), args.repeats)
    t_generic = best_time(lambda: generic.attribute(x), args.repeats)
    t_captum = best_time(lambda: attention_loop_reference(model, x, args.layer), args.repeats)
    t_retained = best_time(lambda: retained_graph_loop(model, x, args.layer), args.repeats)

    ref_maps, _ = attention_loop_reference(model, x, args.layer)
    diff = float((ours.attribute(x).maps - ref_maps).abs().max())
    scale = float(ref_maps.abs().max())
    result = {
        "name": "attention_all_dims",
        "ours": t_ours,
        "reference": t_captum,
        "ratio": t_captum / t_ours,
        "unit": "seconds per batch (best of repeats); ratio = captum-style per-dimension loop / ours",
        "command": "python benchmarks/attention_all_dims.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "reference_name": "per-dimension loop, one forward + one backward each (captum LayerGradCam style)",
        "retained_graph_loop_seconds": t_retained,
        "ratio_vs_retained_graph_loop": t_retained / t_ours,
        "vectorised_without_shortcut_seconds": t_generic,
        "ratio_without_shortcut": t_captum / t_generic,
        "max_abs_difference": diff,
        "max_abs_map_value": scale,
        "settings": {"batch": args.batch, "latent_dim": args.latent_dim, "image_size": args.image_size,
                     "layer": args.layer, "repeats": args.repeats, "threads": torch.get_num_threads()},  # fmt: skip
    }
    write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("ours", "reference", "ratio", "ratio_vs_retained_graph_loop",
                                              "max_abs_difference")}))  # fmt: skip
    return result


if __name__ == "__main__":
    main()
