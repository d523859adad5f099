"""The vectorised mutual-information machinery equals sklearn; the 20-bin MIG ceiling on dSprites is 0.902."""

import numpy as np
import pytest
from disent_fixtures import DSPRITES_SIZES
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import mutual_info_score

from latentlens.metrics import compute_mig, discrete_entropy, histogram_discretize, mutual_info_matrix


def _sklearn_mi(codes, factors):
    return np.array([[mutual_info_score(factors[:, k], codes[:, j]) for k in range(factors.shape[1])]
                     for j in range(codes.shape[1])])


@pytest.mark.parametrize(("n", "d", "seed"), [(2000, 6, 0), (37, 3, 1), (1, 2, 2), (5, 4, 3)])
def test_mi_matrix_equals_sklearn_on_random_data(n, d, seed):
    rng = np.random.default_rng(seed)
    sizes = (3, 6, 40, 32, 1)
    factors = np.stack([rng.integers(0, s, n) for s in sizes], axis=1)
    codes = rng.normal(size=(n, d)).astype(np.float32)
    codes[:, 0] = factors[:, 2] * 0.25 + rng.normal(scale=0.1, size=n)
    codes[:, -1] = 3.0  # a constant dimension
    binned = histogram_discretize(codes)
    np.testing.assert_allclose(mutual_info_matrix(binned, factors), _sklearn_mi(binned, factors), rtol=0, atol=1e-13)
    entropy = [mutual_info_score(factors[:, k], factors[:, k]) for k in range(len(sizes))]
    np.testing.assert_allclose(discrete_entropy(factors), entropy, rtol=0, atol=1e-13)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mi_matrix_accepts_arbitrary_labels():
    rng = np.random.default_rng(5)
    a = rng.choice([-7, 0, 3, 10**9], size=(300, 3))
    b = rng.choice([0.5, -2.25, 8.0], size=(300, 2))
    np.testing.assert_allclose(mutual_info_matrix(a, b), _sklearn_mi(a, b), rtol=0, atol=1e-13)


@settings(max_examples=40, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(1, 60), st.integers(1, 5)), elements=st.integers(0, 7)),
       st.integers(0, 2**32 - 1))
def test_mi_matrix_equals_sklearn_property(codes, seed):
    rng = np.random.default_rng(seed)
    factors = rng.integers(0, rng.integers(1, 9), size=(codes.shape[0], 3))
    np.testing.assert_allclose(mutual_info_matrix(codes, factors), _sklearn_mi(codes, factors), rtol=0, atol=1e-13)


def test_histogram_discretize_is_dlib_binning():
    rng = np.random.default_rng(0)
    codes = np.column_stack([rng.normal(size=500), np.full(500, 2.0), np.linspace(-1, 1, 500)]).astype(np.float32)
    binned = histogram_discretize(codes)
    for j in range(codes.shape[1]):
        expected = np.digitize(codes[:, j], np.histogram(codes[:, j], 20)[1][:-1])
        np.testing.assert_array_equal(binned[:, j], expected)
    assert binned[:, 0].min() == 1 and binned[:, 0].max() == 20
    assert np.all(binned[:, 1] == binned[0, 1])  # a constant dimension is one bin
    assert np.all(np.bincount(binned[:, 2])[1:] == 25)  # equal-width bins of a uniform grid


def test_mig_ceiling_of_the_identity_code_on_dsprites_sizes():
    """z = factor classes: 20 bins cannot separate 40 orientations or 32 positions, so MIG < 1.

    On the exhaustive grid (every combination once; other codes exactly independent) the ceiling is
    (1 + 1 + ln20/ln40 + 2 * 0.850) / 5 = 0.9024. With 10,000 uniform samples the plug-in MI of the
    independent codes is biased upwards by ~(B-1)(K-1)/2n, which lowers the dlib-recipe value to ~0.896.
    """
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in DSPRITES_SIZES], indexing="ij"), axis=-1).reshape(-1, 5)
    exhaustive = compute_mig(grid.astype(np.float64), grid)
    assert exhaustive["mig"] == pytest.approx(0.902, abs=0.0005)
    gaps = exhaustive["mig_per_factor"]
    assert gaps[:2] == pytest.approx([1.0, 1.0], abs=1e-12)
    assert gaps[2] == pytest.approx(np.log(20) / np.log(40), abs=1e-12)  # two orientations per bin

    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, s, 10_000) for s in DSPRITES_SIZES], axis=1)
    sampled = compute_mig(factors.astype(np.float64), factors)
    assert 0.890 < sampled["mig"] < exhaustive["mig"]
    assert sampled["mig"] == pytest.approx(0.902, abs=0.01)
    assert sampled["recipe"]["num_bins"] == 20 and sampled["recipe"]["num_train"] == 10_000
    assert np.array(sampled["mi_matrix"]).shape == (5, 5)
