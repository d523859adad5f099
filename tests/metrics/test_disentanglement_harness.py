"""evaluate_representation: keys, recipe reporting, presets, determinism; perfect vs random codes; VAE helper."""

import json

import numpy as np
import pytest
import torch
from disent_fixtures import SmallData, as_array, identity

from latentlens.errors import LatentLensError
from latentlens.metrics import PRESETS, evaluate_representation, factor_vae_score, vae_representation

SCORES = {"beta_vae_score", "factor_vae_score", "mig", "dci_disentanglement", "dci_completeness",
          "dci_informativeness", "sap", "modularity", "explicitness"}
SMALL = {"beta_vae": {"num_train": 200, "num_eval": 200, "batch_size": 16},
         "factor_vae": {"num_train": 300, "num_eval": 200, "num_variance_estimate": 500, "batch_size": 16},
         "mig": {"num_train": 1000},
         "dci": {"num_train": 300, "num_test": 200, "gbt_params": {"n_estimators": 30}},
         "sap": {"num_train": 600, "num_test": 300},
         "modularity": {"num_train": 600, "num_test": 300}}


def perfect(x):
    return 0.5 * as_array(x) - 1.0  # factor classes, affinely moved


def noise_code(seed=0):
    """A random code: Gaussian noise, independent of the observation."""
    rng = np.random.default_rng(seed)
    return lambda x: rng.normal(size=(len(x), 3))


@pytest.fixture(scope="module")
def data():
    return SmallData((3, 4, 5))


@pytest.fixture(scope="module")
def perfect_result(data):
    return evaluate_representation(data, perfect, "all", random_state=0, overrides=SMALL, n_jobs=2)


def test_flat_keys_recipe_and_json(perfect_result):
    assert SCORES <= set(perfect_result)
    assert set(perfect_result) - SCORES == {"recipe", "mi_matrix", "details", "timings_s"}
    recipe = perfect_result["recipe"]
    assert recipe["preset"] == "fast" and recipe["seed"] == 0 and recipe["sklearn"]
    assert recipe["counts"]["dci"]["num_train"] == 300  # the override is reported
    assert recipe["counts"]["beta_vae"]["batch_size"] == 16
    assert recipe["per_metric"]["sap"]["classifier_params"]["C"] == 0.01
    mi = perfect_result["mi_matrix"]
    assert np.array(mi["nats"]).shape == (3, 3) and mi["factor_names"] == ["g0", "g1", "g2"]
    assert np.allclose(np.diag(mi["normalized"]), 1.0, atol=0.02)
    json.dumps(perfect_result)  # JSON-ready


def test_perfect_code_scores_high(perfect_result):
    r = perfect_result
    assert r["beta_vae_score"] >= 0.95 and r["factor_vae_score"] >= 0.95
    assert r["mig"] >= 0.9  # <= 20 classes per factor: binning loses nothing
    assert r["dci_disentanglement"] >= 0.9 and r["dci_completeness"] >= 0.9 and r["dci_informativeness"] >= 0.95
    assert r["modularity"] >= 0.9 and r["explicitness"] >= 0.9
    assert r["sap"] >= 0.2


def test_random_code_scores_low(data):
    r = evaluate_representation(data, noise_code(), "all", random_state=0, overrides=SMALL, n_jobs=2)
    assert r["beta_vae_score"] <= 0.6 and r["factor_vae_score"] <= 0.6  # chance is 1/3
    assert r["mig"] <= 0.05 and r["sap"] <= 0.05
    assert r["dci_disentanglement"] <= 0.3 and r["dci_informativeness"] <= 0.5
    assert r["explicitness"] <= 0.6  # chance AUC is 0.5


def test_determinism_and_seed_independence_of_selection(data, perfect_result):
    again = evaluate_representation(data, perfect, "all", random_state=0, overrides=SMALL, n_jobs=1)
    strip = lambda r: {k: v for k, v in r.items() if k != "timings_s"}  # noqa: E731
    assert json.dumps(strip(again), sort_keys=True) == json.dumps(strip(perfect_result), sort_keys=True)
    alone = evaluate_representation(data, perfect, ["mig"], random_state=0, overrides=SMALL)
    assert alone["mig"] == perfect_result["mig"]  # each metric starts from its own generator
    other = evaluate_representation(data, noise_code(), ["factor_vae"], random_state=1, overrides=SMALL)
    same = evaluate_representation(data, noise_code(), ["factor_vae"], random_state=np.random.default_rng(1),
                                   overrides=SMALL)
    assert other["recipe"]["seed"] == 1 and same["recipe"]["seed"] != 1  # a Generator gives a drawn seed
    a = factor_vae_score(data, noise_code(), num_train=100, num_eval=50, num_variance_estimate=200, random_state=7)
    b = factor_vae_score(data, noise_code(), num_train=100, num_eval=50, num_variance_estimate=200, random_state=7)
    assert a == b


