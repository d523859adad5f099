"""discover --space h, latentlens edit and the report on a tiny DDPM run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from latentlens.cli import main
from latentlens.errors import LatentLensError

pytestmark = pytest.mark.usefixtures("one_thread")

FAST_EVAL = {"rca": {"n_train": 40, "n_eval": 20, "epochs": 1},
             "consistency": {"n_samples": 4, "n_random": 2, "amplitude": 2.0}}  # fmt: skip


@pytest.fixture(scope="module")
def ddpm_run(tmp_path_factory):
    from latentlens.data.sources import TensorSource
    from latentlens.train.ddpm import train_ddpm
    from latentlens.train.loop import TrainSettings

    root = tmp_path_factory.mktemp("hspace")
    rng = np.random.default_rng(0)
    images = np.zeros((12, 1, 32, 32), np.uint8)
    folder = root / "images"
    folder.mkdir()
    for i in range(12):
        x, y = rng.integers(2, 24, 2)
        images[i, 0, y : y + 6, x : x + 6] = 255
        Image.fromarray(images[i, 0]).save(folder / f"{i}.png")
    settings = TrainSettings(steps=2, batch_size=4, progress=False)
    train_ddpm(TensorSource(torch.from_numpy(images), name=str(folder)), root / "run", settings,
               {"base_channels": 16, "patch_size": 1})  # fmt: skip
    return root / "run", folder


def test_discover_in_h_space_writes_artifacts_measures_and_pictures(ddpm_run):
    from latentlens.directions import Directions
    from latentlens.workflows.discover import discover

    run, _ = ddpm_run
    results = discover(run, ["pca", "voynov", "random"], k=2, steps=2, hspace={"steps": 2, "strength": 4.0},
                       eval_params=FAST_EVAL)  # fmt: skip
    for method in ("pca", "voynov", "random"):
        entry = results[method]
        assert 0 <= entry["rca"] <= 1 and -1 <= entry["homogeneity"] <= 1 and entry["linearity"] > 0
        curve = entry["per_seed"][0]["linearity_curve"]
        assert [float(a) for a in curve] == [0.25, 0.5, 1.0, 2.0] and curve["2.0"] == entry["linearity"]  # S/2, 3 octaves
        assert (run / "directions" / f"{method}_sheet.png").is_file()
        dirs = Directions.load(run / "directions" / f"{method}.safetensors")
        assert dirs.latent_dim == 32 * 4 * 4 and dirs.extra["hspace"]["strength"] == 4.0
        assert torch.allclose(dirs.scales, torch.full((2,), 4.0 / 3))
    metrics = json.loads((run / "directions" / "metrics.json").read_text())
    assert metrics["latent_space"] == "h" and metrics["hspace"]["steps"] == 2


def test_strength_sets_the_shifts_voynov_trains_and_rca_scores_on(ddpm_run, tmp_path, monkeypatch):
    import latentlens.directions.deformator as deformator
    from latentlens.workflows.discover import discover

    seen = []
    original = deformator.sample_shifts

    def spy(n, k, shift_scale, min_shift, gen):
        seen.append((shift_scale, min_shift))
        return original(n, k, shift_scale, min_shift, gen)

    monkeypatch.setattr(deformator, "sample_shifts", spy)
    run, _ = ddpm_run
    discover(run, ["voynov"], k=2, steps=2, out=tmp_path / "strong", hspace={"steps": 2, "strength": 24.0},
             eval_params=FAST_EVAL)  # fmt: skip
    assert len(seen) >= 4 and set(seen) == {(24.0, 2.0)}  # training, its evaluation and RCA alike


def test_discover_refuses_what_does_not_apply_to_h_space(ddpm_run):
    from latentlens.workflows.discover import discover

    run, _ = ddpm_run
    with pytest.raises(LatentLensError, match="does not apply to h-space"):
        discover(run, ["sefa"], k=2, evaluation="none")
    with pytest.raises(LatentLensError, match="--space h"):
        discover(run, ["random"], k=2, evaluation="none", space="z")


def test_edit_sampled_and_real_images_from_the_cli(ddpm_run, tmp_path):
    run, folder = ddpm_run
    assert main(["discover", "--run", str(run), "--method", "pca", "--k", "2", "--ddim-steps", "2", "--eval", "none",
                 "--out", str(tmp_path / "dirs"), "--no-progress"]) == 0  # fmt: skip
    artifact = str(tmp_path / "dirs" / "pca.safetensors")
    assert main(["edit", "--run", str(run), "--directions", artifact, "--k", "1", "--n", "3", "--strength", "2",
                 "--out", str(tmp_path / "edits"), "--no-progress"]) == 0  # fmt: skip
    sheet = Image.open(tmp_path / "edits" / "direction_01.png")
    assert sheet.size[0] > sheet.size[1] > 0 and len(list((tmp_path / "edits" / "direction_01").glob("*.png"))) == 3
    assert main(["edit", "--run", str(run), "--directions", artifact, "--images", str(folder), "--n", "2",
                 "--out", str(tmp_path / "real"), "--no-progress"]) == 0  # fmt: skip
    info = json.loads((tmp_path / "real" / "edit.json").read_text())
    assert info["source"] == str(folder) and info["n_images"] == 2 and len(info["written"]) == 2
    assert main(["edit", "--run", str(run), "--directions", artifact, "--k", "7", "--out", str(tmp_path / "x")]) == 2


def test_edit_refuses_directions_of_another_space(ddpm_run, tmp_path):
    from latentlens.directions import Directions
    from latentlens.workflows.hspace import edit

    run, _ = ddpm_run
    with pytest.raises(LatentLensError, match="h-space has"):
        edit(run, Directions(torch.eye(3)), out=tmp_path / "e")


def test_the_report_shows_samples_and_h_space_directions(ddpm_run, tmp_path):
    from latentlens.workflows.discover import discover
    from latentlens.workflows import report

    run, _ = ddpm_run
    discover(run, ["random"], k=2, hspace={"steps": 2}, eval_params=FAST_EVAL)
    html = report(run).read_text()
    assert "What the diffusion model generates" in html and "h-space of a diffusion model" in html
    assert "homogeneity" in html and "Linearity at smaller shifts" in html and "<th>ε = 0.25</th>" in html  # FAST_EVAL amplitude 2, 3 octaves below
