"""latentlens train classifier on synthetic cells: held-out accuracy, run folder, resume, adapter round trip."""

import torch

from latentlens.cli import main
from latentlens.io import read_json, read_jsonl


def test_classifier_learns_the_planted_difference_and_resumes(tmp_path):
    from latentlens.adapters import as_classifier
    from latentlens.data.cells import generate_cells
    from latentlens.train.checkpoint import load_model

    data = generate_cells(tmp_path / "cells", n_per_condition=60, strength=2.0, size=32, seed=0)
    run = tmp_path / "clf"
    common = ["train", "classifier", "--data", str(data), "--image-size", "32", "--batch-size", "32",
              "--checkpoint-every", "60", "--out", str(run), "--no-progress"]  # fmt: skip
    assert main([*common, "--steps", "60"]) == 0
    first = read_json(run / "train_summary.json")
    assert first["n_val"] == 24
    (run / "train_summary.json").unlink()  # pretend it stopped here, then continue to 150 steps
    config = read_json(run / "config.json")
    config["train"]["steps"] = 150
    assert main([*common, "--steps", "150", "--resume"]) == 0
    summary = read_json(run / "train_summary.json")
    assert summary["val_accuracy"] >= 0.9, summary
    assert [r["step"] for r in read_jsonl(run / "log.jsonl")][-1] == 150
    model = load_model(run)
    assert model.classes == ["control", "treated"]
    clf = as_classifier(model)
    assert clf(torch.rand(3, 1, 32, 32)).shape == (3, 2) and clf.classes == ["control", "treated"]


def test_classifier_refuses_dsprites_and_single_class_folders(tmp_path, capsys):
    assert main(["train", "classifier", "--data", "dsprites", "--out", str(tmp_path / "x")]) == 2
    assert "one sub-folder per class" in capsys.readouterr().err
