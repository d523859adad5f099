"""The dSprites factor predictor (the instrument of factor alignment): its training batches, augmentation,
input handling, caching, and that a short training run learns position."""

import numpy as np
import pytest
import torch

from latentlens.data.dsprites import DSprites
from latentlens.errors import LatentLensError
from latentlens.metrics.factor_predictor import (
    FactorPredictor,
    _training_batch,
    degrade,
    load_or_train_factor_predictor,
    predictor_accuracy,
    train_factor_predictor,
)


def test_training_batch_blends_images_and_targets_alike():
    x, shape, reg, angle = _training_batch(DSprites(), 40, np.random.default_rng(0), mix_fraction=0.5)
    assert x.shape == (40, 1, 64, 64) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert torch.allclose(shape.sum(1), torch.ones(40))
    assert bool((angle.norm(dim=1) <= 1 + 1e-6).all())
    assert bool(((reg >= 0) & (reg <= 1)).all())
    blended = x[:20]
    assert bool(((blended > 0) & (blended < 1)).any()), "blends must hold intermediate grey levels"
    assert bool((shape[20:].max(1).values == 1).all()), "unblended sprites keep one-hot shape targets"
    assert bool((shape[:20].max(1).values < 1).any())


def test_degrade_stays_in_range_and_is_seeded():
    x, _ = DSprites().sample(16, np.random.default_rng(1))
    a = degrade(x, torch.Generator().manual_seed(3), p=1.0)
    b = degrade(x, torch.Generator().manual_seed(3), p=1.0)
    assert torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert not torch.equal(a, x)
    assert torch.equal(degrade(x, torch.Generator().manual_seed(3), p=0.0), x)


def test_predict_accepts_rgb_and_other_sizes():
    torch.manual_seed(0)
    model = FactorPredictor()
    grey = torch.rand(3, 1, 32, 32)
    p_grey = model.predict(grey)
    p_rgb = model.predict(grey.expand(3, 3, 32, 32))
    for key in p_grey:
        assert torch.allclose(p_grey[key], p_rgb[key], atol=1e-6)
    assert torch.allclose(p_grey["shape"].sum(1), torch.ones(3))
    assert bool((p_grey["orientation"].norm(dim=1) <= 1 + 1e-6).all())


def test_short_training_learns_position():
    untrained = predictor_accuracy(FactorPredictor(), n=300)
    trained = predictor_accuracy(train_factor_predictor(n_steps=200, batch_size=32), n=300)
    for axis in ("posX", "posY"):
        assert trained[f"{axis}_mae_classes"] < 0.5 * untrained[f"{axis}_mae_classes"]
        assert trained[f"{axis}_mae_classes"] < 4.0


def test_cache_round_trip_and_corrupt_file(tmp_path, caplog):
    first = load_or_train_factor_predictor(cache_dir=tmp_path, n_steps=3, batch_size=8)
    files = list(tmp_path.glob("dsprites_factor_predictor_v*.safetensors"))
    assert len(files) == 1
    again = load_or_train_factor_predictor(cache_dir=tmp_path, n_steps=3, batch_size=8)
    for key, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])
    files[0].write_bytes(b"not a safetensors file")
    with caplog.at_level("WARNING"):
        retrained = load_or_train_factor_predictor(cache_dir=tmp_path, n_steps=3, batch_size=8)
    assert "retraining" in caplog.text
    assert isinstance(retrained, FactorPredictor)


def test_cache_is_keyed_by_training_parameters(tmp_path, monkeypatch):
    from latentlens.metrics import factor_predictor as fp

    short = load_or_train_factor_predictor(cache_dir=tmp_path, n_steps=3, batch_size=8)
    assert fp.factor_predictor_path(tmp_path, n_steps=3, batch_size=8).is_file()
    assert not fp.factor_predictor_path(tmp_path).exists()
    assert fp.factor_predictor_path(tmp_path, n_steps=4, batch_size=8) != fp.factor_predictor_path(
        tmp_path, n_steps=3, batch_size=8
    )
    # a default caller must not get the 3-step predictor: with no zoo copy it trains its own
    calls = []
    monkeypatch.setattr(fp, "_zoo_predictor", lambda: None)
    monkeypatch.setattr(fp, "train_factor_predictor", lambda **kw: calls.append(kw) or fp.FactorPredictor())
    default = load_or_train_factor_predictor(cache_dir=tmp_path)
    assert calls == [{**fp.DEFAULT_TRAINING, "show_progress": False}]
    assert not torch.equal(default.net[0].weight, short.net[0].weight)
    with pytest.raises(LatentLensError, match="unknown factor predictor training"):
        load_or_train_factor_predictor(cache_dir=tmp_path, steps=5)


@pytest.mark.parametrize("bad", [0, -5])
def test_training_rejects_no_steps(bad):
    with pytest.raises(LatentLensError, match="n_steps"):
        train_factor_predictor(n_steps=bad)
