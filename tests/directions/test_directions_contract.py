"""The shared contract every registered direction finder passes (driven by the registry)."""

from __future__ import annotations

import pytest
import torch

from latentlens.directions import Directions, build_finder, method_names
from latentlens.errors import LatentLensError
from latentlens.registry import get

# keep learned methods tiny in the contract test
FAST = {"voynov": {"n_steps": 4, "batch_size": 8, "n_eval": 32}, "ganspace": {"n_samples": 400},
        "sfvq": {"bits": 3, "n_samples": 400, "epochs_per_bitrate": 1}, "latentclr": {"n_steps": 4, "batch_size": 8}}
K = 3


def test_registry_lists_all_methods():
    assert {"random", "coordinate", "ganspace", "sefa", "voynov"} <= set(method_names())


@pytest.fixture(scope="module")
def fitted(request):
    from dir_tiny_models import TinyGenerator

    gen = TinyGenerator()
    out = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the tests that refit (module fixtures run before the autouse one-thread one)
    try:
        for name in method_names():
            finder = build_finder(name, n_directions=K, random_state=0, **FAST.get(name, {}))
            assert finder.fit(gen) is finder
            out[name] = (finder, gen)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.mark.parametrize("name", method_names())
def test_shapes_norms_and_provenance(fitted, name):
    finder, gen = fitted[name]
    d = finder.directions_
    assert isinstance(d, Directions)
    assert d.basis.shape == (K, gen.latent_dim)
    assert d.scales.shape == (K,) and d.scores.shape == (K,)
    assert finder.scores_.shape == (K,)
    assert torch.isfinite(d.basis).all()
    if d.unit_norm:
        torch.testing.assert_close(d.basis.norm(dim=1), torch.ones(K), atol=1e-5, rtol=0)
    if d.orthonormal:
        torch.testing.assert_close(d.gram(), torch.eye(K, dtype=torch.float64), atol=1e-5, rtol=0)
    assert d.method == name
    assert len(d.model_hash) == 16
    assert d.params == {k: v for k, v in finder.get_params().items() if k != "show_progress"}


