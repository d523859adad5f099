"""Every model shipped in the zoo loads, matches its config and recipe, and reproduces a recorded metric."""

import shlex

import pytest
import torch

from latentlens import zoo
from latentlens.io import read_json

SHIPPED = zoo.available()


def test_the_zoo_ships_models_within_its_size_budget():
    assert "dsprites-factor-predictor" in SHIPPED
    total = sum(f.stat().st_size for f in zoo.WEIGHTS_DIR.rglob("*") if f.is_file())
    assert total <= 30 * 2**20, total


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_matches_its_config_and_recipe(name):
    folder = zoo.model_dir(name)
    config, provenance = read_json(folder / "config.json"), read_json(folder / "provenance.json")
    model = zoo.load(name)
    assert not model.training
    assert model.config_dict() == config["model"]
    recipe = zoo.get_recipe(name)
    argv, recipe_argv = shlex.split(provenance["command"])[1:], recipe.argv("OUT")
    assert argv[: len(recipe_argv)] == recipe_argv
    assert argv[len(recipe_argv) :] in ([], ["--device", config["train"].get("device", "cpu")])  # where it trained
    assert provenance["kind"] == recipe.kind and provenance["steps"] == config["train"]["steps"]
    for key in ("commit", "wall_time_s", "machine", "metrics", "trained_at"):
        assert provenance.get(key), key


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_reproduces_a_recorded_metric(name):
    recipe = zoo.get_recipe(name)
    recorded = zoo.info(name)["metrics"]
    torch.set_num_threads(2)
    if recipe.score == "factor_predictor":
        from latentlens.metrics.factor_predictor import predictor_accuracy

        now = predictor_accuracy(zoo.load(name))
        assert now["shape_accuracy"] == pytest.approx(recorded["shape_accuracy"], abs=0.005)
        assert now["posX_mae_classes"] == pytest.approx(recorded["posX_mae_classes"], abs=0.02)
    elif recipe.score == "disentanglement":
        from latentlens.data.dsprites import DSprites
        from latentlens.metrics import evaluate_representation, vae_representation

        assert recorded["preset"] == "fast"
        now = evaluate_representation(DSprites(), vae_representation(zoo.load(name)), ["mig"], "fast", 0)
        assert now["mig"] == pytest.approx(recorded["mig"], abs=0.02)
    elif recipe.score == "gan_shapes":
        from latentlens.metrics.sample_statistics import gan_shape_statistics

        now = gan_shape_statistics(zoo.load(name), n=recorded["num_samples"])
        for key in ("fraction_square", "fraction_ellipse", "fraction_heart", "intensity_ratio"):
            assert now[key] == pytest.approx(recorded[key], abs=0.01), key
    elif recipe.score == "ddpm_shapes":
        from latentlens.metrics.sample_statistics import ddpm_shape_statistics

        # The same 100 DDIM samples (seed 0) as the recorded check: another CPU's rounding may change how a
        # sample or two read, nothing more.
        check = recorded["first_100_samples"]
        now = ddpm_shape_statistics(zoo.load(name), n=100, steps=recorded["ddim_steps"])
        for key in ("fraction_square", "fraction_ellipse", "fraction_heart"):
            assert now[key] == pytest.approx(check[key], abs=0.02), key
        assert now["intensity_ratio"] == pytest.approx(check["intensity_ratio"], abs=0.01)
    else:
        pytest.fail(f"no check for score {recipe.score!r}")
