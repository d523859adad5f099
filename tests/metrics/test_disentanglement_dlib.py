"""disentanglement_lib's own unit-test expectations (``*_test.py``; research notes §2.9).

dlib's dummy data: 10 factors of 10 classes, observation = factor vector. The GBT-based DCI checks use 5
factors of 5 classes (2,500 trees instead of 10,000 per run); with 5 factors the duplicated code has 10
dimensions, so its completeness is exactly dlib's target 1 - ln2/ln10 = 0.699.
"""

import numpy as np
import pytest
from disent_fixtures import IdentityObservationsData, duplicated, identity, permuting, zeros
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import MultiLabelBinarizer

from latentlens.metrics import (
    beta_vae_score,
    compute_explicitness,
    compute_modularity,
    dci_completeness,
    dci_disentanglement,
    dci_score,
    factor_vae_score,
    mig_score,
    modularity_from_mi,
    sap_score,
)
from latentlens.metrics.modularity import LOGREG_PARAMS

LN2_LN10 = 1.0 - np.log(2) / np.log(10)
DIAG = np.diag(5.0 * np.ones(5))


@pytest.fixture(scope="module")
def dummy():
    return IdentityObservationsData(10, 10)


# ---- closed forms on importance matrices (dci_test.py, modularity_explicitness_test.py) ----------------

@pytest.mark.parametrize(("matrix", "d", "c", "m"), [
    (DIAG, 1.0, 1.0, 1.0),
    (np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), 1.0, 1.0, 2.0 / 3.0),
    (np.zeros((10, 10)), 0.0, 0.0, 0.0),
    (np.vstack([DIAG, DIAG]), 1.0, LN2_LN10, 1.0),  # redundant codes
    (DIAG[:2, :], 1.0, 1.0, 1.0),  # missed factors
    (np.hstack([DIAG, DIAG]), LN2_LN10, 1.0, 1.0 - 1.0 / 9.0),  # one code, two factors
], ids=["diagonal", "empty-codes", "zero", "redundant", "missed-factors", "one-code-two-factors"])
def test_closed_forms(matrix, d, c, m):
    assert dci_disentanglement(matrix) == pytest.approx(d, abs=1e-9)
    assert dci_completeness(matrix) == pytest.approx(c, abs=1e-9)
    assert modularity_from_mi(matrix) == pytest.approx(m, abs=1e-9)


# ---- interventional metrics ----------------------------------------------------------------------------

def test_beta_vae_identity(dummy):
    result = beta_vae_score(dummy, identity, num_train=2000, num_eval=2000, batch_size=5, random_state=0)
    assert 0.9 <= result["beta_vae_score"] <= 1.0
    assert result["recipe"]["num_train"] == 2000 and result["recipe"]["batch_size"] == 5


def test_factor_vae_identity_and_zeros(dummy):
    kwargs = {"num_train": 3000, "num_eval": 2000, "num_variance_estimate": 2500, "batch_size": 5}
    good = factor_vae_score(dummy, identity, random_state=0, **kwargs)
    assert 0.9 <= good["factor_vae_score"] <= 1.0
    assert good["num_active_dims"] == 10
    bad = factor_vae_score(dummy, zeros, random_state=0, **kwargs)
    assert bad["factor_vae_score"] <= 0.2 and bad["num_active_dims"] == 0


# ---- MIG, SAP ------------------------------------------------------------------------------------------

def test_mig(dummy):
    assert 0.9 <= mig_score(dummy, identity, num_train=3000)["mig"] <= 1.0
    assert mig_score(dummy, zeros, num_train=3000)["mig"] <= 0.2
    assert mig_score(dummy, duplicated, num_train=3000)["mig"] <= 0.1


def test_sap(dummy):
    kwargs = {"num_train": 3000, "num_test": 3000, "continuous_factors": True}
    assert 0.9 <= sap_score(dummy, identity, **kwargs)["sap"] <= 1.0
    assert sap_score(dummy, zeros, **kwargs)["sap"] <= 0.2
    assert sap_score(dummy, duplicated, **kwargs)["sap"] <= 0.2
    # discrete (LinearSVC) variant: equal columns give equal accuracies, so the gap is exactly 0
    small = IdentityObservationsData(3, 4)
    discrete = {"num_train": 400, "num_test": 200}
    assert sap_score(small, zeros, **discrete)["sap"] == 0.0
    assert sap_score(small, duplicated, **discrete)["sap"] == 0.0
    assert sap_score(small, identity, **discrete)["sap"] > 0.2


# ---- DCI -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def five():
    return IdentityObservationsData(5, 5)


def test_dci_identity(five):
    result = dci_score(five, identity, num_train=300, num_test=200, n_jobs=2)
    assert result["dci_disentanglement"] >= 0.9 and result["dci_completeness"] >= 0.9
    assert result["dci_informativeness"] >= 0.9


def test_dci_permuted_codes(five):
    result = dci_score(five, permuting(0), num_train=300, num_test=200, n_jobs=2)
    assert result["dci_disentanglement"] <= 0.2 and result["dci_completeness"] <= 0.2


def test_dci_duplicated_latents(five):
    result = dci_score(five, duplicated, num_train=300, num_test=200, n_jobs=2)
    assert result["dci_disentanglement"] >= 0.9
    assert result["dci_completeness"] == pytest.approx(LN2_LN10, abs=0.05)  # dlib: +-0.1


# ---- modularity, explicitness --------------------------------------------------------------------------

def test_modularity(dummy):
    rng = np.random.default_rng(0)
    factors = dummy.sample_factors(3000, rng)
    assert compute_modularity(identity(factors), factors)["modularity"] >= 0.9
    assert compute_modularity(duplicated(factors), factors)["modularity"] >= 0.9
    many = dummy.sample_factors(20_000, rng)
    assert compute_modularity(permuting(1)(many), many)["modularity"] <= 0.2


def test_explicitness_identity_and_equals_dlib_code():
    data = IdentityObservationsData(4, 6)
    rng = np.random.default_rng(0)
    train, test = data.sample_factors(400, rng), data.sample_factors(300, rng)
    assert compute_explicitness(identity(train), train, identity(test), test)["explicitness"] >= 0.9
    # against dlib's explicitness_per_factor (MultiLabelBinarizer + roc_auc_score) on noisy codes
    codes_train = train + rng.normal(scale=2.0, size=train.shape)
    codes_test = test + rng.normal(scale=2.0, size=test.shape)
    ours = compute_explicitness(codes_train, train, codes_test, test, n_jobs=2)
    mean, std = codes_train.mean(axis=0), codes_train.std(axis=0)
    x_train, x_test = (codes_train - mean) / std, (codes_test - mean) / std
    reference_train, reference_test = [], []
    for k in range(train.shape[1]):
        clf = LogisticRegression(**LOGREG_PARAMS).fit(x_train, train[:, k])
        mlb = MultiLabelBinarizer()
        reference_train.append(roc_auc_score(mlb.fit_transform(train[:, k:k + 1]), clf.predict_proba(x_train)))
        reference_test.append(roc_auc_score(mlb.fit_transform(test[:, k:k + 1]), clf.predict_proba(x_test)))
    assert ours["explicitness_train"] == pytest.approx(np.mean(reference_train), abs=1e-12)
    assert ours["explicitness"] == pytest.approx(np.mean(reference_test), abs=1e-12)
    assert 0.5 < ours["explicitness"] < 0.95