@pytest.mark.parametrize("name", method_names())
def test_deterministic_for_a_seed(fitted, name):
    finder, gen = fitted[name]
    again = build_finder(name, **finder.get_params()).fit(gen)
    torch.testing.assert_close(again.directions_.basis, finder.directions_.basis, atol=1e-6, rtol=0)
    torch.testing.assert_close(again.directions_.scores, finder.directions_.scores, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", method_names())
def test_save_load_round_trip(fitted, name, tmp_path):
    finder, _ = fitted[name]
    d = finder.directions_
    path = d.save(tmp_path / name)
    assert path.suffix == ".safetensors" and (tmp_path / f"{name}.json").is_file()
    back = Directions.load(tmp_path / f"{name}.json")
    assert torch.equal(back.basis, d.basis) and torch.equal(back.scales, d.scales)
    assert torch.equal(back.scores, d.scores)
    assert back.sidecar() == d.sidecar()


@pytest.mark.parametrize("name", method_names())
def test_estimator_conventions(name):
    cls = get("directions", name)
    finder = cls()
    params = finder.get_params()
    assert not any(k.endswith("_") for k in vars(finder))  # __init__ stores, never fits
    assert set(params) == set(vars(finder))
    clone = cls(**params)
    assert clone.get_params() == params
    with pytest.raises(LatentLensError):
        finder.set_params(not_a_parameter=1)
    with pytest.raises(LatentLensError):
        finder.transform(torch.zeros(1, 4))


@pytest.mark.parametrize("name", method_names())
def test_too_many_directions_is_a_clear_error(name):
    from dir_tiny_models import TinyGenerator

    kwargs = {"n_directions": 50, **FAST.get(name, {})}
    if name == "voynov":
        kwargs["deformator"] = "ortho"
    with pytest.raises(LatentLensError, match="n_directions|at most"):
        build_finder(name, **kwargs).fit(TinyGenerator())


def test_load_errors(tmp_path, fitted):
    with pytest.raises(LatentLensError, match="missing directions file"):
        Directions.load(tmp_path / "nope")
    finder, _ = fitted["sefa"]
    finder.directions_.save(tmp_path / "a")
    (tmp_path / "a.json").unlink()
    with pytest.raises(LatentLensError, match="sidecar"):
        Directions.load(tmp_path / "a.safetensors")
    finder.directions_.save(tmp_path / "b")
    (tmp_path / "b.json").write_text('{"kind": "latentlens.directions", "format_version": 99}')
    with pytest.raises(LatentLensError, match="format version 99"):
        Directions.load(tmp_path / "b")
    finder.directions_.save(tmp_path / "c")
    (tmp_path / "c.safetensors").write_bytes(b"garbage")
    with pytest.raises(LatentLensError, match="corrupt"):
        Directions.load(tmp_path / "c")


def test_traverse_and_edit(fitted):
    finder, gen = fitted["sefa"]
    d = finder.directions_
    z = torch.zeros(2, gen.latent_dim)
    imgs = d.traverse(gen, z, 0, [-1.0, 0.0, 1.0])
    assert imgs.shape == (6, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(imgs[1], gen(z[:1])[0])
    torch.testing.assert_close(d.edit(z, 1, 2.0)[0], 2.0 * d.scales[1] * d.basis[1])


def test_adapters_for_latentlens_models_and_plain_modules():
    from latentlens.directions import GANGenerator, ModuleGenerator, VAEDecoderGenerator, as_generator
    from latentlens.models import build_model

    vae = build_model("vae", {"image_size": 32, "latent_dim": 3})
    gen = as_generator(vae)
    assert isinstance(gen, VAEDecoderGenerator) and gen.first_layer == "decoder_fc.0"
    assert gen.first_layer_weight().shape == (256, 3)
    z = gen.sample_latents(2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        imgs = gen(z)
        assert imgs.shape == (2, 1, 32, 32) and 0 <= imgs.min() and imgs.max() <= 1
        assert gen.features(z, "decoder_fc.0").shape == (2, 256)
    bank = torch.arange(12.0).view(4, 3)
    post = VAEDecoderGenerator(vae, latent_bank=bank)
    drawn = post.sample_latents(50, torch.Generator().manual_seed(0))
    assert all(any(torch.equal(row, b) for b in bank) for row in drawn)
    with pytest.raises(LatentLensError, match="latent_bank"):
        VAEDecoderGenerator(vae, latent_bank=torch.zeros(4, 5))
    images = torch.rand(6, 1, 32, 32)
    assert VAEDecoderGenerator.with_posterior(vae, images).latent_bank.shape == (6, 3)

    gan = build_model("gan", {"width": 4, "latent_dim": 5})
    g = as_generator(gan)
    assert isinstance(g, GANGenerator) and g.first_layer_weight().shape == (4 * 8 * 16, 5)
    assert g.model_hash() != gen.model_hash()

    plain = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 4, 4)))
    m = as_generator(plain, output_range="tanh")
    assert isinstance(m, ModuleGenerator) and m.latent_dim == 2 and m.first_layer == "0"
    with torch.no_grad():
        out = m(torch.zeros(1, 2))
    assert out.shape == (1, 1, 4, 4) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(LatentLensError, match="shape"):
        m(torch.zeros(1, 3))
    with pytest.raises(LatentLensError, match="no layer"):
        m.features(torch.zeros(1, 2), "nope")


@pytest.mark.parametrize("name", method_names())
def test_misspelt_parameters_are_refused_with_the_valid_names(name):
    with pytest.raises(LatentLensError, match=r"no parameter 'n_direction'.*valid: .*n_directions"):
        build_finder(name, n_direction=3)
    build_finder(name, n_directions=3, random_state=0, show_progress=False, n_steps=5)  # generic options pass


def test_fuzzed_directions_sidecars_load_or_fail_with_one_line(tmp_path):
    import json

    from hypothesis import HealthCheck, example, given, settings, strategies as st

    basis = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0)))[0][:2]
    Directions(basis=basis, method="test").save(tmp_path / "d")
    good = json.loads((tmp_path / "d.json").read_text())
    values = st.none() | st.booleans() | st.integers(-5, 10**9) | st.floats() | st.text(max_size=5) | st.lists(
        st.integers(), max_size=3)  # fmt: skip

    @given(key=st.sampled_from(sorted(good)), value=values)
    @example(key="format_version", value="\n")  # found by this test: raw values used to reach the message
    @example(key="n_directions", value="\n")
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    def check(key, value):
        (tmp_path / "d.json").write_text(json.dumps({**good, key: value}))
        try:
            d = Directions.load(tmp_path / "d")
        except LatentLensError as exc:
            assert "\n" not in str(exc)
        else:
            assert d.basis.shape == (2, 4)
            d.label(0), repr(d)

    check()
