"""A user's own model through the command line: --model package.module:factory --weights FILE."""

import shutil
from pathlib import Path

import pytest
import torch

from latentlens.errors import LatentLensError
from latentlens.io import read_json

HERE = Path(__file__).resolve().parent


@pytest.fixture
def user_project(tmp_path):
    """A folder with the user's model code (user_models.py) and trained weights as .pt and .safetensors."""
    from safetensors.torch import save_file
    from user_models import DCGANGenerator, seeded

    shutil.copy(HERE / "user_models.py", tmp_path / "user_models.py")
    state = seeded(DCGANGenerator(nz=8)).state_dict()
    torch.save({"state_dict": state}, tmp_path / "gen.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "gen.safetensors")
    return tmp_path


def test_discover_and_report_a_user_dcgan_from_the_cli(user_project, cli):
    out = user_project / "run"
    done = cli("discover", "--model", "user_models:DCGANGenerator", "--weights", "gen.pt", "--out", out,
               "--method", "sefa", "--eval", "fast", "--no-progress", cwd=user_project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = read_json(out / "config.json")
    assert config["kind"] == "external" and config["model"]["role"] == "generator"
    assert (out / "directions" / "sefa.safetensors").is_file() and (out / "directions" / "sefa_sheet.png").is_file()
    assert read_json(out / "directions" / "metrics.json")["methods"]["sefa"]["rca"] > 0
    report = cli("report", "--run", out, cwd=user_project)
    assert report.returncode == 0, report.stderr
    html = (out / "report.html").read_text()
    assert "Latent directions" in html and "sefa" in html
    session = _explorer(out, user_project)
    assert "sefa" in [s["name"] for s in session.meta()["sets"]] and session.latent_dim == 8
    _assert_png(session.render(seed=1))
    _assert_png(session.traversal(seed=1, set_name="sefa", k=0, steps=3))
    assert session.meta()["curve"] is None
    with pytest.raises(LatentLensError, match="no space-filling curve"):
        session.curve_point(0)


def test_safetensors_weights_and_bad_specs(user_project, cli):
    ok = cli("discover", "--model", "user_models:DCGANGenerator", "--weights", "gen.safetensors", "--out",
             user_project / "r2", "--method", "sefa", "--eval", "none", "--no-progress", cwd=user_project)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    for spec, message in [("user_models", "package.module:factory"), ("nope_module:make", "cannot import"),
                          ("user_models:Missing", "has no 'Missing'")]:  # fmt: skip
        bad = cli("discover", "--model", spec, "--out", user_project / "r3", "--method", "sefa", cwd=user_project)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
        assert bad.stderr.count("\n") == 1  # one line
    wrong = cli("discover", "--model", "user_models:MLPGenerator", "--weights", "gen.pt", "--out",
                user_project / "r4", "--method", "sefa", cwd=user_project)  # fmt: skip
    assert wrong.returncode == 2 and "does not match the model" in wrong.stderr
    assert not (user_project / "r3").exists() and not (user_project / "r4").exists()


def test_explain_and_report_a_user_vae_from_the_cli(tmp_path, cli):
    import numpy as np
    from PIL import Image
    from user_models import AttrVAE, seeded

    shutil.copy(HERE / "user_models.py", tmp_path / "user_models.py")
    torch.save(seeded(AttrVAE(latent=4)).state_dict(), tmp_path / "vae.pt")
    images = tmp_path / "imgs"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(images / f"{i}.png")
    out = tmp_path / "run"
    done = cli("explain", "--model", "user_models:AttrVAE", "--weights", "vae.pt", "--model-image-size", "32",
               "--images", images, "--n", "3", "--out", out, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert read_json(out / "attention" / "summary.json")["layer"] == "encoder.2"
    assert read_json(out / "config.json")["model"]["role"] == "vae"
    report = cli("report", "--run", out, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "Attention" in (out / "report.html").read_text() or "attention" in (out / "report.html").read_text()
    session = _explorer(out, tmp_path)
    assert session.is_vae and session.latent_dim == 4
    _assert_png(session.render(seed=0))
    _assert_png(session.attention(seed=0, k=1))


def _explorer(run, cwd):
    """The explorer's session on a user's run folder, opened where the user works (weights paths are theirs)."""
    import os

    from latentlens.app.session import ExplorerSession

    here = os.getcwd()
    os.chdir(cwd)
    try:
        return ExplorerSession(run)
    finally:
        os.chdir(here)


def _assert_png(data: bytes):
    import io

    from PIL import Image

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    assert image.size[0] >= 32 and image.size[1] >= 32


def test_h_space_of_a_users_ddpm_like_module_from_the_cli(user_project, cli):
    out = user_project / "ddpm"
    done = cli("discover", "--model", "user_models:UserUNet", "--role", "diffusion", "--model-image-size", "16",
               "--schedule", "linear", "--num-timesteps", "1000", "--out", out, "--method", "pca", "--k", "2",
               "--ddim-steps", "2", "--eval", "none", "--no-progress", cwd=user_project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = read_json(out / "config.json")
    assert config["model"]["role"] == "diffusion" and config["model"]["adapter"]["schedule"] == "linear"
    meta = read_json(out / "directions" / "pca.json")
    assert meta["latent_space"] == "h" and meta["n_directions"] == 2 and meta["latent_dim"] == 8 * 8 * 8
    edited = cli("edit", "--run", out, "--directions", out / "directions" / "pca.safetensors", "--n", "2", "--k", "0",
                 "--no-progress", cwd=user_project)  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    assert (out / "edits" / "direction_00.png").is_file()
    wrong = cli("discover", "--model", "user_models:UserUNet", "--schedule", "cosine", "--out", user_project / "x",
                "--method", "pca", cwd=user_project)  # fmt: skip
    assert wrong.returncode == 2 and "--role diffusion" in wrong.stderr


@pytest.fixture
def brightness_project(tmp_path):
    """The user's VAE (as a run folder written by ``explain --model``'s way) and classifier code, and a folder
    per class of 32x32 grey images: dark (mean about 0.3) and bright (about 0.7)."""
    import numpy as np
    from PIL import Image
    from safetensors.torch import save_file
    from user_models import AttrVAE, BrightnessClassifier, seeded

    from latentlens.train.checkpoint import write_external_run

    shutil.copy(HERE / "user_models.py", tmp_path / "user_models.py")
    torch.save(seeded(AttrVAE(latent=4)).state_dict(), tmp_path / "vae.pt")
    save_file(BrightnessClassifier().state_dict(), tmp_path / "clf.safetensors")
    rng = np.random.default_rng(0)
    for name, mean in (("dark", 0.3), ("bright", 0.7)):
        (tmp_path / "cells" / name).mkdir(parents=True)
        for i in range(8):
            pixels = np.clip(rng.normal(mean, 0.1, (32, 32)), 0, 1)
            Image.fromarray((pixels * 255).astype(np.uint8)).save(tmp_path / "cells" / name / f"{i}.png")
    write_external_run(tmp_path / "vae", "user_models:AttrVAE", str(tmp_path / "vae.pt"), "vae",
                       {"output_range": "unit", "image_size": 32})  # fmt: skip
    return tmp_path


def test_attributes_of_a_users_classifier_from_the_cli_and_from_python(brightness_project, cli, monkeypatch):
    from user_models import BrightnessClassifier

    from latentlens.workflows.attributes import attributes_run

    root = brightness_project
    out = root / "attributes"
    done = cli("attributes", "--classifier-model", "user_models:BrightnessClassifier", "--classifier-weights",
               "clf.safetensors", "--classes", "dark,bright", "--generator", "vae", "--data", "cells", "--target",
               "bright", "--attributes", "2", "--n", "8", "--out", out, cwd=root)  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = read_json(out / "classifier" / "config.json")
    assert config["model"]["role"] == "classifier" and config["model"]["adapter"]["classes"] == ["dark", "bright"]
    result = read_json(out / "attributes.json")
    assert result["classes"] == ["dark", "bright"] and result["n_images"] == 8  # the dark images, all of them
    assert 1 <= len(result["stylex"]) <= 2 and result["stylex"][0]["score"] > 0  # the top pick brightens
    assert all((out / f).is_file() for f in result["files"])
    # the recorded classifier run is accepted as --classifier later, and Python gives the same ranking
    again = cli("attributes", "--classifier", out / "classifier", "--generator", "vae", "--data", "cells",
                "--target", "bright", "--attributes", "2", "--n", "8", "--out", root / "again", cwd=root)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert read_json(root / "again" / "attributes.json")["stylex"] == result["stylex"]
    monkeypatch.chdir(root)
    from safetensors.torch import load_file

    clf = BrightnessClassifier()
    clf.load_state_dict(load_file(root / "clf.safetensors"))
    python = attributes_run(clf, "vae", "cells", "bright", root / "py", n_attributes=2, n_images=8,
                            classes=["dark", "bright"])  # fmt: skip
    assert python["stylex"] == result["stylex"]


def test_a_users_classifier_without_class_names_is_refused_in_one_line(brightness_project, cli):
    args = ("attributes", "--classifier-model", "user_models:BrightnessClassifier", "--generator", "vae", "--data",
            "cells", "--target", "bright", "--out", brightness_project / "o")  # fmt: skip
    done = cli(*args, cwd=brightness_project)
    assert done.returncode == 2 and "--classifier-model needs --classes" in done.stderr
    three = cli(*args, "--classes", "dark,bright,grey", cwd=brightness_project)
    assert three.returncode == 2 and "returned 2 logits for 3 classes" in three.stderr
    assert "Traceback" not in done.stderr + three.stderr
