"""Learning-rate schedules, the discriminator learning rate and the training callback."""

import math

import pytest
import torch
from hypothesis import given, settings as hsettings, strategies as st

from latentlens.data.sources import TensorSource
from latentlens.errors import LatentLensError
from latentlens.io import read_json, read_jsonl
from latentlens.train.loop import TrainSettings
from latentlens.train.vae import train_vae


def _tiny_source(n=32):
    g = torch.Generator().manual_seed(0)
    return TensorSource((torch.rand(n, 1, 32, 32, generator=g) > 0.7).to(torch.uint8) * 255)


@given(steps=st.integers(2, 5000), warm=st.floats(0, 0.9), lr=st.floats(1e-6, 1.0), final=st.floats(0, 1))
@hsettings(max_examples=60, deadline=None)
def test_cosine_schedule_warms_up_then_decays_to_its_floor(steps, warm, lr, final):
    warmup = int(warm * (steps - 1))
    s = TrainSettings(steps=steps, lr=lr, lr_schedule="cosine", warmup_steps=warmup, lr_final_fraction=final).validate()
    rates = [s.lr_at(i) for i in range(steps)]
    assert all(0 < r <= lr * (1 + 1e-12) for r in rates if final > 0 or r > 0)
    if warmup:
        assert all(a <= b + 1e-15 for a, b in zip(rates[:warmup], rates[1 : warmup + 1]))
        assert rates[warmup - 1] == pytest.approx(lr)
    after = rates[warmup:]
    assert all(a >= b - 1e-15 for a, b in zip(after, after[1:]))
    assert after[0] == pytest.approx(lr)
    assert s.lr_at(steps) == pytest.approx(lr * final, abs=1e-15)


def test_constant_schedule_is_the_default():
    s = TrainSettings(steps=100, lr=3e-4).validate()
    assert {s.lr_at(i) for i in range(100)} == {3e-4}


@pytest.mark.parametrize(
    "kwargs, match",
    [({"lr_schedule": "linear"}, "lr-schedule"), ({"warmup_steps": 10}, "warmup"), ({"lr": math.inf}, "--lr"),
     ({"disc_lr": -1.0}, "disc-lr"), ({"lr_final_fraction": 2.0}, "lr_final_fraction")],
)  # fmt: skip
def test_bad_schedules_are_refused(kwargs, match):
    with pytest.raises(LatentLensError, match=match):
        TrainSettings(steps=10, **kwargs).validate()


def test_vae_follows_the_schedule_and_the_discriminator_lr(tmp_path):
    settings = TrainSettings(steps=8, batch_size=8, lr=1e-3, lr_schedule="cosine", warmup_steps=2, disc_lr=1e-4,
                             log_every=1, progress=False)  # fmt: skip
    train_vae(_tiny_source(), tmp_path, settings, {"image_size": 32}, "factorvae", {"disc_width": 16})
    log = read_jsonl(tmp_path / "log.jsonl")
    assert [r["lr"] for r in log] == pytest.approx([settings.lr_at(i) for i in range(8)])
    assert read_json(tmp_path / "config.json")["train"]["disc_lr"] == 1e-4


def test_callback_runs_in_eval_mode_and_its_time_is_not_training_time(tmp_path):
    import time

    seen = []

    def callback(step, model):
        seen.append((step, model.training))
        time.sleep(0.3)
        return {"probe": step * 2}

    settings = TrainSettings(steps=6, batch_size=8, log_every=3, progress=False)
    began = time.perf_counter()
    model = train_vae(_tiny_source(), tmp_path, settings, {"image_size": 32}, callback=callback, callback_every=2)
    wall = time.perf_counter() - began
    assert seen == [(2, False), (4, False), (6, False)]
    assert not model.training
    log = read_jsonl(tmp_path / "log.jsonl")
    assert [r["step"] for r in log] == [2, 3, 4, 6]
    assert [r.get("probe") for r in log] == [4, None, 8, 12]
    assert all(r["callback_s"] >= 0.3 for r in log if "probe" in r)
    assert read_json(tmp_path / "train_summary.json")["seconds"] < log[-1]["time_s"] + 0.3
    assert log[-1]["time_s"] <= wall - 0.9  # the 0.9 s of callbacks are not training time


