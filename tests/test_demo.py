"""The demo end to end on a stand-in zoo model (a tiny VAE), with small budgets."""

import pytest
import torch

from latentlens import zoo
from latentlens.data.sources import DSpritesSource
from latentlens.io import read_json, read_jsonl, write_json
from latentlens.train.loop import TrainSettings
from latentlens.train.vae import train_vae


@pytest.fixture
def stand_in_zoo(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    real = zoo.model_dir("dsprites-factor-predictor")
    import shutil

    shutil.copytree(real, weights / "dsprites-factor-predictor")
    run = weights / zoo.recipes.BEST_VAE
    train_vae(DSpritesSource(), run, TrainSettings(steps=3, batch_size=8, progress=False), {"latent_dim": 4})
    write_json(run / "provenance.json", {"name": zoo.recipes.BEST_VAE, "command": "latentlens train vae ...",
                                         "metrics": {}, "machine": {"device": "cpu"}})  # fmt: skip
    from latentlens.train.ddpm import train_ddpm

    ddpm = weights / "dsprites-ddpm"
    train_ddpm(DSpritesSource(), ddpm, TrainSettings(steps=2, batch_size=4, progress=False), {"base_channels": 8})
    write_json(ddpm / "provenance.json", {"name": "dsprites-ddpm", "command": "latentlens train ddpm ...", "metrics": {}})
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", weights)
    return run


@pytest.mark.slow
def test_demo_interprets_the_zoo_model_and_shows_a_short_run(stand_in_zoo, tmp_path):
    from latentlens.workflows.demo import run_demo

    torch.set_num_threads(2)
    out = tmp_path / "demo"
    small_eval = {"rca": {"n_train": 64, "n_eval": 32, "epochs": 1}, "alignment": {"n_samples": 4}}
    report = run_demo(out, progress=False, short_steps=4, voynov_steps=3, eval_params=small_eval)
    html = report.read_text()
    for title in ("Training", "What the VAE learned", "Disentanglement metrics", "Latent directions",
                  "Other runs in this folder", "zoo model"):  # fmt: skip
        assert title in html, title
    assert read_json(out / "metrics.json")["recipe"]["preset"] == "fast"
    assert (out / "short-run" / "report.html").is_file() and "short-run/report.html" in html
    assert (out / "attention" / "summary.json").is_file()
    assert (out / "diffusion" / "directions" / "pca_sheet.png").is_file() and "diffusion/report.html" in html
    assert "alignment" in read_json(out / "directions" / "metrics.json")["methods"]["sefa"]
    first = [r["step"] for r in read_jsonl(out / "demo_timing.jsonl")]
    run_demo(out, progress=False, short_steps=4, voynov_steps=3, eval_params=small_eval)  # nothing redone
    timings = read_jsonl(out / "demo_timing.jsonl")[len(first):]
    assert all(t["seconds"] < 5 for t in timings[:-1]), timings  # every step but the report is skipped
