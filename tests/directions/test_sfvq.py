"""Space-filling vector quantization: the notes' numbers, projection, gradients, growth, persistence, lines."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latentlens.directions import SFVQDirections, SpaceFillingVQ, as_generator
from latentlens.directions.sfvq import Adam, decode, dithered_step, extend_codebook, project
from latentlens.explain.sfvq_panoptic import kmeans_mse, vq_mse
from latentlens.errors import LatentLensError
from latentlens.testing import KnownDirectionsGenerator


@pytest.fixture(scope="module")
def fitted_2d():
    torch.set_num_threads(1)
    x = torch.randn(2**15, 2, generator=torch.Generator().manual_seed(0))
    return x, SpaceFillingVQ(bits=6, epochs_per_bitrate=3, random_state=0).fit(x)


def test_two_dimensional_gaussian_matches_the_reference_numbers(fitted_2d):
    """Notes (numpy re-run of the reference training): curve MSE/dim 0.023, k-means (K = 64) 0.030,
    corners as a plain VQ 0.037, consecutive/random distance ratio 0.27."""
    x, q = fitted_2d
    mse = q.curve_mse(x)
    assert 0.023 * 0.8 <= mse <= 0.023 * 1.2, mse
    assert mse < kmeans_mse(x[:16384], 64) < vq_mse(x, q.codebook_)
    assert q.locality_ratio() <= 0.35
    perplexities = [h["perplexity"] for h in q.history_]
    assert all(a < b for a, b in zip(perplexities, perplexities[1:]))
    assert all(h["unused_corners"] == 0 for h in q.history_)
    assert [h["corners"] for h in q.history_] == [4, 8, 16, 32, 64]


def test_sixteen_dimensional_locality():
    x = torch.randn(2**14, 16, generator=torch.Generator().manual_seed(1))
    q = SpaceFillingVQ(bits=5, epochs_per_bitrate=2, random_state=0).fit(x)
    assert q.locality_ratio() <= 0.6


def test_projection_equals_a_brute_force_search_on_the_curve(fitted_2d):
    """exact: the nearest of dense points on the whole curve; paper (Eq. 5): the nearest on the two segments
    around the nearest corner."""
    _, q = fitted_2d
    c = q.codebook_
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(5)) * 1.5
    dense_index = torch.linspace(0, len(c) - 1, 200_001)
    dense = decode(c, dense_index)
    index, point = project(x, c, mode="exact")
    torch.testing.assert_close((x - point).norm(dim=1), torch.cdist(x, dense).min(1).values, atol=2e-4, rtol=0)
    torch.testing.assert_close(decode(c, index), point, atol=1e-5, rtol=0)
    paper_index, paper_point = project(x, c, mode="paper")
    nearest = torch.cdist(x, c).argmin(1).clamp(1, len(c) - 2)
    window = (dense_index[None, :] >= (nearest - 1)[:, None]) & (dense_index[None, :] <= (nearest + 1)[:, None])
    brute = torch.cdist(x, dense).masked_fill(~window, float("inf")).min(1).values
    torch.testing.assert_close((x - paper_point).norm(dim=1), brute, atol=2e-4, rtol=0)
    assert torch.all((x - point).norm(dim=1) <= (x - paper_point).norm(dim=1) + 1e-6)
    torch.testing.assert_close(q.inverse_transform(q.transform(x)), q.quantize(x), atol=1e-5, rtol=0)


def test_closed_form_step_gradient_equals_autograd():
    g = torch.Generator().manual_seed(3)
    codebook = torch.randn(16, 5, generator=g, dtype=torch.float64)
    x = torch.randn(64, 5, generator=g, dtype=torch.float64)
    lam = torch.rand(15, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    loss, grad, seg = dithered_step(codebook.numpy(), x.numpy(), lam.numpy())
    leaf = codebook.clone().requires_grad_(True)
    dithered = (1 - lam)[:, None] * leaf[:-1] + lam[:, None] * leaf[1:]
    assert np.array_equal(seg, torch.cdist(x, dithered.detach()).argmin(1).numpy())  # the nearest dithered point
    reference = (x - dithered[seg]).pow(2).mean()  # the reference code's loss with the same assignment
    reference.backward()
    assert loss == pytest.approx(reference.item(), rel=1e-12)
    torch.testing.assert_close(torch.from_numpy(grad), leaf.grad, rtol=1e-10, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(lr=st.floats(1e-4, 1e-1), seed=st.integers(0, 2**16))
def test_numpy_adam_takes_torch_adams_steps(lr, seed):
    rng = np.random.default_rng(seed)
    start, grads = rng.normal(size=(6, 3)), rng.normal(size=(12, 6, 3)) * rng.uniform(1e-3, 10)
    ours, adam = start.copy(), Adam(start.shape, lr)
    theirs = torch.nn.Parameter(torch.from_numpy(start.copy()))
    opt = torch.optim.Adam([theirs], lr=lr)
    for grad in grads:
        adam.step(ours, grad)
        theirs.grad = torch.from_numpy(grad.copy())
        opt.step()
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_growth_doubles_the_corners_on_the_same_curve():
    codebook = torch.randn(8, 3, generator=torch.Generator().manual_seed(2))
    grown = extend_codebook(codebook)
    assert grown.shape == (16, 3)
    torch.testing.assert_close(grown[0::2][:4], codebook[:4])  # left half: (j, j + 0.01)
    torch.testing.assert_close(grown[1::2][4:], codebook[4:])  # right half: (j - 0.01, j)
    _, on_curve = project(grown, codebook)
    torch.testing.assert_close(on_curve, grown, atol=1e-5, rtol=0)


def test_save_load_round_trip_and_errors(fitted_2d, tmp_path):
    x, q = fitted_2d
    q.save(tmp_path / "curve")
    back = SpaceFillingVQ.load(tmp_path / "curve")
    torch.testing.assert_close(back.codebook_, q.codebook_)
    torch.testing.assert_close(back.transform(x[:50]), q.transform(x[:50]))
    assert back.history_ == q.history_ and back.get_params() == q.get_params()
    (tmp_path / "curve.json").write_text('{"kind": "other"}')
    with pytest.raises(LatentLensError, match="not a latentlens SFVQ"):
        SpaceFillingVQ.load(tmp_path / "curve")
    with pytest.raises(LatentLensError, match="not fitted"):
        SpaceFillingVQ().transform(x)
    with pytest.raises(LatentLensError, match="bits"):
        SpaceFillingVQ(bits=1).fit(x)


class Elongated(KnownDirectionsGenerator):
    """Latents spread mostly along the first factor direction (as a trained model's latents spread along
    what varies most), with a little noise in every direction."""

    def sample_latents(self, n, generator=None):
        spread = torch.tensor([2.5, 0.8, 0.4, 0.2])
        f = torch.randn(n, self.n_factors, generator=generator) * spread
        return f @ self.true_directions() + 0.05 * torch.randn(n, self.latent_dim, generator=generator)


def test_a_line_direction_moves_its_factor_three_times_more_than_a_random_direction():
    g = Elongated(latent_dim=16, n_factors=4, seed=0)
    d = SFVQDirections(n_directions=2, bits=3, n_samples=3000, random_state=0).fit(as_generator(g)).directions_
    w = g.first.weight.detach()
    random = torch.randn(4000, 16, generator=torch.Generator().manual_seed(1))
    random = random / random.norm(dim=1, keepdim=True)
    change = (w @ d.basis[0]).abs()
    main = int(change.argmax())
    assert change[main] >= 3 * (random @ w[main]).abs().mean()
    assert d.extra["locality_ratio"] < 1 and d.score_name == "line_effect"
    assert torch.all(d.scores[:-1] >= d.scores[1:])


def test_histograms_separate_labels_that_occupy_different_stretches():
    import numpy as np

    from latentlens.explain.sfvq_panoptic import contiguous_runs, index_histograms, js_distance_matrix, mean_offdiagonal

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 3000)
    index = labels * 10 + rng.uniform(0, 8, 3000)  # label v lives on [10 v, 10 v + 8) of a 30-line curve
    h, values = index_histograms(index, labels, 30)
    assert values == [0, 1, 2] and np.allclose(h.sum(1), 1)
    js = js_distance_matrix(h)
    assert mean_offdiagonal(js) > 0.99 and np.allclose(np.diag(js), 0)
    assert [contiguous_runs(row) for row in h] == [1, 1, 1]
    mixed, _ = index_histograms(rng.uniform(0, 30, 3000), labels, 30)
    assert mean_offdiagonal(js_distance_matrix(mixed)) < 0.2


def test_small_data_still_gets_four_starting_corners_and_dotted_names_are_kept(tmp_path):
    from latentlens.directions.sfvq import norm_sorted_init

    assert norm_sorted_init(torch.randn(9, 2), 4).shape == (4, 2)
    q = SpaceFillingVQ(bits=2, epochs_per_bitrate=1).fit(torch.randn(9, 2))
    (tmp_path / "model.safetensors").write_bytes(b"keep me")
    q.save(tmp_path / "model.sfvq")
    assert (tmp_path / "model.safetensors").read_bytes() == b"keep me"
    assert (tmp_path / "model.sfvq.safetensors").is_file()
    torch.testing.assert_close(SpaceFillingVQ.load(tmp_path / "model.sfvq").codebook_, q.codebook_)
