"""Benchmark: quality of unsupervised directions on a GAN and on a VAE decoder trained on dSprites.

For each model and each seed, every method (SeFa, GANSpace, Voynov & Babenko, and the random / coordinate
baselines; K = 10 = the latent dimension unless ``--k``) is fitted and scored with :mod:`latentlens.metrics.directions`:

- **rca**: accuracy of a freshly trained reconstructor at telling the K directions apart (chance 1/K);
- **factors_controlled / purity**: with a dSprites factor predictor trained on the true labels, how many
  distinct ground-truth factors have a direction whose main effect is that factor with purity >= 0.7
  (and a change of at least 0.15 of a random resample); ``purity`` = mean best purity over the factors;
- **mig / dci**: Khrulkov et al.'s post-hoc protocol — codes ``E(x) A^T`` of real dSprites images scored
  with the metrics harness (MIG: 20 bins; DCI: gradient-boosted trees, fewer stages than dlib for time).
  The VAE's encoder mean is ``E``; for the GAN one encoder ``E(G(z)) ~ z`` is trained per generator.

The VAE decoder's base latents are encoder means of 5,000 real images (aggregate posterior): after a short
training its prior mean decodes to an almost empty image. Factor changes are measured between
``G(z - d)`` and ``G(z + d)`` (one latent standard deviation each way).

Models: the zoo's best dSprites VAE and its GAN as shipped (``--retrain``: the same recipes trained again
here with ``latentlens zoo train`` into ``--cache``, default ``~/.cache/latentlens/bench``, where the factor
predictor and the GAN's post-hoc encoder are cached too, so a rerun only pays for discovery and evaluation).
``--vae`` takes another zoo VAE or a VAE run folder (a recipe trained with another seed, say).
Voynov runs ``--voynov-steps`` steps (Adam 1e-3 instead of the paper's 1e-4 for the short budget).
Discovery and scoring run single-threaded by default (``--threads``).

``ours`` = mean post-hoc MIG of SeFa, GANSpace and Voynov over both models; ``reference`` = the same for
random directions; ``ratio`` = ours / reference. The JSON holds per model and method ``factors_controlled``,
``purity``, ``rca``, ``mig``, ``dci`` (mean, sd, per-seed values) and the checks of the aims. It also
holds a calibration of the alignment metric on an exactly disentangled "oracle" generator (dSprites rendered
from quantised latents): its coordinate axes must control all 5 factors, random rotations of them none.

Usage: ``python benchmarks/directions_quality.py [--seeds 0,1,2] [--quick]``.
Writes ``bench-results/directions_quality.json``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import torch

from latentlens.directions import as_generator, build_finder
from latentlens.io import load_state_into, load_tensors, save_tensors, write_json
from latentlens.metrics.directions import (
    LatentEncoder,
    default_cache_dir,
    dsprites_latents,
    evaluate_directions,
    latent_function,
    load_or_train_factor_predictor,
    predictor_accuracy,
    reference_changes,
    summarize,
    train_latent_encoder,
)

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("sefa", "ganspace", "voynov", "random", "coordinate")
FOUND = ("sefa", "ganspace", "voynov")
K = 10  # latent dimension of both models
log = logging.getLogger("directions_quality")


def zoo_run(kind: str, cache: Path, retrain: bool, vae_name: str, gan_name: str) -> Path:
    """The zoo model of ``kind`` (``vae``: ``vae_name``, ``gan``: ``gan_name``): the shipped one, or with
    ``retrain`` the same recipe trained again here (``latentlens zoo train``) into ``cache`` (resumed if
    interrupted)."""
    from latentlens import zoo

    name = vae_name if kind == "vae" else gan_name
    if name not in zoo.RECIPES and (Path(name) / "config.json").is_file():
        if retrain:
            raise SystemExit(f"--retrain reproduces zoo models; {name} is a run folder")
        return Path(name)
    if not retrain:
        return zoo.resolve_run(f"zoo:{name}")
    run = cache / f"zoo-{name}"
    zoo.train(name, run, progress=False)
    return run


class OracleGenerator(torch.nn.Module):
    """A perfectly disentangled dSprites "generator" for calibrating the alignment metric: z0 -> posX,
    z1 -> posY, z2 -> scale, z3 -> orientation, z4 -> shape (each through the normal CDF, quantised), rendered
    exactly. Its coordinate axes are the ideal directions; random rotations of them are not."""

    latent_dim = 5

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Linear(5, 1)  # gives the adapter a parameter to hash

    def forward(self, z):
        import numpy as np

        from latentlens.data.dsprites import DSprites

        u = torch.special.ndtr(z.double()).clamp(0, 1 - 1e-9)
        cls = (u * torch.tensor([32, 32, 6, 40, 3], dtype=torch.float64)).long().numpy()
        return DSprites().images(np.stack([cls[:, 4], cls[:, 2], cls[:, 3], cls[:, 0], cls[:, 1]], 1))


def calibrate_alignment(predictor, reference, seeds) -> dict:
    """Alignment of the oracle's coordinate axes (should control all 5 factors) and of random directions."""
    from latentlens.directions import RandomDirections
    from latentlens.metrics.directions import alignment_summary, factor_effects

    gen = as_generator(OracleGenerator())
    out = {}
    for name in ("coordinate", "random"):
        runs = []
        for seed in seeds:
            basis = torch.eye(5) if name == "coordinate" else RandomDirections(random_state=seed).fit(gen).directions_.basis
            s = alignment_summary(factor_effects(gen, basis, predictor, reference=reference, n_samples=48,
                                                 random_state=seed))  # fmt: skip
            runs.append({"factors_controlled": s["factors_controlled"], "purity": s["purity"],
                         "controlled_factors": s["controlled_factors"]})  # fmt: skip
        out[name] = {**summarize(runs, ("factors_controlled", "purity")),
                     "controlled_factors_per_seed": [r["controlled_factors"] for r in runs]}  # fmt: skip
    return out


