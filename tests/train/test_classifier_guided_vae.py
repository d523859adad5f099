"""A VAE trained with StylEx's classifier term keeps the classifier's decision in its reconstructions."""

import pytest
import torch
from torch import nn

from latentlens.data.sources import TensorSource
from latentlens.errors import LatentLensError
from latentlens.io import read_json, read_jsonl
from latentlens.models import build_model
from latentlens.models.classifier import prediction_kl
from latentlens.models.vae_objectives import build_objective
from latentlens.train.loop import TrainSettings
from latentlens.train.vae import train_step, train_vae


class LeftOrRight(nn.Module):
    """Logit of "right" grows with the right half's brightness over the left half's."""

    def forward(self, x):
        w = x.shape[-1] // 2
        gap = x[..., w:].mean(dim=(1, 2, 3)) - x[..., :w].mean(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(gap), 40 * gap], 1)


def _left_or_right_squares(n=64, seed=0):
    """Half the images hold a square on the left, half on the right, with a little jitter."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 32, 32, dtype=torch.uint8)
    for i in range(n):
        row, shift = torch.randint(10, 14, (1,), generator=g).item(), torch.randint(0, 3, (1,), generator=g).item()
        col = (3 if i % 2 else 21) + shift
        x[i, 0, row : row + 8, col : col + 8] = 255
    return x


def test_prediction_kl_is_zero_for_equal_predictions_and_positive_otherwise():
    logits = torch.randn(5, 3)
    assert float(prediction_kl(logits, logits)) == pytest.approx(0.0, abs=1e-6)
    assert float(prediction_kl(logits, logits.flip(1))) > 0


def test_the_step_adds_the_weighted_kl_to_the_objective():
    model = build_model("vae", {"image_size": 32, "latent_dim": 3})
    loss_fn = build_objective("beta-vae", 3, beta=1.0)
    x = _left_or_right_squares(8).float() / 255
    clf = LeftOrRight()
    plain = train_step(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.0), None, x,
                       torch.Generator().manual_seed(1))  # fmt: skip
    guided = train_step(model, loss_fn, torch.optim.SGD(model.parameters(), lr=0.0), None, x,
                        torch.Generator().manual_seed(1), clf, 7.0)  # fmt: skip
    expected = prediction_kl(clf(x), clf(torch.sigmoid(guided["recon_logits"])))
    assert float(guided["cls_kl"].detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    assert float(guided["loss"].detach()) == pytest.approx(float(plain["loss"].detach()) + 7.0 * float(expected.detach()), rel=1e-5)


def test_the_classifier_term_keeps_the_decision_the_plain_vae_loses(tmp_path):
    images = _left_or_right_squares(64)
    settings = TrainSettings(steps=60, batch_size=16, lr=1e-3, progress=False, seed=0)
    clf = LeftOrRight()
    config = {"image_size": 32, "latent_dim": 2}
    # at beta 30 the plain VAE keeps nothing of the image; the classifier term makes it keep the side
    plain = train_vae(TensorSource(images), tmp_path / "plain", settings, config, "beta-vae", {"beta": 30.0})
    guided = train_vae(TensorSource(images), tmp_path / "guided", settings, config, "beta-vae", {"beta": 30.0},
                       classifier=clf, cls_weight=300.0, classifier_run="left-or-right")  # fmt: skip
    x = images.float() / 255

    def kl(model):
        with torch.no_grad():
            return float(prediction_kl(clf(x), clf(model.decode(model.encode(x)[0]))))

    assert kl(guided) < 0.05 * kl(plain), (kl(guided), kl(plain))
    assert read_json(tmp_path / "guided" / "config.json")["classifier"] == {"run": "left-or-right", "cls_weight": 300.0}
    assert "classifier" not in read_json(tmp_path / "plain" / "config.json")
    assert "cls_kl" in read_jsonl(tmp_path / "guided" / "log.jsonl")[-1]


def test_a_classifier_that_cannot_judge_the_images_is_refused_in_one_line(tmp_path):
    settings = TrainSettings(steps=1, batch_size=4, progress=False)
    with pytest.raises(LatentLensError, match="must return logits"):
        train_vae(TensorSource(_left_or_right_squares(8)), tmp_path / "a", settings, {"image_size": 32},
                  classifier=nn.Flatten(0))  # fmt: skip
    assert not (tmp_path / "a").exists()


def test_cli_checks_the_classifier_run_against_the_images(tmp_path, capsys):
    from latentlens.cli import main
    from latentlens.data.cells import generate_cells

    data = generate_cells(tmp_path / "cells", n_per_condition=8, strength=2.0, size=32, seed=0)
    common = ["--data", str(data), "--batch-size", "4", "--steps", "2", "--no-progress"]
    assert main(["train", "classifier", *common, "--image-size", "32", "--out", str(tmp_path / "clf")]) == 0
    assert main(["train", "vae", *common, "--image-size", "64", "--classifier", str(tmp_path / "clf"),
                 "--out", str(tmp_path / "v64")]) == 2  # fmt: skip
    assert "reads 32px images" in capsys.readouterr().err
    assert main(["train", "vae", *common, "--image-size", "32", "--cls-weight", "3", "--out", str(tmp_path / "w")]) == 2
    assert "--cls-weight needs --classifier" in capsys.readouterr().err
    assert main(["train", "vae", *common, "--image-size", "32", "--classifier", str(tmp_path / "clf"),
                 "--cls-weight", "3", "--out", str(tmp_path / "v")]) == 0  # fmt: skip
    assert read_json(tmp_path / "v" / "config.json")["classifier"]["cls_weight"] == 3.0