def test_disentanglement_probe_logs_scores_during_training(tmp_path):
    from latentlens.data.sources import DSpritesSource
    from latentlens.train.vae import disentanglement_probe

    source = DSpritesSource()
    small = {"factor_vae": {"num_train": 40, "num_eval": 20, "num_variance_estimate": 200, "batch_size": 16},
             "mig": {"num_train": 200}}  # fmt: skip
    probe = disentanglement_probe(source.dataset, overrides=small)
    settings = TrainSettings(steps=4, batch_size=8, log_every=4, progress=False)
    train_vae(source, tmp_path, settings, {"latent_dim": 4}, callback=probe, callback_every=2)
    log = read_jsonl(tmp_path / "log.jsonl")
    assert [r["step"] for r in log] == [2, 4]
    for record in log:
        assert 0.0 <= record["eval_factor_vae_score"] <= 1.0 and 0.0 <= record["eval_mig"] <= 1.0
    from latentlens.train.checkpoint import load_model

    model = load_model(tmp_path)
    assert probe(4, model) == probe(4, model)  # a fixed seed: the score depends on the model only


@pytest.mark.parametrize(
    "argv, message",
    [(["gan", "--data", "dsprites", "--eval-every", "5"], "--eval-every"),
     (["vae", "--data", "dsprites", "--eval-every", "-1"], "--eval-every"),
     (["gan", "--data", "dsprites", "--disc-lr", "1e-4"], "--disc-lr"),
     (["vae", "--data", "dsprites", "--disc-lr", "1e-4"], "--disc-lr"),
     (["vae", "--data", "dsprites", "--steps", "10", "--warmup-steps", "10"], "--warmup-steps")],
)  # fmt: skip
def test_training_options_are_checked_before_any_work(tmp_path, capsys, argv, message):
    from latentlens.cli import main

    out = tmp_path / "run"
    try:
        code = main(["train", *argv, "--out", str(out)])
    except SystemExit as exc:  # refused by argparse itself
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_latent_usage_reports_collapse():
    from latentlens.train.vae import latent_usage

    collapsed = [{"kl_per_dim": [0.02] * 8 + [1.0, 2.0]} for _ in range(5)]
    usage = latent_usage(collapsed)
    assert usage["active_dims"] == [8, 9] and "8 of 10 latent dimensions collapsed" in usage["collapsed_warning"]
    healthy = latent_usage([{"kl_per_dim": [0.5] * 6 + [0.01] * 4}])
    assert "collapsed_warning" not in healthy and len(healthy["active_dims"]) == 6
    assert latent_usage([{"loss": 1.0}]) == {}


def test_folder_training_defaults_and_kl_in_the_log_and_report(tmp_path, image_folder):
    from latentlens.cli import main
    from latentlens.viz.report import build_report

    run = tmp_path / "run"
    assert main(["train", "vae", "--data", str(image_folder), "--steps", "4", "--batch-size", "4",
                 "--image-size", "32", "--out", str(run), "--no-progress"]) == 0  # fmt: skip
    config = read_json(run / "config.json")
    assert config["train"]["lr"] == 1e-3 and config["objective"]["hparams"]["beta"] == 1.0
    summary = read_json(run / "train_summary.json")
    assert len(summary["kl_per_dim"]) == 10 and "active_dims" in summary
    html = build_report(run).read_text()
    assert "information per latent dimension" in html or "KL per latent dimension" in html


def test_device_option_is_checked_before_any_work(tmp_path, capsys):
    from latentlens.cli import main

    for device, message in [("tpu", "unknown device"), ("cuda:0", "no CUDA device")] if not torch.cuda.is_available() \
            else [("tpu", "unknown device")]:  # fmt: skip
        out = tmp_path / device.replace(":", "_")
        assert main(["train", "vae", "--data", "dsprites", "--device", device, "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.device
def test_vae_trains_on_cuda(tmp_path):
    settings = TrainSettings(steps=3, batch_size=8, progress=False, device="cuda")
    model = train_vae(_tiny_source(), tmp_path, settings, {"image_size": 32}, "factorvae", {"disc_width": 16})
    assert next(model.parameters()).is_cuda
