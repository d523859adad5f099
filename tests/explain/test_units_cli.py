"""latentlens units on a tiny dSprites VAE and on a user's activation matrix."""

import numpy as np

from latentlens.cli import main
from latentlens.io import read_json


def test_units_on_a_vae_encoder_and_the_report(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "vae", "--data", "dsprites", "--steps", "2", "--batch-size", "8", "--latent-dim", "4",
                 "--out", str(run), "--no-progress"]) == 0  # fmt: skip
    assert main(["units", "--run", str(run), "--images", "dsprites", "--n", "900", "--layer", "encoder.5"]) == 0
    s = read_json(run / "units" / "summary.json")
    assert s["layer"] == "encoder.5" and s["n_units"] == 64 and s["n_images"] == 900
    assert set(s["ii"]) == {"units", "kmeans", "kmeans-distance", "pca", "ica", "random"}
    assert all(0 <= v <= 1 for v in s["ii"]["units"]["values"])
    assert {"units_most.png", "kmeans_least.png", "ii_histograms.png"} <= set(s["files"])
    assert main(["report", "--run", str(run)]) == 0
    assert "Units and directions of a layer" in (run / "report.html").read_text()


def test_units_on_recorded_activations(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    brightness = rng.uniform(0, 1, 900)
    for i, b in enumerate(brightness):
        Image.fromarray(np.full((8, 8), int(255 * b), np.uint8)).save(folder / f"{i:04d}.png")
    recordings = np.c_[brightness + 0.01 * rng.normal(size=900), rng.normal(size=(900, 2))]
    np.save(tmp_path / "acts.npy", recordings)
    assert main(["units", "--activations", str(tmp_path / "acts.npy"), "--images", str(folder), "--n", "900",
                 "--metric", "colour", "--out", str(tmp_path / "out")]) == 0  # fmt: skip
    s = read_json(tmp_path / "out" / "units" / "summary.json")
    assert s["ii"]["units"]["values"][0] > 0.95 > max(s["ii"]["units"]["values"][1:])
    # only the folder units writes is marked as output: a data folder holding ``out`` still reads its other images
    assert (tmp_path / "out" / "units" / ".latentlens").is_file() and not (tmp_path / "out" / ".latentlens").exists()
    assert main(["units", "--images", str(folder)]) == 2
    assert "give one of" in capsys.readouterr().err


def test_units_of_a_users_module_from_the_cli(tmp_path, cli, user_models):
    """A user's VAE (encoder/decoder attributes, no latentlens code) through --model, a named layer, dSprites."""
    import torch

    torch.save(user_models.seeded(user_models.AttrVAE(latent=4)).state_dict(), tmp_path / "vae.pt")
    out = tmp_path / "run"
    done = cli("units", "--model", "user_models:AttrVAE", "--weights", "vae.pt", "--model-image-size", "32",
               "--layer", "encoder.2", "--images", "dsprites", "--n", "900", "--out", out, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    s = read_json(out / "units" / "summary.json")
    assert s["layer"] == "encoder.2" and s["n_units"] == 16 and s["n_images"] == 900
    assert all(0 <= v <= 1 for v in s["ii"]["kmeans"]["values"])
