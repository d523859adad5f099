import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from latentlens.data.sources import TensorSource
from latentlens.io import load_tensors, read_json, read_jsonl
from latentlens.train.checkpoint import load_model
from latentlens.train.loop import TrainSettings
from latentlens.train.vae import train_vae


def _tiny_source(channels=1, n=32):
    g = torch.Generator().manual_seed(0)
    return TensorSource((torch.rand(n, channels, 32, 32, generator=g) > 0.7).to(torch.uint8) * 255)


@pytest.mark.parametrize("objective", ["beta-vae", "beta-tcvae", "factorvae"])
def test_training_lowers_the_loss_and_writes_a_run(tmp_path, objective):
    params = {"disc_width": 32} if objective == "factorvae" else {}
    settings = TrainSettings(steps=30, batch_size=16, lr=1e-3, log_every=5, checkpoint_every=10, progress=False)
    model = train_vae(_tiny_source(), tmp_path, settings, {"image_size": 32}, objective, params)
    log = read_jsonl(tmp_path / "log.jsonl")
    assert [r["step"] for r in log] == [5, 10, 15, 20, 25, 30]
    assert log[-1]["rec"] < log[0]["rec"]
    reloaded = load_model(tmp_path)
    x = torch.rand(2, 1, 32, 32)
    assert torch.allclose(reloaded.encode(x)[0], model.encode(x)[0])
    assert read_json(tmp_path / "config.json")["objective"]["name"] == objective


def test_same_seed_same_weights(tmp_path):
    settings = TrainSettings(steps=6, batch_size=8, progress=False)
    a = train_vae(_tiny_source(), tmp_path / "a", settings, {"image_size": 32})
    b = train_vae(_tiny_source(), tmp_path / "b", settings, {"image_size": 32})
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name


def test_refuses_to_overwrite_a_trained_run(tmp_path):
    from latentlens.errors import LatentLensError

    settings = TrainSettings(steps=2, batch_size=4, progress=False)
    train_vae(_tiny_source(), tmp_path, settings, {"image_size": 32})
    with pytest.raises(LatentLensError, match="already holds"):
        train_vae(_tiny_source(), tmp_path, settings, {"image_size": 32})


def _checkpoint_step(run):
    from safetensors import safe_open

    path = run / "checkpoint.safetensors"
    if not path.exists():
        return 0
    try:
        with safe_open(str(path), framework="pt") as handle:
            return int(handle.metadata()["step"])
    except Exception:
        return 0


