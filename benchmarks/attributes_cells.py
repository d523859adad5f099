"""Benchmark: does attribute ranking find the planted phenotypes of synthetic cells, and explain the classifier?

Per seed: synthetic cells in two conditions that differ by nucleus size and elongation (``latentlens data
cells``; position, rotation, brightness, cell size and noise are nuisances), a classifier (``train
classifier``), two VAEs (``train vae --beta 0.1``, with StylEx's classifier term ``--classifier`` and
without: at beta 1 the dim 32x32 cells leave a plain VAE about 1 nat in one latent, at 0.1 about 8 nats over
all eight, yet its blurred reconstructions keep the classifier's decision for only about half the cells) and
two diffusion autoencoders (``train diffae``: with DiffEx's classifier component and KL term, and without)
trained on them, then ``latentlens attributes`` with each attribute source: the VAEs' coordinates, SeFa and
Voynov directions of the classifier-aware VAE's decoder, the independent components of its latents
(``vae ica``), the independent parts of what varies more among the cells the classifier calls treated than among
the others (``vae contrast``), and LatentCLR directions in each autoencoder's z_sem (as DiffEx); ``vae oracle`` (not in the
default set: it reads the factor table) gives AttFind each factor's direction in z from a least-squares fit of
the latents on the factors, a supervised reference for whether the VAE's latents hold the phenotypes along
separate linear directions. Measured per source: are the top-2 attributes the planted phenotypes (each attribute's main
factor as a factor regressor reads it off the edited pictures), the sufficiency at k = 1, 2, 4 against k
random directions, the generator's reconstruction class agreement, and CPU time. ``--response graded`` gives
each treated cell its own share of each phenotype's shift, so that the two phenotypes also vary
independently (with ``all`` they move together from cell to cell). Then the best source on a
classifier trained on cells whose **brightness** was leaked into the labels (control cells dimmer): the method
must surface brightness first - the check that it explains the classifier, not the data.

Per seed it also records the classifier's **reliance** on each phenotype alone (the share of fresh cells with
only that phenotype's shift it calls treated), so that a miss can be told apart from a classifier that
ignores a phenotype. For each VAE source it also records, per pick, the share of control cells the edit turns
"treated" in four bins of the cells' rotation (``picks_by_orientation``): whether a pick elongates cells
along their own axis (all bins alike) or stretches the picture along a fixed axis (some bins only).

JSON: ``best_source``, ``top2_planted`` (per seed, StylEx's ranking; ``diffex_top2_planted`` in the table is the same
for DiffEx's), ``sufficiency_gain`` (flip-rate points above random at k = 2),
``ours`` = sufficiency at k = 2, ``reference`` = k = 2 random directions.

Usage: ``python benchmarks/attributes_cells.py [--seeds 0,1,2] [--quick] [--sources "vae coordinates,vae sefa"]
[--response all|graded] [--shift step|range] [--vae-steps 3000] [--image-size 32] [--work DIR]``.
Writes ``bench-results/attributes_cells.json``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from latentlens.cli import main as cli
from latentlens.io import write_json

ROOT = Path(__file__).resolve().parents[1]
PLANTED = {"nucleus_size", "elongation"}


SOURCES = ("vae coordinates", "vae sefa", "vae voynov", "vae ica", "vae contrast", "vae-noKL coordinates",
           "diffae latentclr", "diffae-noKL latentclr", "vae oracle")


def _agreement(clf_run: Path, gen_run: Path, data: Path, size: int = 32) -> float:
    """Share of up to 256 images whose reconstruction keeps the classifier's decision."""
    from latentlens.data.folders import load_image_folder
    from latentlens.train.checkpoint import load_model, load_run_config

    clf, gen = load_model(clf_run), load_model(gen_run)
    x = load_image_folder(data, size, 1)[::4][:256].float() / 255
    with torch.no_grad():
        if load_run_config(gen_run)["kind"] == "diffae":
            from latentlens.train.diffae import class_agreement

            return class_agreement(gen, clf, x)
        mu, _ = gen.encode(x)
        return float((clf(gen.decode(mu)).argmax(1) == clf(x).argmax(1)).float().mean())