def test_fast_preset_reports_its_counts(data):
    r = evaluate_representation(data, identity, ["mig", "explicitness"], preset="fast", random_state=0)
    assert set(r) & SCORES == {"mig", "modularity", "explicitness"}
    assert r["recipe"]["counts"] == {"mig": PRESETS["fast"]["mig"], "modularity": PRESETS["fast"]["modularity"]}
    assert r["recipe"]["per_metric"]["mig"]["num_train"] == 2000
    assert r["recipe"]["per_metric"]["modularity"]["num_test"] == 1000
    assert PRESETS["reference"]["factor_vae"] == {"num_train": 10_000, "num_eval": 5_000,
                                                  "num_variance_estimate": 10_000, "batch_size": 64}


def test_bad_arguments(data):
    with pytest.raises(LatentLensError, match="unknown metric"):
        evaluate_representation(data, identity, ["nope"])
    with pytest.raises(LatentLensError, match="unknown preset"):
        evaluate_representation(data, identity, ["mig"], preset="slow")
    with pytest.raises(LatentLensError, match="cannot override"):
        evaluate_representation(data, identity, ["mig"], overrides={"mig": {"num_test": 3}})
    with pytest.raises(LatentLensError, match="ground-truth data"):
        evaluate_representation(object(), identity, ["mig"])


class TinyVAE(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mu = torch.nn.Linear(3, 2)
        self.drop = torch.nn.Dropout(0.5)

    def encode(self, x):
        mu = self.mu(self.drop(x))
        return mu, torch.full_like(mu, -2.0)


def test_vae_representation():
    torch.manual_seed(0)
    model = TinyVAE().train()
    x = torch.randn(50, 3)
    mean = vae_representation(model, batch_size=7)(x)
    assert model.training  # the mode is restored
    with torch.no_grad():
        np.testing.assert_allclose(mean, model.mu(x).numpy(), rtol=1e-6, atol=1e-6)  # eval mode: no dropout
    np.testing.assert_allclose(vae_representation(model, batch_size=50)(x.numpy()), mean, rtol=1e-5, atol=1e-6)
    s1 = vae_representation(model, mode="sampled", random_state=3)(x)
    s2 = vae_representation(model, mode="sampled", random_state=3)(x)
    np.testing.assert_array_equal(s1, s2)
    assert 0.1 < np.std(s1 - mean) < 0.6  # sigma = exp(-1)
    with pytest.raises(LatentLensError):
        vae_representation(model, mode="median")


def test_works_with_dsprites_and_a_vae():
    dsprites = pytest.importorskip("latentlens.data.dsprites")
    data = dsprites.DSprites()
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64 * 64, 8))

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def encode(self, x):
            h = self.encoder(x)
            return h[:, :4], h[:, 4:]

    overrides = {"mig": {"num_train": 300}, "factor_vae": {"num_train": 30, "num_eval": 20,
                                                             "num_variance_estimate": 100, "batch_size": 8}}
    r = evaluate_representation(data, vae_representation(Model()), ["mig", "factor_vae"], overrides=overrides)
    assert 0.0 <= r["mig"] <= 1.0 and 0.0 <= r["factor_vae_score"] <= 1.0
    assert np.array(r["mi_matrix"]["nats"]).shape == (4, 5)
    assert r["mi_matrix"]["factor_names"] == list(data.factor_names)


class _Deterministic:
    """A code that depends on the observation only (with a nonlinear twist), marked cacheable; it counts calls."""

    deterministic = True

    def __init__(self):
        self.images = 0

    def __call__(self, x):
        a = as_array(x)
        self.images += len(a)
        return np.c_[np.tanh(a[:, 0] - 1) + 0.1 * a[:, 1], a[:, 1] ** 1.5, a[:, 2] - 0.3 * a[:, 0]]


def test_cached_codes_give_the_same_scores_with_far_fewer_encodes(data):
    plain, cached = _Deterministic(), _Deterministic()
    a = evaluate_representation(data, plain, "all", random_state=3, overrides=SMALL, n_jobs=1, cache_codes=False)
    b = evaluate_representation(data, cached, "all", random_state=3, overrides=SMALL, n_jobs=1, cache_codes=True)
    for key in SCORES:
        assert a[key] == b[key], key
    assert cached.images <= 3 * 4 * 5 < plain.images  # each of the 60 distinct observations encoded once
    assert b["recipe"]["codes_cached"]["distinct_images_encoded"] == cached.images


def test_cache_is_automatic_only_when_it_pays_and_never_for_random_codes(data):
    rep = _Deterministic()
    small = evaluate_representation(data, rep, ["mig"], random_state=0, overrides={"mig": {"num_train": 20}})
    assert "codes_cached" not in small["recipe"]  # 20 draws of 60 images: no cache
    many = evaluate_representation(data, _Deterministic(), ["mig"], random_state=0, overrides={"mig": {"num_train": 500}})
    assert "codes_cached" in many["recipe"]
    noisy = evaluate_representation(data, noise_code(), ["mig"], random_state=0, overrides={"mig": {"num_train": 500}})
    assert "codes_cached" not in noisy["recipe"]
    with pytest.raises(LatentLensError, match="deterministic"):
        evaluate_representation(data, noise_code(), ["mig"], random_state=0, cache_codes=True)


def test_no_cache_for_data_whose_images_are_not_deterministic():
    class Noisy(SmallData):
        deterministic_images = False

    many = evaluate_representation(Noisy(), _Deterministic(), ["mig"], random_state=0, overrides={"mig": {"num_train": 500}})
    assert "codes_cached" not in many["recipe"]
