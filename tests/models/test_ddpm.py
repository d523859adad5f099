"""The small DDPM, its schedules, DDIM sampling / inversion / Asyrp steps, and its training loop."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latentlens.cli import main
from latentlens.errors import LatentLensError
from latentlens.models import build_model
from latentlens.models.ddim import DDIM
from latentlens.models.ddpm import DDPMConfig, noise_schedule

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is fastest

TINY = {"image_size": 16, "patch_size": 1, "base_channels": 8, "channel_mult": [1, 2], "num_timesteps": 100}


def tiny_ddpm(seed: int = 0, dtype=torch.float64, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("ddpm", {**TINY, **overrides}).to(dtype).eval()
    for p in model.unet.out.parameters():  # the output layer starts at zero; give it a real response
        torch.nn.init.normal_(p, std=0.05)
    return model


@pytest.mark.parametrize("skips", ["all", "stem"])
def test_with_stem_skips_only_the_decoder_sees_the_encoder_through_h_and_the_stem(skips):
    model = tiny_ddpm(skip_connections=skips, channel_mult=[1, 2, 2], num_res_blocks=2)
    x, t = torch.randn(2, 1, 16, 16, dtype=torch.float64), torch.tensor([5, 50])
    captured = {}
    handle = model.unet.middle.register_forward_hook(lambda m, i, out: captured.setdefault("h", out))
    clean = model(x, t)
    handle.remove()
    hooks = [model.unet.middle.register_forward_hook(lambda m, i, out: captured["h"])]
    hooks += [layer.register_forward_hook(lambda m, i, out: out + 1.0) for layer in model.unet.down]
    perturbed = model(x, t)  # every encoder output after the stem is moved; h and the stem are not
    for h in hooks:
        h.remove()
    moved = float((perturbed - clean).abs().max().detach())
    assert moved < 1e-12 if skips == "stem" else moved > 1e-3


def test_schedules_follow_the_papers():
    linear = noise_schedule("linear", 1000)
    assert float(linear[0]) == pytest.approx(1e-4) and float(linear[-1]) == pytest.approx(0.02)
    for name in ("linear", "cosine"):
        abar = torch.cumprod(1 - noise_schedule(name, 1000), 0)
        assert bool((abar[1:] < abar[:-1]).all()) and 0 < float(abar[-1]) < 1e-3 and float(abar[0]) > 0.99
    assert float(torch.cumprod(1 - noise_schedule("linear", 100), 0)[-1]) < 1e-3  # scaled to keep the SNR path


@pytest.mark.parametrize("config", [
    {"image_size": 32, "patch_size": 1, "in_channels": 1},
    {"image_size": 64, "patch_size": 2, "in_channels": 3},
    {"image_size": 32, "patch_size": 2, "in_channels": 3, "channel_mult": [1, 2], "schedule": "cosine"},
])  # fmt: skip
def test_unet_predicts_noise_of_the_image_shape_and_h_has_the_bottleneck_shape(config):
    from latentlens.directions.hspace import as_diffusion

    model = build_model("ddpm", {"base_channels": 8, **config}).eval()
    x = torch.randn(2, config["in_channels"], config["image_size"], config["image_size"])
    assert model(x, torch.tensor([0, 999])).shape == x.shape
    assert as_diffusion(model).h_shape == model.config.bottleneck_shape


@pytest.mark.parametrize("bad", [{"image_size": 15}, {"in_channels": 2}, {"schedule": "sigmoid"},
                                 {"channel_mult": [1, 0]}, {"base_channels": 12},
                                 {"skip_connections": "none"}])  # fmt: skip
def test_config_refuses_unusable_shapes(bad):
    with pytest.raises(LatentLensError):
        DDPMConfig(**{**TINY, "channel_mult": (1, 2), **bad}).validate()


def test_ddim_with_eta_zero_is_deterministic_and_eta_one_is_not():
    model = tiny_ddpm()
    x_T = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    sampler = DDIM(model, model.alphas_cumprod, steps=10)
    with torch.no_grad():
        a, b = sampler.sample(x_T), sampler.sample(x_T)
        assert torch.equal(a, b)
        noisy = DDIM(model, model.alphas_cumprod, steps=10, eta=1.0)
        c = noisy.sample(x_T, generator=torch.Generator().manual_seed(0))
        d = noisy.sample(x_T, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(c, d)


def _oracle(abar: torch.Tensor, target: torch.Tensor):
    """The exact noise predictor of a data distribution holding one image: eps = (x_t - sqrt(a) x*) / sqrt(1 - a)."""

    def eps(x, t):
        a = abar[t].to(x.dtype)[:, None, None, None]
        return (x - a.sqrt() * target) / (1 - a).sqrt()

    return eps


def test_ddim_of_the_exact_denoiser_lands_on_its_image_and_inversion_returns_there():
    abar = torch.cumprod(1 - noise_schedule("linear", 1000), 0)
    target = torch.rand(1, 1, 8, 8, dtype=torch.float64) * 2 - 1
    sampler = DDIM(_oracle(abar, target), abar, steps=20)
    x0 = sampler.sample(torch.randn(4, 1, 8, 8, dtype=torch.float64))
    assert torch.allclose(x0, target.expand_as(x0), atol=1e-9)
    assert torch.allclose(sampler.sample(sampler.invert(x0)), x0, atol=1e-9)


def test_ddim_inversion_reconstructs_an_image_of_a_tiny_network():
    model = tiny_ddpm()
    abar = model.alphas_cumprod
    target = torch.rand(1, 1, 16, 16, dtype=torch.float64) * 2 - 1
    exact = _oracle(abar, target)

    def eps(x, t):  # a denoiser close to the exact one with a real network's error on top
        return exact(x, t) + 0.05 * model(x, t)

    sampler = DDIM(eps, abar, steps=50)
    with torch.no_grad():
        image = sampler.sample(torch.randn(2, 1, 16, 16, dtype=torch.float64))
        rebuilt = sampler.sample(sampler.invert(image))
    assert float(((rebuilt - image) ** 2).mean()) < 1e-3 * float(image.var())
    assert not torch.allclose(rebuilt, image, atol=1e-12)  # the inversion is approximate, not an identity


def test_theorem_1_an_eps_shift_in_both_terms_nearly_cancels():
    """Asyrp, Theorem 1: the same Δε in P_t and D_t moves x_{t-1} at most a tenth as much as Δε in P_t only
    (T = 1000, 100 DDIM steps, every step with t >= 0.1 T; at the last steps the D term vanishes and nothing
    cancels)."""
    model = tiny_ddpm(num_timesteps=1000, dtype=torch.float32)
    sampler = DDIM(model, model.alphas_cumprod, steps=100)
    shift = 0.1 * torch.randn(1, 1, 16, 16)

    def edited(x, t):
        return model(x, t) + shift

    x = torch.randn(2, 1, 16, 16)
    checked = 0
    with torch.no_grad():
        for i in range(len(sampler)):
            plain = sampler.step(x, i)
            if int(sampler.timesteps[i]) >= 0.1 * model.num_timesteps:
                p_only = sampler.step(x, i, edited=edited, mode="asyrp")
                both = sampler.step(x, i, edited=edited, mode="symmetric")
                assert float((both - plain).norm()) <= 0.1 * float((p_only - plain).norm())
                checked += 1
            x = plain
    assert checked >= 85


def test_edit_interval_and_quality_boosting():
    model = tiny_ddpm()
    sampler = DDIM(model, model.alphas_cumprod, steps=10)
    assert sampler.edit_steps(0.0) == 10 and sampler.edit_steps(1.0) == 1 and 4 <= sampler.edit_steps(0.5) <= 6
    x_T = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        plain = sampler.sample(x_T)
        boosted = sampler.sample(x_T, boost_steps=3, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(plain, boosted)
    with pytest.raises(LatentLensError):
        sampler.sample(x_T, boost_steps=11)


def test_sample_gives_images_in_unit_range():
    model = build_model("ddpm", TINY).eval()
    images = model.sample(3, steps=4, generator=torch.Generator().manual_seed(0))
    assert images.shape == (3, 1, 16, 16) and float(images.min()) >= 0 and float(images.max()) <= 1


def _train(tmp_path, out, steps, resume=False, **kwargs):
    from latentlens.data.sources import TensorSource
    from latentlens.train.ddpm import train_ddpm
    from latentlens.train.loop import TrainSettings

    images = (torch.rand(32, 1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.7).to(torch.uint8) * 255
    settings = TrainSettings(steps=steps, batch_size=8, lr=1e-3, checkpoint_every=3, log_every=1, progress=False)
    config = {k: v for k, v in TINY.items() if k != "image_size"}
    return train_ddpm(TensorSource(images), tmp_path / out, settings, config, resume=resume, **kwargs)


def test_training_resumes_exactly_and_saves_the_ema_weights(tmp_path):
    from latentlens.io import read_jsonl
    from latentlens.train.checkpoint import load_model

    straight = _train(tmp_path, "a", 6)
    _train(tmp_path, "b", 3)
    resumed = _train(tmp_path, "b", 6, resume=True)
    for (name, p), q in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name
    loaded = load_model(tmp_path / "a")
    assert all(torch.equal(p, q) for p, q in zip(loaded.state_dict().values(), straight.state_dict().values()))
    log = read_jsonl(tmp_path / "a" / "log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6] and all(r["loss"] > 0 for r in log)


def test_training_lowers_the_loss(tmp_path):
    from latentlens.io import read_jsonl

    _train(tmp_path, "run", 60)
    losses = [r["loss"] for r in read_jsonl(tmp_path / "run" / "log.jsonl")]
    assert sum(losses[-10:]) < 0.8 * sum(losses[:10])


@given(gamma=st.floats(0.1, 3.0), k=st.floats(0.1, 10.0))
@settings(max_examples=25, deadline=None)
def test_p2_weight_is_choi_et_al_eq_8_and_falls_as_the_image_gets_cleaner(gamma, k):
    from latentlens.train.ddpm import p2_weight

    abar = torch.cumprod(1 - noise_schedule("linear", 1000), 0)
    t = torch.tensor([0, 100, 300, 500, 999])
    snr = abar[t] / (1 - abar[t])
    weight = p2_weight(abar, t, gamma, k)
    assert torch.allclose(weight.double(), (k + snr) ** -gamma, rtol=1e-5)
    assert bool((weight[1:] > weight[:-1]).all())  # the noisier the step, the more it weighs
    assert torch.equal(p2_weight(abar, t, 0.0), torch.ones(5))


def test_p2_training_weights_the_loss_and_records_gamma_in_the_config(tmp_path):
    from latentlens.io import read_json, read_jsonl

    _train(tmp_path, "plain", 3)
    _train(tmp_path, "p2", 3, p2_gamma=1.0)
    plain, p2 = (read_jsonl(tmp_path / r / "log.jsonl")[0]["loss"] for r in ("plain", "p2"))
    assert p2 < plain  # same first batch, t and noise: each image's error is scaled by a weight below 1
    assert read_json(tmp_path / "p2" / "config.json")["objective"]["hparams"]["p2_gamma"] == 1.0
    with pytest.raises(LatentLensError, match="p2_gamma"):
        _train(tmp_path, "bad", 3, p2_gamma=-1.0)


def test_cli_trains_a_ddpm_and_refuses_other_models_flags(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    from PIL import Image

    for i in range(6):
        Image.fromarray((torch.rand(16, 16) * 255).to(torch.uint8).numpy()).save(folder / f"{i}.png")
    out = tmp_path / "run"
    args = ["train", "ddpm", "--data", str(folder), "--image-size", "16", "--width", "8", "--steps", "2", "--batch-size", "4",
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert (out / "model.safetensors").is_file() and (out / "train_summary.json").is_file()
    assert main(["train", "ddpm", "--data", str(folder), "--beta", "4", "--out", str(tmp_path / "x")]) == 2
    assert "do not apply to the DDPM" in capsys.readouterr().err
    assert main(["train", "vae", "--data", str(folder), "--schedule", "cosine", "--out", str(tmp_path / "y")]) == 2
    assert main(["train", "vae", "--data", str(folder), "--p2-gamma", "1", "--out", str(tmp_path / "z")]) == 2
    assert "--p2-gamma apply to the DDPM" in capsys.readouterr().err


def test_a_non_finite_loss_stops_training_and_names_the_last_good_checkpoint(tmp_path, monkeypatch):
    from latentlens.errors import LatentLensError
    from latentlens.train.checkpoint import checkpoint_step

    mse, calls = torch.nn.functional.mse_loss, {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = mse(*args, **kwargs)
        return loss * float("inf") if calls["n"] == 5 else loss

    monkeypatch.setattr(torch.nn.functional, "mse_loss", poisoned)
    with pytest.raises(LatentLensError, match=r"diverged at step 5: the loss became (nan|inf).*step 3"):
        _train(tmp_path, "run", 8)
    assert checkpoint_step(tmp_path / "run") == 3
