"""The classifier-aware diffusion autoencoder."""

from __future__ import annotations

import json

import pytest
import torch

from latentlens.errors import LatentLensError
from latentlens.models import build_model
from latentlens.train.diffae import class_weight_at, round_trip

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"image_size": 32, "patch_size": 2, "base_channels": 8, "channel_mult": [1, 2], "sem_dim": 8,
        "encoder_width": 8, "n_classes": 2, "num_timesteps": 100}  # fmt: skip


def test_semantic_code_reads_the_classifier_and_round_trips_have_the_image_shape():
    torch.manual_seed(0)
    model = build_model("diffae", TINY).eval()
    x = torch.rand(3, 1, 32, 32)
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    with pytest.raises(LatentLensError, match="class_probs"):
        model.semantic(x)
    z = model.semantic(x, probs)
    assert z.shape == (3, 8) and not torch.allclose(z, model.semantic(x, probs.flip(1)))
    with torch.no_grad():
        x_T = model.stochastic_encode(x, z, steps=3)
        again = model.render(z, x_T, steps=3)
    assert x_T.shape == x.shape and again.shape == x.shape and 0 <= float(again.min()) <= float(again.max()) <= 1
    plain = build_model("diffae", {**TINY, "n_classes": 0})
    assert plain.semantic(x).shape == (3, 8)


def test_the_round_trip_gradient_reaches_the_semantic_encoder():
    torch.manual_seed(0)
    model = build_model("diffae", TINY)
    for p in model.ddpm.unet.out.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x = torch.rand(2, 1, 32, 32)
    z = model.semantic(x, torch.full((2, 2), 0.5))
    round_trip(model, x, z, steps=3, grad=True).mean().backward()
    assert float(model.encoder_out.weight.grad.abs().sum()) > 0 and float(model.fuse.weight.grad.abs().sum()) > 0


def test_the_classifier_weight_is_annealed_from_zero():
    assert class_weight_at(0, 0.3, 10, 20) == 0.0 and class_weight_at(20, 0.3, 10, 20) == pytest.approx(0.15)
    assert class_weight_at(100, 0.3, 10, 20) == pytest.approx(0.3)
    assert class_weight_at(9, 0.3, 10, 0) == 0.0 and class_weight_at(10, 0.3, 10, 0) == 0.3  # no ramp: full at once


class _CentreBrightness(torch.nn.Module):
    """A frozen stand-in classifier with firm opinions: is the centre brighter than the whole image?"""

    def forward(self, x):
        a = 40 * (x[:, :, 12:20, 12:20].mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3)))
        return torch.stack([a, -a], dim=1)


def test_the_kl_term_lowers_the_classifier_kl_of_the_round_trip(tmp_path):
    """Summed over four toy datasets: one run's 30 steps are chaotic enough that its outcome moves with the
    host's floating point (the round trip re-encodes x_T under the changing weights)."""
    from latentlens.models.classifier import prediction_kl
    from latentlens.train.diffae import train_diffae
    from latentlens.train.loop import TrainSettings

    kls = {0.0: [], 0.3: []}
    for seed in range(4):
        images = (torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(seed)) * 255).to(torch.uint8)
        classifier, x = _CentreBrightness(), images.float() / 255
        for w in kls:
            settings = TrainSettings(steps=30, batch_size=8, seed=seed, lr=1e-3, progress=False)
            config = {k: v for k, v in TINY.items() if k != "n_classes"}
            model = train_diffae(images, tmp_path / f"{seed}-{w}", settings, classifier, config, cls_weight=w,
                                 anneal_start=0.0, anneal_fraction=0.0, kl_batch=8, kl_steps=3, n_agreement=4)
            with torch.no_grad():
                reference = classifier(x)
                z_sem = model.semantic(x, reference.softmax(1))
                kls[w].append(float(prediction_kl(reference, classifier(round_trip(model, x, z_sem, 3)))))
    # here: 5.81 without the term, 1.43 with it (every seed lower, 0.05-0.86x)
    assert sum(kls[0.3]) < 0.7 * sum(kls[0.0]), kls


