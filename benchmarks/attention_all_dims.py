"""Benchmark: attention maps of all latent dimensions for a batch, vectorised vs per-dimension loops.

``ours``: :class:`latentlens.explain.vae_attention.VAEAttention` (one encoder pass, one batched backward
over all D targets, linear-successor shortcut). References, timed in the same run on the same model and
batch, at two encoder layers (``encoder.3``, the default, after the second convolution; ``encoder.7``,
after the last one):

- **captum** (the peer library a user would pick; ``pip install latentlens[bench]``):
  ``captum.attr.LayerGradCam(lambda x: model.encode(x)[0], layer)``, one ``attribute(x, target=i,
  relu_attributions=True)`` call per latent dimension; its maps must agree with ours to 1e-5;
- **retained graph**: one forward, then D backward passes with ``retain_graph`` (public expVAE
  reimplementations);
- **one forward + backward** of the encoder (a scalar's gradient to every weight, as in training): one
  ordinary pass (``ours / forward_backward`` is the cost of explaining D targets at once; aim <= 1.2); also
  the backward of one scalar to the layer only (``forward_backward_to_layer``), the least one map needs.

Every method runs once per round, in turn, for ``--repeats`` rounds (a slow spell of a shared machine then
falls on all of them); the headline times are each method's best round, the medians are recorded beside them.
``ratio`` = captum / ours at the default layer.

Usage: ``python benchmarks/attention_all_dims.py [--batch 64] [--latent-dim 10] [--repeats 15]``.
Writes ``bench-results/attention_all_dims.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from latentlens.explain.vae_attention import LayerCapture, VAEAttention, attention_loop_reference, eval_mode, upsample
from latentlens.io import write_json
from latentlens.models import build_model

ROOT = Path(__file__).resolve().parents[1]


def interleaved_times(fns: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds of each function over ``repeats`` rounds; each round runs every function once, in turn, so
    that a slow spell of a shared machine falls on all of them alike instead of on whichever ran then."""
    for fn in fns.values():
        fn()  # warm-up (vmap set-up, allocator)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


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


def captum_maps(model, x, layer: str, latent_dim: int):
    """LayerGradCam maps of every latent dimension, one captum call each -> (N, D, h, w)."""
    from captum.attr import LayerGradCam

    cam = LayerGradCam(lambda inp: model.encode(inp)[0], model.get_submodule(layer))
    with eval_mode(model):
        return torch.cat([cam.attribute(x, target=i, relu_attributions=True).detach() for i in range(latent_dim)], 1)


def forward_backward(model, x, layer: str):
    """One encoder forward and one full backward of a scalar (all weight gradients, as a training step of
    the encoder computes them): the cost of one ordinary pass, which the aim compares against."""
    with eval_mode(model), torch.enable_grad():
        mu, _ = model.encode(x)
        params = [p for n, p in model.named_parameters() if n.startswith(("encoder", "to_moments"))]
        torch.autograd.grad(mu.sum(), params)


def forward_backward_to_layer(model, x, layer: str):
    """One encoder forward and the backward of one scalar down to the layer's output only (no weight
    gradients): the least any gradient map of one target needs."""
    with eval_mode(model), torch.enable_grad():
        with LayerCapture(model, layer, detach=True) as cap:
            mu, _ = model.encode(x)
        torch.autograd.grad(mu.sum(), cap.activation)


def measure(model, x, layer: str, latent_dim: int, repeats: int) -> dict:
    ours = VAEAttention(model, layer)
    fns = {"ours": lambda: ours.attribute(x),
           "forward_backward": lambda: forward_backward(model, x, layer),
           "forward_backward_to_layer": lambda: forward_backward_to_layer(model, x, layer),
           "retained_graph_loop": lambda: retained_graph_loop(model, x, layer)}  # fmt: skip
    feats = ours.attribute(x).feature_maps
    out = {}
    try:
        import captum

        fns["captum"] = lambda: captum_maps(model, x, layer, latent_dim)
        out["captum_version"] = captum.__version__
        out["max_abs_difference_vs_captum"] = float((feats - captum_maps(model, x, layer, latent_dim)).abs().max())
    except ImportError:  # without the bench extra: our own per-dimension loop stands in
        fns["captum"] = lambda: attention_loop_reference(model, x, layer)
        out["captum_version"] = "not installed: latentlens' per-dimension loop (same work per target)"
    times = interleaved_times(fns, repeats)
    out.update({name: min(ts) for name, ts in times.items()})
    out["median"] = {name: statistics.median(ts) for name, ts in times.items()}
    out["ratio_vs_captum"] = out["captum"] / out["ours"]
    out["ratio_vs_retained_graph_loop"] = out["retained_graph_loop"] / out["ours"]
    out["overhead_vs_forward_backward"] = out["ours"] / out["forward_backward"]
    out["median_ratio_vs_captum"] = out["median"]["captum"] / out["median"]["ours"]
    out["median_overhead_vs_forward_backward"] = out["median"]["ours"] / out["median"]["forward_backward"]
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--layers", default="encoder.3,encoder.7")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "attention_all_dims.json"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = build_model("vae", {"in_channels": 1, "image_size": args.image_size, "latent_dim": args.latent_dim})
    x = torch.rand(args.batch, 1, args.image_size, args.image_size, generator=torch.Generator().manual_seed(0))
    layers = [name.strip() for name in args.layers.split(",") if name.strip()]
    per_layer = {layer: measure(model, x, layer, args.latent_dim, args.repeats) for layer in layers}
    head = per_layer[layers[0]]
    result = {
        "name": "attention_all_dims",
        "ours": head["ours"],
        "reference": head["captum"],
        "ratio": head["ratio_vs_captum"],
        "unit": f"seconds per batch at {layers[0]} (best of interleaved rounds); ratio = captum LayerGradCam per dimension / ours",
        "command": "python benchmarks/attention_all_dims.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "reference_name": f"captum LayerGradCam, one call per latent dimension ({head['captum_version']})",
        "per_layer": per_layer,
        "aims": {"overhead_vs_forward_backward_at_most_1.2": {k: v["overhead_vs_forward_backward"] <= 1.2
                                                                for k, v in per_layer.items()},
                 "at_least_3.5x_captum": {k: v["ratio_vs_captum"] >= 3.5 for k, v in per_layer.items()},
                 "median_overhead_vs_forward_backward_at_most_1.2": {
                     k: v["median_overhead_vs_forward_backward"] <= 1.2 for k, v in per_layer.items()},
                 "median_at_least_3.5x_captum": {k: v["median_ratio_vs_captum"] >= 3.5 for k, v in per_layer.items()}},
        "settings": {"batch": args.batch, "latent_dim": args.latent_dim, "image_size": args.image_size,
                     "layers": layers, "repeats": args.repeats, "threads": torch.get_num_threads()},
    }  # fmt: skip
    write_json(args.out, result)
    keys = ("ours", "captum", "forward_backward", "ratio_vs_captum", "overhead_vs_forward_backward",
            "median_ratio_vs_captum", "median_overhead_vs_forward_backward")
    print(json.dumps({k: {m: round(v[m], 4) for m in keys} for k, v in per_layer.items()}))
    return result


if __name__ == "__main__":
    main()
