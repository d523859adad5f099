"""Attention-disentanglement loss (Liu et al. 2020, Eq. 5): values, exact second-order gradient checked
against finite differences in float64, and the ad-factorvae objective."""

from __future__ import annotations

import pytest
import torch

from latentlens.errors import LatentLensError
from latentlens.explain.ad_loss import ad_loss, attention_overlap, select_pairs
from latentlens.models import build_model
from latentlens.models.vae_objectives import build_objective


@pytest.fixture()
def tiny():
    torch.manual_seed(0)
    model = build_model("vae", {"in_channels": 1, "image_size": 16, "latent_dim": 3}).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return model, x


def test_overlap_values():
    a = torch.tensor([[1.0, 0.0, 2.0]])
    assert attention_overlap(a, a).item() == pytest.approx(1.0)
    assert attention_overlap(a, torch.tensor([[0.0, 3.0, 0.0]])).item() == 0.0
    # 2 * (min sums 1 + 0 + 1) / (sum 3 + 2) = 0.8
    assert attention_overlap(a, torch.tensor([[1.0, 0.0, 1.0]])).item() == pytest.approx(0.8)


def test_pairs_are_distinct():
    mass = torch.tensor([[0.1, 5.0, 3.0], [9.0, 0.0, 1.0]])
    assert select_pairs(mass, "top").tolist() == [[1, 2], [0, 2]]
    for seed in range(20):
        p = select_pairs(mass, "random", torch.Generator().manual_seed(seed))
        assert p[0, 0] != p[0, 1] and (p == p[0]).all()
    with pytest.raises(LatentLensError):
        select_pairs(mass[:, :1], "top")


def _params(model, names):
    return [dict(model.named_parameters())[n] for n in names]


@pytest.mark.parametrize("layer", ["encoder.3", "encoder.1"])  # with and without the conv shortcut
def test_gradient_matches_finite_differences(tiny, layer):
    model, x = tiny
    pairs = torch.tensor([[0, 2], [1, 2]])
    names = ["encoder.0.weight", "encoder.4.weight", "to_moments.weight"]
    params = _params(model, names)

    def loss():
        return ad_loss(model, x, layer, pairs=pairs)

    value = loss()
    assert 0.0 < value.item() < 1.0
    grads = torch.autograd.grad(value, params)
    # layers after the hooked one act on L_AD only through alpha = GAP(dz/dA): second-order terms
    assert grads[1].abs().sum() > 0 and grads[2].abs().sum() > 0
    gen = torch.Generator().manual_seed(1)
    h = 1e-6
    for _ in range(3):
        direction = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(h * d)
            up = loss().item()
            for p, d in zip(params, direction):
                p.sub_(2 * h * d)
            down = loss().item()
            for p, d in zip(params, direction):
                p.add_(h * d)
        numeric = (up - down) / (2 * h)
        analytic = sum((g * d).sum() for g, d in zip(grads, direction)).item()
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_ad_factorvae_objective(tiny):
    model, x = tiny
    model.train()
    obj = build_objective("ad-factorvae", 3, gamma=10.0, disc_width=16, ad_lambda=40.0, ad_layer="encoder.1")
    obj = obj.double()
    out = obj(model, x, torch.Generator().manual_seed(0))
    assert set(out) >= {"loss", "rec", "kl", "tc", "ad", "z"} and "_mu" not in out
    base = out["rec"] + out["kl"] + obj.gamma * out["tc"]
    torch.testing.assert_close(out["loss"], base + 40.0 * out["ad"])
    out["loss"].backward()
    assert model.to_moments.weight.grad is not None
    assert obj.discriminator_loss(out["z"]).isfinite()
    assert all(not m._forward_hooks for m in model.modules())
    assert obj.hparams()["ad_layer"] == "encoder.1"
    with pytest.raises(LatentLensError):
        build_objective("ad-factorvae", 3, ad_pair="worst")


def test_train_cli_accepts_ad_factorvae(tmp_path):
    import json

    from latentlens.cli import main

    run = tmp_path / "run"
    code = main(["train", "vae", "--data", "dsprites", "--objective", "ad-factorvae", "--ad-lambda", "40",
                 "--ad-layer", "encoder.1", "--ad-pair", "random", "--steps", "2", "--batch-size", "4",
                 "--out", str(run), "--no-progress"])  # fmt: skip
    assert code == 0
    config = json.loads((run / "config.json").read_text())
    assert config["objective"]["name"] == "ad-factorvae"
    assert config["objective"]["hparams"]["ad_layer"] == "encoder.1"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    assert any("ad" in rec for rec in log)
