"""The CLI end to end: training from folders, reports, and one-line errors for bad input."""

import numpy as np
import pytest
import torch
from PIL import Image

from latentlens.cli import main
from latentlens.io import read_json


def _one_line_error(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("latentlens: error:"), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "data", "report", "demo"):
        assert command in out


def test_train_on_an_rgb_folder_then_report(tmp_path, image_folder, cli):
    run = tmp_path / "run"
    result = cli("train", "vae", "--data", image_folder, "--steps", "3", "--batch-size", "4", "--image-size", "32",
                 "--out", run, "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = read_json(run / "config.json")
    assert config["model"]["in_channels"] == 3 and config["model"]["image_size"] == 32
    report = cli("report", "--run", run)
    assert report.returncode == 0, report.stderr
    html = (run / "report.html").read_text()
    assert "What the VAE learned" in html and "data:image/png;base64" in html
    assert (run / "figures" / "traversals.png").exists()


def test_grey_folder_and_gan(tmp_path):
    folder = tmp_path / "grey"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(np.full((20, 20), i * 40, np.uint8)).save(folder / f"{i}.png")
    run = tmp_path / "gan"
    code = main(["train", "gan", "--data", str(folder), "--steps", "2", "--batch-size", "4", "--width", "4",
                 "--out", str(run), "--no-progress"])  # fmt: skip
    assert code == 0
    assert read_json(run / "config.json")["model"]["in_channels"] == 1
    assert main(["report", "--run", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "What the GAN generates" in html and "d_loss near 0" in html
    assert html.count("<td>z") == 10  # one traversal row per latent coordinate
    assert (run / "figures" / "samples.png").exists() and (run / "figures" / "traversals.png").exists()


@pytest.mark.parametrize(
    "make_args,fragment",
    [
        (lambda t: ["train", "vae", "--data", str(t / "absent"), "--out", str(t / "o")], "data folder not found"),
        (lambda t: ["train", "vae", "--data", str(t / "empty"), "--out", str(t / "o")], "no images"),
        (lambda t: ["train", "vae", "--data", str(t / "corrupt"), "--out", str(t / "o")], "cannot read image"),
        (lambda t: ["train", "vae", "--data", "dsprites", "--objective", "nope", "--out", str(t / "o")], "unknown objective"),
        (lambda t: ["train", "gan", "--data", "dsprites", "--beta", "2", "--out", str(t / "o")], "GAN"),
        (lambda t: ["train", "vae", "--data", "dsprites", "--r1-gamma", "2", "--out", str(t / "o")], "GAN"),
        (lambda t: ["train", "gan", "--data", "dsprites", "--r1-gamma", "-1", "--out", str(t / "o")], "non-negative"),
        (lambda t: ["train", "vae", "--data", "dsprites", "--image-size", "60", "--out", str(t / "o")], "64x64"),
        (lambda t: ["train", "vae", "--data", str(t / "corrupt"), "--image-size", "60", "--out", str(t / "o")],
         "multiple of 16"),
        (lambda t: ["train", "vae", "--data", "dsprites", "--out", str(t / "file.txt" / "o")], "cannot write"),
        (lambda t: ["train", "vae", "--data", "dsprites", "--resume", "--out", str(t / "o")], "no run to resume"),
        (lambda t: ["report", "--run", str(t / "absent")], "run folder not found"),
        (lambda t: ["data", "dsprites", "--out", str(t / "x.txt")], ".npz"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, cli, make_args, fragment):
    (tmp_path / "empty").mkdir()
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "bad.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "file.txt").write_text("a file, not a folder")
    result = cli(*make_args(tmp_path))
    _one_line_error(result, fragment)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_impossible_option_is_rejected_by_the_parser(cli, tmp_path):
    result = cli("train", "vae", "--data", "dsprites", "--steps", "-3", "--out", tmp_path / "o")
    assert result.returncode == 2 and "must be at least 1" in result.stderr and "Traceback" not in result.stderr


def test_corrupt_and_mismatched_checkpoints(tmp_path, cli):
    run = tmp_path / "run"
    assert main(["train", "vae", "--data", "dsprites", "--steps", "1", "--batch-size", "2", "--out", str(run),
                 "--no-progress"]) == 0  # fmt: skip
    config = read_json(run / "config.json")
    config["model"]["latent_dim"] = 7
    (run / "config.json").write_text(__import__("json").dumps(config))
    _one_line_error(cli("report", "--run", run), "does not match the model")
    config["model"]["latent_dim"] = 10
    (run / "config.json").write_text(__import__("json").dumps(config))
    (run / "model.safetensors").write_bytes(b"garbage" * 10)
    _one_line_error(cli("report", "--run", run), "corrupt checkpoint")
    (run / "config.json").write_text("{broken")
    _one_line_error(cli("report", "--run", run), "corrupt JSON")


def test_data_dsprites_subset_round_trip(tmp_path):
    from latentlens.data.dsprites import load_npz, render_index, write_npz

    path = write_npz(tmp_path / "sub.npz", indices=np.arange(0, 737280, 9973))
    arrays = load_npz(path)
    assert arrays["imgs"].shape == (74, 64, 64)
    assert np.array_equal(arrays["imgs"], render_index(np.arange(0, 737280, 9973)))
    assert torch.is_tensor(torch.from_numpy(arrays["latents_values"]))


def test_evaluate_writes_metrics_and_a_report_section(tmp_path, cli):
    run = tmp_path / "run"
    assert main(["train", "vae", "--data", "dsprites", "--steps", "2", "--batch-size", "4", "--latent-dim", "3",
                 "--out", str(run), "--no-progress"]) == 0  # fmt: skip
    assert main(["evaluate", "--run", str(run), "--metrics", "mig,modularity", "--no-progress"]) == 0
    metrics = read_json(run / "metrics.json")
    assert {"mig", "modularity", "explicitness", "mi_matrix", "recipe"} <= set(metrics)
    assert "beta_vae_score" not in metrics and metrics["recipe"]["preset"] == "fast"
    assert len(metrics["mi_matrix"]["normalized"]) == 3
    assert main(["report", "--run", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert "Disentanglement metrics" in html and (run / "figures" / "mi_heatmap.png").exists()
    _one_line_error(cli("evaluate", "--run", run, "--metrics", "nope"), "unknown metric")


def test_evaluate_refuses_runs_without_ground_truth(tmp_path, image_folder, cli):
    run = tmp_path / "run"
    assert main(["train", "vae", "--data", str(image_folder), "--steps", "1", "--batch-size", "2",
                 "--image-size", "32", "--out", str(run), "--no-progress"]) == 0  # fmt: skip
    _one_line_error(cli("evaluate", "--run", run), "ground-truth factors")
