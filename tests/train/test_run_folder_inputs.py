"""Run folders as a hostile user (or a crashed disk) leaves them: bad config values, bad weights, fuzzed."""

import json

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings, strategies as st

from latentlens.data.sources import TensorSource
from latentlens.errors import LatentLensError
from latentlens.io import load_tensors, save_tensors
from latentlens.train.checkpoint import load_model
from latentlens.train.loop import TrainSettings
from latentlens.train.vae import train_vae


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    images = (torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.6).to(torch.uint8) * 255
    train_vae(TensorSource(images), run, TrainSettings(steps=1, batch_size=4, progress=False), {"image_size": 32})
    return run


def _copy(run, tmp_path):
    import shutil

    dest = tmp_path / "copy"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(run, dest)
    return dest


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"format_version": "abc"}, "format_version"),
        ({"format_version": -1}, "format_version"),
        ({"format_version": 99}, "newer latentlens"),
        ({"kind": 5}, "'kind' must be a name"),
        ({"model": {"latent_dim": -3}}, "latent_dim"),
        ({"model": {"latent_dim": "ten"}}, "latent_dim"),
        ({"model": {"image_size": 10**9}}, "image_size"),
        ({"model": {"latent_dim": True}}, "latent_dim"),
        ({"train": [1, 2]}, "'train' must be an object"),
        ({"kind": "transformer"}, "unknown model"),
    ],
)  # fmt: skip
def test_bad_config_values_are_one_line_errors(good_run, tmp_path, change, fragment):
    run = _copy(good_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(LatentLensError, match=fragment):
        load_model(run)


def test_nan_weights_are_refused(good_run, tmp_path):
    run = _copy(good_run, tmp_path)
    state = load_tensors(run / "model.safetensors")
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = torch.full_like(state[name], float("nan"))
    save_tensors(run / "model.safetensors", state)
    with pytest.raises(LatentLensError, match="NaN or infinite weights"):
        load_model(run)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@given(key=st.sampled_from(["format_version", "kind", "model", "train", "objective", "in_channels", "latent_dim",
                            "image_size", "hidden", "encoder_kernels"]), value=JSON)  # fmt: skip
@example(key="model", value={"\n": 0})  # found by this test: an unknown field's name used to reach the message raw
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzzed_configs_load_or_fail_with_one_line(good_run, tmp_path, key, value):
    run = _copy(good_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    if key in config:
        config[key] = value
    else:
        config["model"][key] = value
    (run / "config.json").write_text(json.dumps(config))
    try:
        load_model(run)
    except LatentLensError as exc:
        assert "\n" not in str(exc)


@given(cut=st.integers(0, 2000), noise=st.binary(max_size=64))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzzed_safetensors_files_fail_with_one_line(good_run, tmp_path, cut, noise):
    run = _copy(good_run, tmp_path)
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[:cut] + noise)
    try:
        load_model(run)
    except LatentLensError as exc:
        assert "\n" not in str(exc)
