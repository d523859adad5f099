"""`latentlens explain` and `latentlens anomaly fit|test` end to end on tiny data, and their error paths
(a missing folder or run gives exit status 2 and one line on stderr)."""

from __future__ import annotations

import json

import pytest

from latentlens.cli import main
from latentlens.data.defects import generate_benchmark


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("anomaly")
    data = root / "data"
    generate_benchmark(data, ["gravel"], seed=0, n_train=10, n_test=1, image_size=32)
    run = root / "run"
    code = main(["anomaly", "fit", "--data", str(data), "--category", "gravel", "--out", str(run), "--steps", "2",
                 "--image-size", "32", "--latent-dim", "4", "--batch-size", "4", "--beta", "0.25", "--no-progress"])  # fmt: skip
    assert code == 0
    return data, run


def test_anomaly_fit_trains_with_the_kl_weight_given(fitted):
    _, run = fitted
    config = json.loads((run / "config.json").read_text())
    assert config["objective"] == {"name": "beta-vae", "hparams": {"beta": 0.25}}


def test_anomaly_fit_and_test_write_metrics(fitted):
    data, run = fitted
    state = json.loads((run / "anomaly.json").read_text())
    assert state["category"] == "gravel" and len(state["held_out"]) == 4 and state["n_fit"] == 6
    assert main(["anomaly", "test", "--run", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["default_method"] in metrics["methods"]
    for row in metrics["methods"].values():
        assert {"image_auroc", "pixel_auroc", "aupro", "f1"} <= set(row)
    overlays = metrics["anomaly"]["overlays"]
    assert (run / overlays["best"]).exists() and (run / overlays["worst"]).exists()
    # --method evaluates one map and keeps the others' entries
    assert main(["anomaly", "test", "--run", str(run), "--data", str(data), "--category", "gravel",
                 "--method", "recon-l2"]) == 0  # fmt: skip
    again = json.loads((run / "metrics.json").read_text())
    assert set(again["methods"]) == set(metrics["methods"])
    assert (run / "anomaly" / "recon-l2_best.png").exists()
    # the report of an anomaly run shows its anomaly results, not a "Latent directions" section
    assert main(["report", "--run", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "Latent directions" not in html and "recon-l2" in html


def test_explain_writes_overlays(fitted, tmp_path):
    data, run = fitted
    out = tmp_path / "explained"
    code = main(["explain", "--run", str(run), "--images", str(data / "gravel" / "train" / "good"), "--out", str(out),
                 "--n", "3", "--layer", "encoder.1", "--variant", "official"])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "attention" / "summary.json").read_text())
    assert summary["n"] == 3 and len(summary["labels"]) == 4 and summary["variant"] == "official"
    assert (out / "attention" / "overview.png").exists()
    from latentlens.viz.sections import attention

    assert "overview" in attention.render(out)


def _one_line_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("latentlens: error:") and "\n" not in err
    return err


def test_error_paths(tmp_path, capsys, fitted):
    data, run = fitted
    err = _one_line_error(capsys, ["anomaly", "fit", "--data", str(tmp_path / "missing"), "--category", "x",
                                   "--out", str(tmp_path / "r")])  # fmt: skip
    assert "not found" in err
    err = _one_line_error(capsys, ["anomaly", "fit", "--data", str(data), "--category", "carpet",
                                   "--out", str(tmp_path / "r")])  # fmt: skip
    assert "gravel" in err  # names the categories that exist
    _one_line_error(capsys, ["anomaly", "test", "--run", str(tmp_path / "norun")])
    _one_line_error(capsys, ["anomaly", "test", "--run", str(run), "--data", str(tmp_path / "missing"),
                             "--category", "gravel"])  # fmt: skip
    _one_line_error(capsys, ["explain", "--run", str(tmp_path / "norun"), "--images", "dsprites"])
    _one_line_error(capsys, ["explain", "--run", str(run), "--images", str(tmp_path / "missing")])
    _one_line_error(capsys, ["explain", "--run", str(run), "--images", "dsprites"])  # 3 x 32 model
    _one_line_error(capsys, ["explain", "--run", str(run), "--images", str(data), "--layer", "encoder.42"])


def _copy_data(data, tmp_path):
    import shutil

    dest = tmp_path / "data"
    shutil.copytree(data, dest)
    return dest


def test_anomaly_test_refuses_a_split_without_defects_and_keeps_metrics(fitted, tmp_path, capsys):
    import shutil

    data, run = fitted
    assert main(["anomaly", "test", "--run", str(run)]) == 0
    before = (run / "metrics.json").read_text()
    copy = _copy_data(data, tmp_path)
    for folder in (copy / "gravel" / "test").iterdir():
        if folder.name != "good":
            shutil.rmtree(folder)
    _one_line_error(capsys, ["anomaly", "test", "--run", str(run), "--data", str(copy), "--category", "gravel"])
    assert (run / "metrics.json").read_text() == before


def test_anomaly_test_refuses_a_mask_of_another_size(fitted, tmp_path, capsys):
    from PIL import Image

    data, run = fitted
    copy = _copy_data(data, tmp_path)
    mask = next((copy / "gravel" / "ground_truth").rglob("*_mask.png"))
    with Image.open(mask) as im:
        im.resize((im.width + 5, im.height)).save(mask)
    _one_line_error(capsys, ["anomaly", "test", "--run", str(run), "--data", str(copy), "--category", "gravel"])


def test_anomaly_fit_refuses_a_bad_layer_before_training(fitted, tmp_path, capsys):
    data, _ = fitted
    out = tmp_path / "never"
    err = _one_line_error(capsys, ["anomaly", "fit", "--data", str(data), "--category", "gravel", "--out", str(out),
                                   "--steps", "2", "--image-size", "32", "--layer", "encoder.77"])  # fmt: skip
    assert "encoder.77" in err and not out.exists()