def _reliance(clf_run: Path, work: Path, seed: int, effects: dict, size: int = 32) -> dict:
    """How much the classifier relies on each planted phenotype alone: the share of 300 fresh cells called
    "treated" when they carry only that phenotype's full shift (``none``: fresh control cells). A faithful
    explanation can only rank a phenotype the classifier reads."""
    from latentlens.data.cells import generate_cells
    from latentlens.data.folders import load_image_folder
    from latentlens.train.checkpoint import load_model

    clf = load_model(clf_run).eval()

    def treated_rate(folder: Path) -> float:
        with torch.no_grad():
            return float((clf(load_image_folder(folder, size, 1).float() / 255).argmax(1) == 1).float().mean())

    out = {}
    for phenotype, shift in effects.items():
        data = generate_cells(work / phenotype, n_per_condition=300, effects={phenotype: shift},
                              size=size, seed=1000 + seed, response="all")  # fmt: skip
        out.setdefault("none", treated_rate(data / "control"))
        out[phenotype] = treated_rate(data / "treated")
    return out


def read_factor_table(data: Path):
    """The cells' factor table: the names of the factors that vary, their values (cells x factors) and the
    images as uint8 (cells x 1 x H x W), in the table's order."""
    from PIL import Image

    with open(data / "factors.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = [k for k in rows[0] if k not in ("file", "condition")]
    values = np.array([[float(r[k]) for k in names] for r in rows])
    keep = values.std(0) > 1e-9
    images = torch.tensor(np.stack([np.asarray(Image.open(data / r["file"])) for r in rows]))[:, None]
    return [n for n, k in zip(names, keep) if k], values[:, keep], images


def _oracle_directions(run: Path, data: Path) -> None:
    """A supervised reference, not a method: the VAE's posterior means regressed on all factors of the factor
    table together (least squares); each factor's coefficient vector, the way z moves when that factor grows
    and the others stay put, is its unit direction (the forward model: a read-out filter ``z -> factor``
    would point into the latents the decoder ignores), saved as the Directions artifact ``oracle`` of the run.
    If AttFind's top 2 on these are the planted pair, the ranking works and an unsupervised source that misses
    them is what falls short; if not, even each phenotype's own direction in z mixes them once decoded."""
    from latentlens.directions import Directions
    from latentlens.train.checkpoint import load_model

    names, values, images = read_factor_table(data)
    with torch.no_grad():
        z = load_model(run).encode(images.float() / 255)[0].double().numpy()
    design = np.c_[values, np.ones(len(z))]
    coef = np.linalg.lstsq(design, z, rcond=None)[0][:-1]  # (factors, latent_dim): how z moves per unit of a factor
    basis = coef / np.linalg.norm(coef, axis=1, keepdims=True)
    (run / "directions").mkdir(exist_ok=True)
    Directions(basis=torch.tensor(basis), method="oracle", names=names).save(
        run / "directions" / "oracle")


def orientation_flip_rates(runs: Path, data: Path, how: str, size: int) -> list[dict]:
    """Per StylEx pick of ``attributes-HOW``: the share of control cells (those whose reconstruction the
    classifier still calls control) that the pick's edit turns "treated", in four bins of the cell's rotation
    (nearest of 0, 45, 90, 135 degrees). A cell is elongated along its own axis and rotation is a nuisance, so
    an attribute that elongates cells whatever their orientation flips all bins alike, while one that
    stretches the picture along a fixed axis flips some bins and not the others."""
    from latentlens.data.folders import read_image
    from latentlens.directions import Directions
    from latentlens.io import read_json
    from latentlens.train.checkpoint import load_model

    result = read_json(runs / "vae" / f"attributes-{how}" / "attributes.json")
    with open(data / "factors.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["condition"] == "control"]
    x = torch.tensor(np.stack([read_image(data / r["file"], size, 1) for r in rows])).float() / 255
    bins = torch.from_numpy(np.round((np.degrees([float(r["rotation"]) for r in rows]) % 180.0) / 45.0).astype(int) % 4)
    clf, vae = load_model(runs / "clf").eval(), load_model(runs / "vae").eval()
    treated = result["classes"].index(result["target"])
    basis = torch.eye(vae.latent_dim) if how == "coordinates" else Directions.load(runs / "vae" / "directions" / how).basis
    step = result["strength"] * result["latent_scale"]
    out = []
    with torch.no_grad():
        z = vae.encode(x)[0]
        kept = clf(vae.decode(z)).argmax(1) != treated
        for pick, read in zip(result["stylex"], result["factor_effects"] or []):
            sign = 1.0 if pick["sign"] == 1 else -1.0
            flipped = clf(vae.decode(z + sign * step * basis[pick["attribute"]].float())).argmax(1) == treated
            out.append({"label": pick["label"] + ("+" if sign > 0 else "-"), "main_factor": read["main_factor"],
                        "flip_rate": float(flipped[kept].float().mean()),
                        "by_orientation": [float(flipped[kept & (bins == b)].float().mean()) for b in range(4)]})  # fmt: skip
    return out


def one_seed(work: Path, seed: int, steps: dict, n: int, leak: bool = False, sources=SOURCES,
             response: str = "all", vae_args: tuple = ("--beta", "0.1"), shift: str = "step",
             size: int = 32) -> dict:  # fmt: skip
    from latentlens.data.cells import generate_cells
    from latentlens.io import read_json

    data = work / f"cells-{seed}{'-leak' if leak else ''}"
    effects = {"nucleus_size": 0.15, "elongation": 0.35}
    generate_cells(data, n_per_condition=n, strength=1.0, effects=effects, size=size, seed=seed, response=response)
    if leak:  # brightness leaked into the labels: dim every control cell
        from PIL import Image

        for path in (data / "control").glob("*.png"):
            Image.fromarray((np.asarray(Image.open(path), dtype=np.float64) * 0.5).astype(np.uint8)).save(path)
        with open(data / "factors.csv", newline="") as handle:  # keep the factor table true to the images
            rows = list(csv.DictReader(handle))
        for row in rows:
            row["brightness"] = str(float(row["brightness"]) * (0.5 if row["condition"] == "control" else 1.0))
        with open(data / "factors.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    common = ["--data", str(data), "--image-size", str(size), "--seed", str(seed), "--no-progress"]
    began = time.process_time()
    runs = work / f"runs-{data.name}"  # outside the data folder: images the runs write must not join its classes
    if not (runs / "clf" / "model.safetensors").is_file():
        assert cli(["train", "classifier", *common, "--steps", str(steps["clf"]), "--out", str(runs / "clf")]) == 0
    clf_seconds = time.process_time() - began
    results = {"classifier_reliance": _reliance(runs / "clf", work / f"reliance-{data.name}", seed, effects, size)}
    print(seed, "classifier reliance", {k: round(v, 2) for k, v in results["classifier_reliance"].items()}, flush=True)
    for source in sources:
        began = time.process_time()
        model, how = source.split(" ")
        run = runs / model
        if not (run / "model.safetensors").is_file():
            if model.startswith("vae"):
                guided = ["--classifier", str(runs / "clf")] if model == "vae" else []
                assert cli(["train", "vae", *common, "--steps", str(steps["vae"]), "--latent-dim", "8", *vae_args,
                            *guided, "--out", str(run)]) == 0  # fmt: skip
            else:
                extra = ["--no-classifier-component"] if model == "diffae-noKL" else []
                assert cli(["train", "diffae", *common, "--steps", str(steps["diffae"]), "--batch-size", "32",
                            "--patch-size", "2", "--classifier", str(runs / "clf"), *extra, "--out", str(run)]) == 0  # fmt: skip
        if how == "oracle":
            _oracle_directions(run, data)
        if how in ("sefa", "voynov"):
            assert cli(["discover", "--run", str(run), "--method", how, "--k", "8", "--eval", "none", "--latents", "posterior",
                        "--no-progress"] + (["--steps", str(steps["voynov"])] if how == "voynov" else [])) == 0  # fmt: skip
        src = {"coordinates": "coordinates", "sefa": "directions:sefa", "voynov": "directions:voynov",
               "oracle": "directions:oracle"}.get(how, how)  # fmt: skip
        out = runs / model / f"attributes-{how}"
        assert cli(["attributes", "--classifier", str(runs / "clf"), "--generator", str(run), "--data", str(data),
                    "--target", "treated", "--attributes", "4", "--n", "200", "--seed", str(seed), "--source", src,
                    "--shift", shift, "--out", str(out)]) == 0  # fmt: skip
        r = read_json(out / "attributes.json")
        mains = [e["main_factor"] for e in r["factor_effects"] or []]
        diffex_mains = [e["main_factor"] for e in r.get("diffex_factor_effects") or []]
        results[source] = {
            "main_factors": mains, "top2_planted": set(mains[:2]) == PLANTED, "sufficiency": r["sufficiency"],
            "diffex_main_factors": diffex_mains, "diffex_top2_planted": set(diffex_mains[:2]) == PLANTED,
            "sufficiency_random": r["sufficiency_random"], "brightness_first": bool(mains) and mains[0] == "brightness",
            "class_agreement": _agreement(runs / "clf", run, data, size),
            "cpu_seconds": round(time.process_time() - began + clf_seconds, 1),
        }  # fmt: skip
        if model == "vae" and how in ("coordinates", "sefa", "voynov", "oracle") and r["factor_effects"]:
            results[source]["picks_by_orientation"] = picks = orientation_flip_rates(runs, data, how, size)
            for p in picks:
                print(seed, source, f"{p['label']:>10} {p['main_factor']:<13} flips {p['flip_rate']:.2f}, at 0/45/90/135 "
                      "degrees", " ".join(f"{v:.2f}" for v in p["by_orientation"]), flush=True)  # fmt: skip
        print(seed, source, mains, "diffex", diffex_mains, [round(v, 2) for v in r["sufficiency"]],
              [round(v, 2) for v in r["sufficiency_random"]], f"agreement {results[source]['class_agreement']:.2f}",
              flush=True)  # fmt: skip
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sources", default=",".join(SOURCES[:-1]), help="comma-separated subset of: " + ", ".join(SOURCES))
    parser.add_argument("--response", choices=["all", "graded"], default="all",
                        help="how treated cells show the phenotypes (latentlens data cells --response)")
    parser.add_argument("--vae-args", default="--beta 0.1",
                        help="how both VAEs are trained, as latentlens train vae options (default: --beta 0.1)")
    parser.add_argument("--shift", choices=["step", "range"], default="step",
                        help="latentlens attributes --shift: a fixed step, or StylEx's moves to each attribute's range")
    parser.add_argument("--vae-steps", type=int, default=3000, help="training steps of both VAEs (default 3000)")
    parser.add_argument("--image-size", type=int, default=32, help="cell images' side in pixels (default 32)")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "attributes_cells.json"))
    parser.add_argument("--work", default=None, help="folder for the cells and runs (default: a new temporary "
                        "folder); models already trained there are reused")  # fmt: skip
    args = parser.parse_args(argv)
    sources = tuple(v.strip() for v in args.sources.split(",") if v.strip())
    if not sources or set(sources) - set(SOURCES):
        parser.error(f"--sources must name some of: {', '.join(SOURCES)}")
    torch.set_num_threads(2)
    steps = ({"vae": 100, "clf": 60, "diffae": 20, "voynov": 50} if args.quick
             else {"vae": args.vae_steps, "clf": 600, "diffae": 1500, "voynov": 1000})  # fmt: skip
    n = 60 if args.quick else 500
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="attributes-bench-"))
    print("cells and runs in", work, flush=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = {s: one_seed(work, s, steps, n, sources=sources, response=args.response,
                         vae_args=tuple(args.vae_args.split()), shift=args.shift, size=args.image_size) for s in seeds}

    def at(r, k, key="sufficiency"):
        return r[key][k - 1] if len(r[key]) >= k else float("nan")

    table = {}
    for source in sources:
        per = [runs[s][source] for s in seeds]
        table[source] = {
            "top2_planted": [r["top2_planted"] for r in per],
            "diffex_top2_planted": [r["diffex_top2_planted"] for r in per],
            "sufficiency_k": {k: statistics.mean(at(r, k) for r in per) for k in (1, 2, 4)},
            "random_k": {k: statistics.mean(at(r, k, "sufficiency_random") for r in per) for k in (1, 2, 4)},
            "class_agreement": statistics.mean(r["class_agreement"] for r in per),
            "cpu_seconds": statistics.mean(r["cpu_seconds"] for r in per),
        }  # fmt: skip
        t = table[source]
        t["sufficiency_gain"] = 100 * (t["sufficiency_k"][2] - t["random_k"][2])
    best = max(sources, key=lambda s: (sum(table[s]["top2_planted"]), table[s]["sufficiency_gain"]))
    leak = one_seed(work, seeds[0], steps, n, leak=True, sources=(best,), response=args.response,
                    vae_args=tuple(args.vae_args.split()), shift=args.shift, size=args.image_size)[best]
    ours, ref = table[best]["sufficiency_k"][2], table[best]["random_k"][2]
    write_json(args.out, {
        "name": "attributes_cells", "ours": ours, "reference": ref, "ratio": ours / ref if ref else None,
        "unit": f"flip rate to the target with the top-2 attributes ({best}) vs 2 random directions",
        "reference_name": "k random unit directions of the same strength", "best_source": best,
        "top2_planted": table[best]["top2_planted"], "sufficiency_gain": table[best]["sufficiency_gain"],
        "table": table, "leaked_brightness_first": leak["brightness_first"], "leaked_run": leak,
        "runs": {str(s): runs[s] for s in seeds},
        "classifier_reliance": {str(s): runs[s]["classifier_reliance"] for s in seeds},
        "quick": args.quick, "steps": steps, "response": args.response, "vae_args": args.vae_args, "shift": args.shift,
        "image_size": args.image_size,
        "command": "python benchmarks/attributes_cells.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
