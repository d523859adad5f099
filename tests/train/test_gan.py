"""The GAN loop's R1 penalty (Mescheder et al. 2018, Eq. 9) and its run folder."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latentlens.data.sources import TensorSource
from latentlens.errors import LatentLensError
from latentlens.io import read_json, read_jsonl
from latentlens.train.gan import r1_penalty, train_gan
from latentlens.train.loop import TrainSettings


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 5.0))
def test_r1_of_a_linear_critic_is_its_squared_weight_norm(seed, scale):
    """D(x) = <w, x> + b has grad_x D = w for every x, so the penalty is ||w||^2 and its gradient 2w."""
    g = torch.Generator().manual_seed(seed)
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1)).double()
    with torch.no_grad():
        critic[1].weight.copy_(scale * torch.randn(1, 12, generator=g, dtype=torch.float64))
    real = torch.rand(5, 3, 2, 2, generator=g, dtype=torch.float64)
    logits, penalty = r1_penalty(critic, real)
    weight = critic[1].weight
    assert logits.shape == (5, 1)
    assert torch.allclose(penalty, weight.pow(2).sum())
    (grad,) = torch.autograd.grad(penalty, weight)
    assert torch.allclose(grad, 2 * weight)


def _sprites(n=16):
    g = torch.Generator().manual_seed(0)
    return TensorSource((torch.rand(n, 1, 64, 64, generator=g) > 0.9).to(torch.uint8) * 255)


@pytest.mark.parametrize("r1_gamma", [10.0, 0.0])
def test_gan_run_records_the_penalty(tmp_path, r1_gamma):
    settings_ = TrainSettings(steps=4, batch_size=8, lr=2e-4, log_every=2, progress=False)
    train_gan(_sprites(), tmp_path, settings_, {"width": 4}, r1_gamma=r1_gamma)
    log = read_jsonl(tmp_path / "log.jsonl")
    assert [r["step"] for r in log] == [2, 4]
    assert all((r["r1"] > 0) == (r1_gamma > 0) for r in log)
    assert read_json(tmp_path / "config.json")["objective"]["hparams"] == {"r1_gamma": r1_gamma}


def test_gan_same_seed_same_weights(tmp_path):
    settings_ = TrainSettings(steps=3, batch_size=8, lr=2e-4, progress=False)
    a = train_gan(_sprites(), tmp_path / "a", settings_, {"width": 4})
    b = train_gan(_sprites(), tmp_path / "b", settings_, {"width": 4})
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_negative_r1_gamma_is_refused(tmp_path):
    with pytest.raises(LatentLensError, match="r1-gamma"):
        train_gan(_sprites(), tmp_path, TrainSettings(steps=1, progress=False), {"width": 4}, r1_gamma=-1.0)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("norm, coupled", [("batch", True), ("none", False)])
def test_discriminator_norm_decides_whether_images_of_a_batch_couple(norm, coupled):
    """With BatchNorm (training mode) one image's logit depends on the rest of its batch; without a
    normalisation it does not, so the R1 penalty on one real image stays that image's own."""
    from latentlens.models import build_model

    critic = build_model("gan", {"width": 4, "discriminator_norm": norm}).discriminator.train()
    has_batch_norm = any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())
    assert has_batch_norm == coupled
    g = torch.Generator().manual_seed(0)
    batch = torch.rand(6, 1, 64, 64, generator=g)
    other = torch.cat([batch[:1], torch.rand(5, 1, 64, 64, generator=g)])
    with torch.no_grad():
        same = torch.allclose(critic(batch)[0], critic(other)[0], atol=1e-6)
    assert same != coupled


def test_discriminator_norm_reaches_the_run_and_is_refused_elsewhere(tmp_path, capsys):
    from latentlens.cli import main
    from latentlens.models import build_model

    with pytest.raises(LatentLensError, match="discriminator_norm"):
        build_model("gan", {"discriminator_norm": "layer"})
    # DCGAN's default stays out of the config, so runs trained before the option resume and compare equal
    assert "discriminator_norm" not in build_model("gan", {"width": 4}).config_dict()
    folder = tmp_path / "gan"
    assert main(["train", "gan", "--data", "dsprites", "--steps", "1", "--batch-size", "4", "--width", "4",
                 "--discriminator-norm", "none", "--no-progress", "--out", str(folder)]) == 0  # fmt: skip
    assert read_json(folder / "config.json")["model"]["discriminator_norm"] == "none"
    assert main(["train", "vae", "--data", "dsprites", "--discriminator-norm", "none", "--steps", "1",
                 "--out", str(tmp_path / "vae")]) == 2  # fmt: skip
    assert "--discriminator-norm applies to the GAN" in capsys.readouterr().err
    assert not (tmp_path / "vae").exists()
