"""``latentlens discover``: happy path on a tiny VAE run, and the error paths."""

from __future__ import annotations

import json

import pytest

from latentlens.cli import main
from latentlens.directions import Directions


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from latentlens.models import build_model
    from latentlens.train.checkpoint import save_model, write_run_config

    run = tmp_path_factory.mktemp("run")
    model = build_model("vae", {"image_size": 32, "latent_dim": 4})
    write_run_config(run, {"kind": "vae", "model": model.config_dict(), "train": {"data": "blobs"}})
    save_model(run, model)
    return run


def test_discover_writes_artifact_grids_metrics_and_report(tiny_run):
    assert main(["discover", "--run", str(tiny_run), "--method", "sefa", "--k", "3", "--eval", "none",
                 "--no-progress"]) == 0  # fmt: skip
    out = tiny_run / "directions"
    d = Directions.load(out / "sefa")
    assert d.basis.shape == (3, 4) and d.method == "sefa"
    assert sorted(p.name for p in (out / "sefa").glob("*.png")) == [f"direction_0{i}.png" for i in range(3)]
    assert (out / "sefa_sheet.png").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["methods"]["sefa"]["n_directions"] == 3
    assert main(["report", "--run", str(tiny_run)]) == 0
    html = (tiny_run / "report.html").read_text()
    assert "Latent directions" in html and "sefa directions" in html


def test_compare_adds_baselines_and_keeps_seeds(tiny_run, tmp_path):
    out = tmp_path / "cmp"
    assert main(["discover", "--run", str(tiny_run), "--compare", "sefa,ganspace", "--k", "2", "--seeds", "0,1",
                 "--eval", "none", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"sefa", "ganspace", "random", "coordinate"}
    assert metrics["compare"]["seeds"] == [0, 1]
    assert [r["seed"] for r in metrics["methods"]["random"]["per_seed"]] == [0, 1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--method", "nope"], "unknown method 'nope'"),
        (["--method", "sefa", "--k", "9"], "exceeds the latent dimension"),
        (["--compare", "sefa,bogus"], "unknown method 'bogus'"),
        (["--method", "sefa", "--seeds", "1,x"], "--seeds"),
        ([], "give --method"),
    ],
)
def test_error_paths(tiny_run, capsys, argv, message):
    try:
        code = main(["discover", "--run", str(tiny_run), "--eval", "none", "--no-progress", *argv])
    except SystemExit as exc:  # refused by argparse itself (same one-line form)
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_missing_run_and_missing_weights(tmp_path, capsys):
    assert main(["discover", "--run", str(tmp_path / "absent"), "--method", "sefa"]) == 2
    assert "run folder not found" in capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps({"kind": "vae", "model": {"image_size": 32}}))
    assert main(["discover", "--run", str(tmp_path), "--method", "sefa"]) == 2
    assert "model.safetensors" in capsys.readouterr().err


def test_method_and_compare_are_exclusive(tiny_run):
    with pytest.raises(SystemExit) as exc:
        main(["discover", "--run", str(tiny_run), "--method", "sefa", "--compare", "sefa"])
    assert exc.value.code == 2


def test_rerun_skips_finished_methods_unless_forced(tiny_run, tmp_path):
    out = tmp_path / "again"
    argv = ["discover", "--run", str(tiny_run), "--method", "random", "--k", "2", "--eval", "none",
            "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    first = json.loads((out / "metrics.json").read_text())["methods"]["random"]
    (out / "random_sheet.png").unlink()
    assert main(argv) == 0  # same setup: nothing is redone
    assert json.loads((out / "metrics.json").read_text())["methods"]["random"] == first
    assert not (out / "random_sheet.png").exists()
    assert main([*argv, "--seed", "3"]) == 0  # a different setup is computed
    assert json.loads((out / "metrics.json").read_text())["methods"]["random"]["seeds"] == [3]
    assert main([*argv, "--seed", "3", "--force"]) == 0
    assert (out / "random_sheet.png").is_file()