def test_resume_in_process_restores_both_optimizers(tmp_path):
    params = {"disc_width": 32, "gamma": 5.0}
    full = train_vae(_tiny_source(), tmp_path / "full", TrainSettings(steps=8, batch_size=8, progress=False),
                     {"image_size": 32}, "factorvae", params)  # fmt: skip
    train_vae(_tiny_source(), tmp_path / "split", TrainSettings(steps=4, batch_size=8, progress=False),
              {"image_size": 32}, "factorvae", params)  # fmt: skip
    resumed = train_vae(_tiny_source(), tmp_path / "split", TrainSettings(steps=8, batch_size=8, progress=False),
                        {"image_size": 32}, "factorvae", params, resume=True)  # fmt: skip
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    disc_full = load_tensors(tmp_path / "full" / "checkpoint.safetensors")
    disc_split = load_tensors(tmp_path / "split" / "checkpoint.safetensors")
    for name in disc_full:
        assert torch.equal(disc_full[name], disc_split[name]), name


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_uninterrupted_weights(tmp_path, cli):
    args = ["train", "vae", "--data", "dsprites", "--steps", "60", "--batch-size", "4", "--latent-dim", "4",
            "--objective", "beta-tcvae", "--checkpoint-every", "5", "--no-progress", "--seed", "3"]  # fmt: skip
    reference = tmp_path / "reference"
    assert cli(*args, "--out", reference).returncode == 0

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "latentlens.cli", *args, "--out", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while _checkpoint_step(killed) < 10 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    interrupted_at = _checkpoint_step(killed)
    assert 0 < interrupted_at < 60, "the run must be killed part-way"
    assert not (killed / "train_summary.json").exists()

    resumed = cli(*args, "--out", killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    ref, got = load_tensors(reference / "model.safetensors"), load_tensors(killed / "model.safetensors")
    assert ref.keys() == got.keys()
    for name in ref:
        assert torch.equal(ref[name], got[name]), name
    steps = [r["step"] for r in read_jsonl(killed / "log.jsonl")]
    assert steps == sorted(set(steps)) and steps[-1] == 60


@pytest.mark.slow
@pytest.mark.ddp
def test_torchrun_two_processes_gloo(tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    assert torchrun, "torchrun ships with torch"
    out = tmp_path / "ddp"
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "latentlens.cli", "train", "vae", "--data",
         "dsprites", "--steps", "4", "--batch-size", "4", "--latent-dim", "3", "--no-progress", "--out", str(out)],
        capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    config = read_json(out / "config.json")
    assert config["train"]["world_size"] == 2
    assert load_model(out).latent_dim == 3
    assert np.isfinite([r["loss"] for r in read_jsonl(out / "log.jsonl")]).all()


def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from latentlens.errors import LatentLensError
    from latentlens.models.vae_objectives import BetaVAE
    from latentlens.train.checkpoint import checkpoint_step

    calls = {"n": 0}
    original = BetaVAE.forward

    def poisoned(self, model, x, generator=None):
        out = original(self, model, x, generator)
        calls["n"] += 1
        if calls["n"] == 5:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(BetaVAE, "forward", poisoned)
    settings = TrainSettings(steps=8, batch_size=4, checkpoint_every=2, progress=False)
    with pytest.raises(LatentLensError, match=r"diverged at step 5: the loss became nan.*step 4"):
        train_vae(_tiny_source(), tmp_path, settings, {"image_size": 32})
    assert checkpoint_step(tmp_path) == 4
    state = load_tensors(tmp_path / "model.safetensors")
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    monkeypatch.setattr(BetaVAE, "forward", original)
    train_vae(_tiny_source(), tmp_path, settings, {"image_size": 32}, resume=True)  # continues from step 4
    assert [r["step"] for r in read_jsonl(tmp_path / "log.jsonl")][-1] == 8


def test_resume_without_a_checkpoint_refuses_instead_of_starting_over(tmp_path):
    from latentlens.errors import LatentLensError
    from latentlens.io import write_json

    write_json(tmp_path / "config.json", {"kind": "vae", "model": {}})
    (tmp_path / "log.jsonl").write_text('{"step": 7}\n')
    settings = TrainSettings(steps=2, batch_size=4, progress=False)
    with pytest.raises(LatentLensError, match="no checkpoint to continue from"):
        train_vae(_tiny_source(), tmp_path, settings, {"image_size": 32}, resume=True)
    assert (tmp_path / "log.jsonl").read_text() == '{"step": 7}\n'  # nothing overwritten


def test_a_second_process_cannot_write_the_same_run_folder(tmp_path):
    from latentlens.errors import LatentLensError

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from latentlens.train.loop import "
         "lock_run_folder; h = lock_run_folder(Path(sys.argv[1])); print('locked', flush=True); time.sleep(60)",
         str(tmp_path)], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LatentLensError, match="another latentlens process is writing"):
            train_vae(_tiny_source(), tmp_path, TrainSettings(steps=1, batch_size=4, progress=False), {"image_size": 32})
        assert not (tmp_path / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()
    train_vae(_tiny_source(), tmp_path, TrainSettings(steps=1, batch_size=4, progress=False), {"image_size": 32})


def test_orphaned_temporary_files_are_cleaned_on_the_next_start(tmp_path):
    orphan = tmp_path / ".checkpoint.safetensors.abc123.tmp"
    orphan.write_bytes(b"half a checkpoint")
    train_vae(_tiny_source(), tmp_path, TrainSettings(steps=1, batch_size=4, progress=False), {"image_size": 32})
    assert not orphan.exists()


def test_frozen_discriminator_leaves_the_factorvae_step_unchanged():
    """Freezing the discriminator during the VAE's backward changes no VAE gradient, and the discriminator's
    update then comes from its own loss only (as before, when its VAE-loss gradients were zeroed)."""
    import copy

    from latentlens.models import build_model
    from latentlens.models.vae_objectives import build_objective
    from latentlens.train.vae import train_step

    def make_optimizers(model, loss_fn, lr):  # SGD: updates linear in the gradients, so they compare exactly
        return torch.optim.SGD(model.parameters(), lr=lr), torch.optim.SGD(loss_fn.discriminator.parameters(), lr=lr)

    torch.manual_seed(0)
    model = build_model("vae", {"image_size": 32, "latent_dim": 4})
    loss_fn = build_objective("factorvae", 4, disc_width=16)
    x = _tiny_source().batch(8, np.random.default_rng(0))
    twin_model, twin_loss = copy.deepcopy(model), copy.deepcopy(loss_fn)
    # reference: the step as written before (discriminator gradients computed, then discarded)
    opt, disc_opt = make_optimizers(twin_model, twin_loss, 1e-3)
    generator = torch.Generator().manual_seed(1)
    terms = twin_loss(twin_model, x, generator)
    opt.zero_grad(set_to_none=True)
    terms["loss"].backward()
    opt.step()
    disc_loss = twin_loss.discriminator_loss(terms["z"], generator)
    disc_opt.zero_grad(set_to_none=True)
    disc_loss.backward()
    disc_opt.step()
    opt2, disc_opt2 = make_optimizers(model, loss_fn, 1e-3)
    train_step(model, loss_fn, opt2, disc_opt2, x, torch.Generator().manual_seed(1))
    for (name, a), b in zip(model.state_dict().items(), twin_model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    for a, b in zip(loss_fn.discriminator.parameters(), twin_loss.discriminator.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert all(p.requires_grad for p in loss_fn.discriminator.parameters())


def test_objective_flags_reach_only_the_objectives_that_take_them(tmp_path):
    from latentlens.cli import main
    from latentlens.commands.train import objective_params
    from latentlens.errors import LatentLensError

    class Args:
        beta, kl_weight, gamma, ad_lambda, ad_layer, ad_pair = 4.0, 0.1, None, None, None, None

    assert objective_params("beta-tcvae", Args) == {"beta": 4.0, "kl_weight": 0.1}
    with pytest.raises(LatentLensError, match="--kl-weight does not apply to objective 'beta-vae'"):
        objective_params("beta-vae", Args)
    assert main(["train", "vae", "--data", "dsprites", "--objective", "beta-vae", "--kl-weight", "0.1",
                 "--steps", "1", "--out", str(tmp_path / "run")]) == 2  # fmt: skip


def test_bf16_precision_runs_only_the_convolutions_in_bfloat16_while_training(tmp_path):
    from latentlens.models import build_model

    torch.manual_seed(0)
    model = build_model("vae", {"image_size": 32, "latent_dim": 4})
    seen = {}
    for name in ("encoder.0", "decoder.6", "to_moments"):
        model.get_submodule(name).register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o.dtype))
    x = _tiny_source().batch(8, np.random.default_rng(0)).float() / 255
    model.train()
    full = model(x, generator=torch.Generator().manual_seed(1))
    model.train_precision = "bf16"
    mixed = model(x, generator=torch.Generator().manual_seed(1))
    assert seen == {"encoder.0": torch.bfloat16, "decoder.6": torch.bfloat16, "to_moments": torch.float32}
    assert all(t.dtype == torch.float32 for t in mixed)
    for a, b in zip(full, mixed):  # bfloat16 keeps 8 bits of mantissa: about 1 % of each activation's scale
        assert (a - b).abs().max() <= 0.05 * a.abs().max() + 1e-3
        assert not torch.equal(a, b)
    model.eval()
    model(x)
    assert seen["encoder.0"] == torch.float32


def test_bf16_training_lowers_the_loss_and_saves_a_float32_model(tmp_path):
    settings = TrainSettings(steps=30, batch_size=16, lr=1e-3, log_every=5, progress=False, precision="bf16")
    model = train_vae(_tiny_source(), tmp_path, settings, {"image_size": 32}, "beta-tcvae")
    log = read_jsonl(tmp_path / "log.jsonl")
    assert log[-1]["rec"] < log[0]["rec"]
    assert read_json(tmp_path / "config.json")["train"]["precision"] == "bf16"
    reloaded = load_model(tmp_path)
    assert reloaded.train_precision == "fp32" and all(p.dtype == torch.float32 for p in reloaded.parameters())
    x = torch.rand(2, 1, 32, 32)
    assert torch.allclose(reloaded.encode(x)[0], model.encode(x)[0])  # model is back in eval mode: float32


def test_precision_is_refused_where_it_does_not_apply(tmp_path, capsys):
    from latentlens.cli import main
    from latentlens.errors import LatentLensError

    with pytest.raises(LatentLensError, match="--precision must be one of fp32, bf16"):
        TrainSettings(precision="fp16").validate()
    assert main(["train", "gan", "--data", "dsprites", "--precision", "bf16", "--steps", "1",
                 "--out", str(tmp_path / "gan")]) == 2  # fmt: skip
    assert "--precision applies to train vae" in capsys.readouterr().err
    assert not (tmp_path / "gan").exists()
