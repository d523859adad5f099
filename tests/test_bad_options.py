"""Bad options are refused at parse time with one line and exit status 2, before any work."""

import pytest

from latentlens.cli import main


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "vae", "--data", "dsprites", "--seed", "-1"], "seeds must be in [0, 2**32)"),
        (["train", "vae", "--data", "dsprites", "--seed", str(2**32)], "seeds must be in [0, 2**32)"),
        (["train", "vae", "--data", "dsprites", "--lr", "inf"], "finite"),
        (["train", "vae", "--data", "dsprites", "--lr", "nan"], "finite"),
        (["train", "vae", "--data", "dsprites", "--beta", "inf"], "finite"),
        (["train", "gan", "--data", "dsprites", "--r1-gamma", "-1"], "non-negative"),
        (["train", "vae", "--data", "dsprites", "--warmup-steps", "-3"], "non-negative"),
        (["anomaly", "test", "--run", "x", "--fpr", "1"], "between 0 and 1"),
        (["anomaly", "test", "--run", "x", "--fpr", "0"], "between 0 and 1"),
        (["anomaly", "fit", "--data", "x", "--val-fraction", "1.5"], "between 0 and 1"),
        (["discover", "--run", "x", "--method", "sefa", "--seeds", "1,1"], "distinct"),
        (["discover", "--run", "x", "--method", "sefa", "--seeds", ","], "comma-separated"),
        (["train", "vae", "--steps", "zero"], "whole number"),
        (["train", "vae", "--no-such-flag"], "unrecognized arguments"),
        (["nonsense-command"], "invalid choice"),
    ],
)  # fmt: skip
def test_bad_options_are_one_line_errors(tmp_path, capsys, argv, fragment):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(out)] if argv[0] == "train" else argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("latentlens: error:"), err
    assert fragment in lines[0]
    assert not out.exists()


def test_a_full_disk_is_a_one_line_error_and_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    import errno
    import os

    real_replace = os.replace

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", full)
    out = tmp_path / "exported"
    code = main(["zoo", "export", "dsprites-factor-predictor", "--out", str(out)])
    monkeypatch.setattr(os, "replace", real_replace)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err
    assert not (out / "model.safetensors").exists()
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_an_unwritable_output_folder_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")  # a folder cannot be made inside a file, whoever runs the test (root included)
    code = main(["zoo", "export", "dsprites-factor-predictor", "--out", str(blocker / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("latentlens: error: cannot write to output folder") and err.count("\n") == 1


def test_bad_layers_are_refused_before_training_and_leave_no_folder(tmp_path, capsys, image_folder):
    out = tmp_path / "ad"
    code = main(["train", "vae", "--data", str(image_folder), "--image-size", "32", "--objective", "ad-factorvae",
                 "--ad-layer", "encoder.99", "--steps", "2", "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "unknown layer 'encoder.99'" in err and err.count("\n") == 1
    assert not out.exists()