def _one_step_warnings(tmp_path, caplog, n_images: int, n_agreement: int = 4) -> list[str]:
    """The warnings of a one-step ``train_diffae`` run on random images (``n_agreement`` of them held out)."""
    from latentlens.train.diffae import train_diffae
    from latentlens.train.loop import TrainSettings

    images = (torch.rand(n_images, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    config = {k: v for k, v in TINY.items() if k != "n_classes"}
    with caplog.at_level("WARNING", logger="latentlens.train.diffae"):
        train_diffae(images, tmp_path / "run", TrainSettings(steps=1, batch_size=4, progress=False),
                     _CentreBrightness(), config, n_agreement=n_agreement)  # fmt: skip
    return [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("agreement", [0.5, 1.0])
def test_training_warns_when_round_trips_lose_the_class(tmp_path, monkeypatch, caplog, agreement):
    import latentlens.train.diffae as diffae

    monkeypatch.setattr(diffae, "class_agreement", lambda *args, **kwargs: agreement)
    warned = [m for m in _one_step_warnings(tmp_path, caplog, 4) if "keep the classifier's decision" in m]
    assert (warned == []) == (agreement >= diffae.AGREEMENT_AIM)
    assert not warned or ("50 %" in warned[0] and "--cls-weight" in warned[0])


def test_training_resumes_with_more_steps(tmp_path):
    from latentlens.train.diffae import train_diffae
    from latentlens.train.loop import TrainSettings

    images = (torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    config = {k: v for k, v in TINY.items() if k != "n_classes"}
    for steps, resume in ((2, False), (4, True)):
        train_diffae(images, tmp_path / "run", TrainSettings(steps=steps, batch_size=4, log_every=1, progress=False),
                     _CentreBrightness(), config, kl_steps=2, n_agreement=2, resume=resume)  # fmt: skip
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


class _Decoder(torch.nn.Module):
    """A stand-in autoencoder: z_sem is the image itself, and the decoding ``uses`` z_sem with weight ``use``
    and the noise with ``1 - use``."""

    def __init__(self, use: float):
        super().__init__()
        self.use, self.image_shape = use, (1, 32, 32)
        self.config = type("Config", (), {"n_classes": 0})()
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def semantic(self, x, probs=None):
        return x.flatten(1)

    def render(self, z_sem, x_T, steps):
        return (self.use * z_sem.view(-1, *self.image_shape) + (1 - self.use) * (x_T * 0.2 + 0.5)).clamp(0, 1)


@pytest.mark.parametrize("use", [0.0, 1.0])
def test_semantic_agreement_tells_a_code_that_holds_the_class_from_one_that_does_not(use):
    from latentlens.train.diffae import semantic_agreement

    x = torch.full((32, 1, 32, 32), 0.5)
    x[::2, :, 12:20, 12:20] = 0.9  # the even images are brighter in the centre, the odd ones darker
    x[1::2, :, 12:20, 12:20] = 0.1
    own, other = semantic_agreement(_Decoder(use), _CentreBrightness(), x, steps=1)
    if use:
        assert own == 1.0 and other < 0.8  # about half the drawn images are of the other class
    else:
        assert own == pytest.approx(other, abs=0.2)


@pytest.mark.parametrize("shares, warned", [((0.5, 0.5), True), ((0.9, 0.5), False)])
def test_training_warns_when_z_sem_holds_no_class(tmp_path, monkeypatch, caplog, shares, warned):
    import latentlens.train.diffae as diffae

    monkeypatch.setattr(diffae, "class_agreement", lambda *args, **kwargs: 1.0)
    monkeypatch.setattr(diffae, "semantic_agreement", lambda *args, **kwargs: shares)
    assert any("z_sem holds little" in m for m in _one_step_warnings(tmp_path, caplog, 200, n_agreement=20)) == warned
    check = json.loads((tmp_path / "run" / "metrics.json").read_text())["diffae"]
    assert (check["semantic_agreement"], check["semantic_agreement_other"], check["n_images"]) == (*shares, 20)
