"""latentlens sfvq end to end on a tiny dSprites VAE: files, summary, directions artifact, report, errors."""

import pytest

from latentlens.cli import main
from latentlens.io import read_json


@pytest.fixture(scope="module")
def tiny_dsprites_vae(tmp_path_factory):
    run = tmp_path_factory.mktemp("sfvq") / "run"
    assert main(["train", "vae", "--data", "dsprites", "--steps", "3", "--batch-size", "8", "--latent-dim", "4",
                 "--out", str(run), "--no-progress"]) == 0  # fmt: skip
    return run


def test_sfvq_writes_the_panoptic_view_and_directions(tiny_dsprites_vae):
    run = tiny_dsprites_vae
    assert main(["sfvq", "--run", str(run), "--bits", "3", "--epochs", "1", "--samples", "300", "--lines", "3",
                 "--augment", "0,2", "--augment-n", "4", "--no-progress"]) == 0  # fmt: skip
    out = run / "sfvq"
    s = read_json(out / "summary.json")
    assert s["corners"] == 8 and 0 < s["locality_ratio"] < 2 and s["latent_source"] == "labelled data"
    assert set(s["factors"]) == {"shape", "scale", "orientation", "posX", "posY"}
    assert {"corners_b2.png", "corners_b3.png", "distances.png", "histograms_posX.png"} <= set(s["files"])
    assert len(s["lines"]) == 3 and {"main_factor", "purity", "identity_error"} <= set(s["lines"][0])
    assert (run / "directions" / "sfvq.safetensors").is_file()
    assert (out / "augment" / "manifest.csv").read_text().count("\n") == 1 + 2 * 4
    assert main(["report", "--run", str(run)]) == 0
    assert "Space-filling curve" in (run / "report.html").read_text()


def test_sfvq_option_errors(tiny_dsprites_vae, capsys):
    for argv, message in ((["--bits", "20"], "--bits"), (["--augment", "x"], "--augment"),
                          (["--bits", "3", "--augment", "9"], "--augment lines")):  # fmt: skip
        assert main(["sfvq", "--run", str(tiny_dsprites_vae), *argv]) == 2
        assert message in capsys.readouterr().err


def test_sfvq_on_a_users_generator_and_on_a_zoo_gan(tmp_path, cli, monkeypatch, user_models):
    """A user's DCGAN through --model (prior samples, no labels) and the zoo GAN (factor scores), from the CLI."""
    import torch

    torch.save(user_models.seeded(user_models.DCGANGenerator(nz=8)).state_dict(), tmp_path / "gen.pt")
    user = tmp_path / "user"
    done = cli("sfvq", "--model", "user_models:DCGANGenerator", "--weights", "gen.pt", "--out", user, "--bits", "3",
               "--epochs", "1", "--samples", "300", "--lines", "2", "--no-progress", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    s = read_json(user / "sfvq" / "summary.json")
    assert s["corners"] == 8 and s["latent_source"] == "prior" and not s.get("factors")
    assert (user / "directions" / "sfvq.safetensors").is_file() and len(s["lines"]) == 2
    zoo = tmp_path / "zoo-gan"
    monkeypatch.chdir(tmp_path)
    assert main(["sfvq", "--run", "zoo:dsprites-gan", "--out", str(zoo), "--bits", "3", "--epochs", "1",
                 "--samples", "300", "--lines", "2", "--no-progress"]) == 0  # fmt: skip
    z = read_json(zoo / "summary.json")
    assert z["corners"] == 8 and set(z["factors"]) == {"shape", "scale", "orientation", "posX", "posY"}
    assert {"main_factor", "purity"} <= set(z["lines"][0])