def latent_encoder_for(run: Path, model, generator, n_train: int, epochs: int, show: bool):
    """The GAN's post-hoc encoder E(G(z)) ~ z, cached next to the run's weights."""
    path = run / f"latent_encoder_n{n_train}_e{epochs}.safetensors"
    enc = LatentEncoder(1, generator.latent_dim)
    if path.is_file():
        load_state_into(enc, load_tensors(path), path)
        return enc.eval()
    enc = train_latent_encoder(generator, n_train=n_train, epochs=epochs, show_progress=show)
    save_tensors(path, enc.state_dict())
    return enc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--models", default="vae,gan")
    parser.add_argument("--k", type=int, default=K, help="directions per method (default: the latent dimension)")
    parser.add_argument("--vae", default=None,
                        help="zoo VAE name or a VAE run folder (default: the zoo's best dSprites VAE)")
    parser.add_argument("--gan", default="dsprites-gan", help="zoo GAN")
    parser.add_argument("--retrain", action="store_true", help="reproduce the zoo models here instead of loading them")
    parser.add_argument("--voynov-steps", type=int, default=2000)
    parser.add_argument("--rca-pairs", type=int, default=1000)
    parser.add_argument("--posthoc-points", type=int, default=1000, help="train points for MIG/DCI (test: half)")
    parser.add_argument("--gbt-stages", type=int, default=10, help="boosting stages of the DCI classifiers")
    parser.add_argument("--encoder-images", type=int, default=6000, help="GAN images for the post-hoc encoder")
    parser.add_argument("--cache", default=str(default_cache_dir() / "bench"))
    parser.add_argument("--threads", type=int, default=1, help="threads for discovery and scoring")
    parser.add_argument("--train-threads", type=int, default=None, help="threads for training (default: all cores)")
    parser.add_argument("--quick", action="store_true", help="tiny budgets (smoke test, numbers meaningless)")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "directions_quality.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.voynov_steps, args.rca_pairs = 10, 200
        args.posthoc_points, args.gbt_stages, args.encoder_images, args.seeds = 300, 5, 300, "0"
    from latentlens.zoo.recipes import BEST_VAE

    args.vae = args.vae or BEST_VAE
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    cache = Path(args.cache)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    timings: dict[str, float] = {}

    t = time.perf_counter()
    predictor = load_or_train_factor_predictor(cache_dir=cache, show_progress=args.progress,
                                               **({"n_steps": 100} if args.quick else {}))  # fmt: skip
    reference = reference_changes(predictor)
    timings["factor_predictor_s"] = time.perf_counter() - t
    predictor_quality = predictor_accuracy(predictor)
    log.info("factor predictor: %s", predictor_quality)
    calibration = calibrate_alignment(predictor, reference, seeds)
    log.info("alignment calibration (oracle generator): %s",
             {k: (v["factors_controlled"]["mean"], round(v["purity"]["mean"], 3)) for k, v in calibration.items()})

    finder_params = {
        "voynov": {"n_steps": args.voynov_steps, "batch_size": 32, "lr": 1e-3, "deformator_lr": 1e-3,
                   "reconstructor_size": 32, "n_eval": 300},
        "ganspace": {"n_samples": 5000},
    }  # fmt: skip
    rca_kwargs = {"n_train": args.rca_pairs, "n_eval": max(200, args.rca_pairs // 3), "epochs": 4}
    alignment_kwargs = {"n_samples": 48, "amplitude": 1.0}
    posthoc_kwargs = {"gbt_params": {"n_estimators": args.gbt_stages}}
    results: dict = {}
    model_runs: dict = {}
    for kind in args.models.split(","):
        t = time.perf_counter()
        run = zoo_run(kind, cache, args.retrain, args.vae, args.gan)
        model_runs[kind] = str(run)
        from latentlens.train.checkpoint import load_model

        model = load_model(run)
        if kind == "vae":  # base latents: encoder means of real images (the young VAE's prior decodes to blanks)
            import numpy as np

            from latentlens.data.dsprites import DSprites
            from latentlens.directions.generators import VAEDecoderGenerator

            bank_images = DSprites().sample(5000, np.random.default_rng(99))[0]
            generator = VAEDecoderGenerator.with_posterior(model, bank_images)
        else:
            generator = as_generator(model)
        timings[f"{kind}_train_or_load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        encoder = None if kind == "vae" else latent_encoder_for(run, model, generator, args.encoder_images, 3,
                                                                 args.progress)  # fmt: skip
        latent_fn = latent_function(model, encoder)
        timings[f"{kind}_encoder_s"] = time.perf_counter() - t
        readout = readout_reference = None
        if kind == "vae":  # the second instrument: factors read through the VAE's own encoder
            from latentlens.metrics.encoder_readout import EncoderReadout

            readout = EncoderReadout(model, n_train=4000 if args.quick else 20000,
                                     steps=200 if args.quick else 1500).fit()  # fmt: skip
            readout_reference = reference_changes(readout)
        per_method: dict[str, list] = {m: [] for m in METHODS}
        fit_seconds: dict[str, list] = {m: [] for m in METHODS}
        for seed in seeds:
            n_tr = args.posthoc_points
            posthoc = (*dsprites_latents(latent_fn, n_tr, 1000 + seed), *dsprites_latents(latent_fn, n_tr // 2, 2000 + seed))
            for method in METHODS:
                t = time.perf_counter()
                finder = build_finder(method, n_directions=args.k, random_state=seed, show_progress=args.progress,
                                      **finder_params.get(method, {}))  # fmt: skip
                dirs = finder.fit(generator).directions_
                fit_seconds[method].append(time.perf_counter() - t)
                scores = evaluate_directions(
                    generator, dirs, predictor=predictor, reference=reference, posthoc=posthoc,
                    rca_kwargs=rca_kwargs, alignment_kwargs=alignment_kwargs, posthoc_kwargs=posthoc_kwargs,
                    random_state=seed,
                )  # fmt: skip
                scores.pop("rca_detail", None)
                scores["seed"] = seed
                if readout is not None:
                    from latentlens.metrics.factor_alignment import alignment_summary, factor_effects

                    read = alignment_summary(factor_effects(generator, dirs, readout, reference=readout_reference,
                                                            random_state=seed, **alignment_kwargs))  # fmt: skip
                    scores["readout_factors_controlled"] = read["factors_controlled"]
                    scores["readout_purity"] = read["purity"]
                    scores["readout_mean_active_purity"] = read["mean_active_purity"]
                    scores["readout_controlled"] = read["controlled_factors"]
                if method == "voynov":
                    scores["voynov_train_rca"] = dirs.extra.get("rca_train")
                per_method[method].append(scores)
                log.info("%s %s seed %d: rca %.3f, factors %d (%s), purity %.2f, mig %.3f, dci %.3f  [%.0f s]",
                         kind, method, seed, scores["rca"], scores["factors_controlled"],
                         ",".join(scores["alignment"]["controlled_factors"]), scores["purity"], scores["mig"],
                         scores["dci"], time.perf_counter() - t)  # fmt: skip
        results[kind] = {
            "run": str(run),
            "methods": {
                m: {
                    **summarize(per_method[m]),
                    "fit_seconds_mean": sum(fit_seconds[m]) / len(fit_seconds[m]),
                    "controlled_factors_per_seed": [r["alignment"]["controlled_factors"] for r in per_method[m]],
                    "readout_controlled_per_seed": [r.get("readout_controlled") for r in per_method[m]],
                    "main_factor_seed0": per_method[m][0]["alignment"]["main_factor"],
                    "purity_per_direction_seed0": per_method[m][0]["alignment"]["purity_per_direction"],
                    "effects_seed0": per_method[m][0]["alignment"]["effects"],
                }
                for m in METHODS
            },
        }

    def mean_of(kind, method, key):
        return results[kind]["methods"][method][key]["mean"]

    kinds = list(results)
    ours = sum(mean_of(k, m, "mig") for k in kinds for m in FOUND) / (len(kinds) * len(FOUND))
    ref = sum(mean_of(k, "random", "mig") for k in kinds) / len(kinds)
    aims = {}
    for k in kinds:
        for m in ("voynov", "sefa"):
            aims[f"{k}/{m} controls >= 4 factors at purity >= 0.7"] = mean_of(k, m, "factors_controlled") >= 4
        for m in FOUND:  # "clearly": by more than random's own seed-to-seed sd
            random_ = results[k]["methods"]["random"]
            aims[f"{k}/{m} beats random by > 1 sd on rca, mig, purity"] = all(
                mean_of(k, m, key) > random_[key]["mean"] + random_[key]["sd"] for key in ("rca", "mig", "purity")
            )
    timings["total_wall_s"] = time.perf_counter() - wall0
    timings["total_cpu_s"] = time.process_time() - cpu0
    out = {
        "name": "directions_quality",
        "ours": ours,
        "reference": ref,
        "ratio": ours / ref if ref > 0 else None,
        "unit": "post-hoc MIG on dSprites (mean of SeFa, GANSpace, Voynov vs random directions; higher is better)",
        "command": "python benchmarks/directions_quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seeds": seeds,
        "models": results,
        "aims": aims,
        "factor_predictor": predictor_quality,
        "alignment_calibration_oracle": calibration,
        "settings": {
            "K": args.k, "latent_dim": K, "threads": args.threads, "model_runs": model_runs, "retrained": args.retrain,
            "finder_params": finder_params, "rca": rca_kwargs, "alignment": alignment_kwargs,
            "posthoc": {"points_train": args.posthoc_points, "points_test": args.posthoc_points // 2,
                        "gbt_stages": args.gbt_stages, "gan_encoder_images": args.encoder_images},
            "purity_threshold": 0.7, "min_effect": 0.15, "quick": args.quick,
        },
        "timings": timings,
    }  # fmt: skip
    write_json(args.out, out)
    log.info("directions_quality: MIG ours %.3f vs random %.3f (ratio %s); %.0f s wall", ours, ref,
             f"{out['ratio']:.2f}" if out["ratio"] else "n/a", timings["total_wall_s"])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
