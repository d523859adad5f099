"""Invariances the recipes imply, checked where they hold exactly (or to rounding).

* Equal-width binning commutes with z -> a z + b for a > 0 up to rounding at bin edges; scaling by a power
  of two is exact in floating point, so MIG and modularity are *exactly* invariant to permuting dimensions and
  rescaling them by 2^e. Permuting codes permutes the MI matrix's rows.
* Trees split on orderings, so DCI's GBT is exactly invariant to 2^e rescaling (thresholds scale too; codes on
  a coarse grid avoid sklearn's 1e-7 "equal values" tolerance). Permuting features changes the order in which
  the splitter visits features, and small nodes deep in the trees often have several features with exactly
  the same best gain, so permutation invariance holds only approximately (checked to 0.01).
* Discrete SAP fits a LinearSVC per (code, factor): permuting codes permutes the score matrix, but the SVM's
  penalty is not scale-free, so it is *not* rescaling invariant. Continuous SAP (squared correlation) is
  invariant to any positive affine map.
* Explicitness standardises codes first, so it is invariant to positive affine maps up to solver tolerance.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentlens.metrics import compute_dci, compute_explicitness, compute_mig, compute_modularity, compute_sap


@st.composite
def codes_and_factors(draw, max_dims=4, max_points=40):
    n = draw(st.integers(8, max_points))
    d = draw(st.integers(2, max_dims))
    f = draw(st.integers(1, 3))
    codes = np.array(draw(st.lists(st.integers(-32, 32), min_size=n * d, max_size=n * d)),
                     dtype=np.float64).reshape(n, d) / 4.0
    sizes = draw(st.lists(st.integers(2, 4), min_size=f, max_size=f))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, s, n) for s in sizes], axis=1)
    factors[0], factors[1] = 0, 1  # every factor takes two values
    codes[:, 0] += factors[:, 0]  # some information to find
    perm = np.array(draw(st.permutations(range(d))))
    exponents = np.array(draw(st.lists(st.integers(-3, 3), min_size=d, max_size=d)), dtype=np.float64)
    return codes, factors, perm, 2.0**exponents


@settings(max_examples=40, deadline=None)
@given(codes_and_factors())
def test_mig_and_modularity_permutation_and_rescaling(case):
    codes, factors, perm, scale = case
    moved = codes[:, perm] * scale
    before, after = compute_mig(codes, factors), compute_mig(moved, factors)
    np.testing.assert_array_equal(np.array(after["mi_matrix"]), np.array(before["mi_matrix"])[perm])
    assert after["mig"] == pytest.approx(before["mig"], abs=1e-12)
    mod_before, mod_after = compute_modularity(codes, factors), compute_modularity(moved, factors)
    np.testing.assert_array_equal(mod_after["modularity_per_code"], np.array(mod_before["modularity_per_code"])[perm])
    assert mod_after["modularity"] == pytest.approx(mod_before["modularity"], abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(codes_and_factors(max_dims=3, max_points=30))
def test_dci_rescaling(case):
    codes, factors, _, scale = case
    half = codes.shape[0] // 2
    gbt = {"n_estimators": 10}

    def run(z):
        return compute_dci(z[:half], factors[:half], z[half:], factors[half:], random_state=3, gbt_params=gbt)

    before, after = run(codes), run(codes * scale)
    np.testing.assert_array_equal(after["importance_matrix"], before["importance_matrix"])
    for key in ("dci_disentanglement", "dci_completeness", "dci_informativeness"):
        assert after[key] == before[key]


def test_dci_permutation_on_continuous_codes():
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, 3, 300), rng.integers(0, 4, 300)], axis=1)
    codes = np.column_stack([factors[:, 0] + 0.3 * rng.normal(size=300), factors[:, 1] + 0.3 * rng.normal(size=300),
                             rng.normal(size=300)])
    perm = np.array([2, 0, 1])
    gbt = {"n_estimators": 20}
    before = compute_dci(codes[:200], factors[:200], codes[200:], factors[200:], gbt_params=gbt)
    after = compute_dci(codes[:200, perm], factors[:200], codes[200:, perm], factors[200:], gbt_params=gbt)
    np.testing.assert_allclose(np.array(after["importance_matrix"]), np.array(before["importance_matrix"])[perm],
                               rtol=0, atol=0.01)
    for key in ("dci_disentanglement", "dci_completeness", "dci_informativeness"):
        assert after[key] == pytest.approx(before[key], abs=0.01)


@settings(max_examples=15, deadline=None)
@given(codes_and_factors(max_dims=3, max_points=30))
def test_sap_discrete_permutation(case):
    codes, factors, perm, _ = case
    half = codes.shape[0] // 2
    before = compute_sap(codes[:half], factors[:half], codes[half:], factors[half:])
    after = compute_sap(codes[:half, perm], factors[:half], codes[half:, perm], factors[half:])
    np.testing.assert_array_equal(np.array(after["score_matrix"]), np.array(before["score_matrix"])[perm])
    assert after["sap"] == before["sap"]


@settings(max_examples=40, deadline=None)
@given(codes_and_factors(), st.floats(0.5, 4.0), st.floats(-3.0, 3.0))
def test_sap_continuous_permutation_and_affine(case, a, b):
    codes, factors, perm, _ = case
    before = compute_sap(codes, factors, continuous_factors=True)
    after = compute_sap(codes[:, perm] * a + b, factors, continuous_factors=True)
    np.testing.assert_allclose(np.array(after["score_matrix"]), np.array(before["score_matrix"])[perm],
                               rtol=0, atol=1e-9)
    assert after["sap"] == pytest.approx(before["sap"], abs=1e-9)


def test_sap_discrete_is_not_scale_invariant_but_equal_columns_tie():
    rng = np.random.default_rng(1)
    factors = rng.integers(0, 4, size=(600, 1))
    codes = np.column_stack([factors[:, 0] + 0.5 * rng.normal(size=600), rng.normal(size=600)])
    base = compute_sap(codes[:400], factors[:400], codes[400:], factors[400:])
    shrunk = compute_sap(codes[:400] * 1e-3, factors[:400], codes[400:] * 1e-3, factors[400:])
    assert base["sap"] != shrunk["sap"]  # C=0.01 on a tiny feature: the SVM cannot fit it


def test_explicitness_permutation_and_affine():
    rng = np.random.default_rng(2)
    factors = np.stack([rng.integers(0, 3, 500), rng.integers(0, 5, 500)], axis=1)
    codes = np.column_stack([factors + rng.normal(size=(500, 2)), rng.normal(size=500)])
    perm, a, b = np.array([1, 2, 0]), np.array([3.0, 0.2, 7.0]), np.array([1.0, -4.0, 0.5])
    before = compute_explicitness(codes[:300], factors[:300], codes[300:], factors[300:])
    moved = codes[:, perm] * a + b
    after = compute_explicitness(moved[:300], factors[:300], moved[300:], factors[300:])
    assert after["explicitness"] == pytest.approx(before["explicitness"], abs=1e-4)
    assert after["explicitness_train"] == pytest.approx(before["explicitness_train"], abs=1e-4)
