"""Benchmark: units vs k-means directions in trained CNNs on dSprites (Klindt et al.'s ResNet-50 finding, small).

Networks: the zoo's dSprites factor predictor (a CNN trained on dSprites with its labels), the same network
untrained (random weights, same seed), and the encoder of the zoo's best dSprites VAE. For each of their
convolutional layers (spatial-mean activations over 2,000 dSprites images): the mean interpretability index
(pixel metric) of the units and of as many k-means directions (cosine k-means read out by projection; and
``kmeans_distance``: plain k-means read out as negative distances), each with the paired Wilcoxon test
(directions greater than units). Aim: directions >= units with p < 0.05 on at least one layer of a trained network.

``ours`` / ``reference`` = mean II of directions / units at the layer with the smallest p of the trained predictor.

Usage: ``python benchmarks/units_cnn.py``. Writes ``bench-results/units_cnn.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import wilcoxon

from latentlens import zoo
from latentlens.data.dsprites import DSprites
from latentlens.explain.activations import layer_activations
from latentlens.explain.interpretability import interpretability_index, kmeans_directions, kmeans_distance_directions
from latentlens.io import write_json
from latentlens.metrics.factor_predictor import FactorPredictor
from latentlens.zoo.recipes import BEST_VAE

ROOT = Path(__file__).resolve().parents[1]


def score_layers(model, layers, images, forward=None) -> dict:
    out = {}
    for layer in layers:
        acts = layer_activations(model, layer, images, forward=forward)
        units = interpretability_index(acts, images, "pixel")["ii"]
        out[layer] = {"units": float(units.mean()), "n_units": int(acts.shape[1])}
        for name, fn in (("kmeans", kmeans_directions), ("kmeans_distance", kmeans_distance_directions)):
            dirs = interpretability_index(fn(acts)[1], images, "pixel")["ii"]
            try:
                p = float(wilcoxon(dirs, units, alternative="greater").pvalue)
            except ValueError:
                p = 1.0
            out[layer].update({name: float(dirs.mean()), f"p_value{name[6:]}": p})
        print(layer, out[layer], flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "units_cnn.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    images, _ = DSprites().sample(args.images, np.random.default_rng(0))
    predictor_layers = ["net.2", "net.5", "net.8", "net.11"]
    results = {"factor_predictor": score_layers(zoo.load("dsprites-factor-predictor"), predictor_layers, images)}
    torch.manual_seed(0)
    results["untrained_predictor"] = score_layers(FactorPredictor().eval(), predictor_layers, images)
    if BEST_VAE in zoo.available():
        vae = zoo.load(BEST_VAE)
        results["vae_encoder"] = score_layers(vae, ["encoder.1", "encoder.3", "encoder.5", "encoder.7"], images, vae.encode)
    best = min(results["factor_predictor"].items(), key=lambda kv: kv[1]["p_value"])
    aim = any(v["kmeans"] >= v["units"] and v["p_value"] < 0.05
              for net in ("factor_predictor", "vae_encoder") for v in results.get(net, {}).values())  # fmt: skip
    write_json(args.out, {
        "name": "units_cnn", "ours": best[1]["kmeans"], "reference": best[1]["units"],
        "ratio": best[1]["kmeans"] / best[1]["units"], "unit": f"mean II at {best[0]} of the factor predictor",
        "reference_name": "the layer's units", "aim": "directions > units with p < 0.05 on a trained network's layer",
        "aim_met": aim, "networks": results,
        "command": "python benchmarks/units_cnn.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
