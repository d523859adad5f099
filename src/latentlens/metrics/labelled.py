"""Disentanglement metrics of codes against the labels of real images (no renderer, no interventions).

For data a user labelled (a CSV of factors, or class sub-folders) only the observational metrics apply:
MIG (Chen et al. 2018), DCI (Eastwood & Williams 2018), SAP (Kumar et al. 2018) and modularity /
explicitness (Ridgeway & Mozer 2018), each with disentanglement_lib's recipe on the given points; the
BetaVAE and FactorVAE scores need batches with one factor held fixed, which only a generator of the data
(like dSprites) provides. The points are split once into a train and a test part (``test_fraction``,
seeded) for the metrics that fit classifiers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import LatentLensError
from .dci import compute_dci
from .mig import compute_mig
from .modularity import compute_modularity_explicitness
from .sap import compute_sap

OBSERVATIONAL = ("mig", "dci", "sap", "modularity")


def evaluate_codes(
    codes: Any, factors: Any, factor_names=None, metrics=OBSERVATIONAL, test_fraction: float = 1 / 3,
    random_state: int = 0, n_jobs: int | None = -1,
) -> dict[str, Any]:  # fmt: skip
    """Scores of ``codes`` (n, d) against discrete ``factors`` (n, F); see the module docstring."""
    z = np.asarray(codes, dtype=np.float64)
    y = np.asarray(factors)
    if z.ndim != 2 or y.ndim != 2 or len(z) != len(y):
        raise LatentLensError(f"codes (n, d) and factors (n, F) must match, got {z.shape} and {y.shape}")
    unknown = [m for m in metrics if m not in OBSERVATIONAL]
    if unknown:
        raise LatentLensError(f"{unknown} need interventions on the data; on labelled images use {', '.join(OBSERVATIONAL)}")
    if not 0 < test_fraction < 1:
        raise LatentLensError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if len(z) < 20:
        raise LatentLensError(f"need at least 20 labelled images for the metrics, got {len(z)}")
    order = np.random.default_rng(random_state).permutation(len(z))
    n_test = max(1, int(round(len(z) * test_fraction)))
    test, train = order[:n_test], order[n_test:]
    out: dict[str, Any] = {"num_points": int(len(z)), "num_train": int(len(train)), "num_test": int(len(test)),
                           "factor_names": list(factor_names or [f"factor_{k}" for k in range(y.shape[1])])}  # fmt: skip
    if "mig" in metrics:
        mig = compute_mig(z, y)
        out["mig"] = mig["mig"]
        out["mi_matrix"] = {"normalized": mig["mi_matrix_normalized"], "nats": mig["mi_matrix"],
                            "factor_names": out["factor_names"], "layout": "codes x factors"}  # fmt: skip
    if "dci" in metrics:
        dci = compute_dci(z[train], y[train], z[test], y[test], random_state=random_state, n_jobs=n_jobs)
        out.update({k: dci[k] for k in ("dci_disentanglement", "dci_completeness", "dci_informativeness")})
    if "sap" in metrics:
        out["sap"] = compute_sap(z[train], y[train], z[test], y[test], n_jobs=n_jobs)["sap"]
    if "modularity" in metrics:
        mod = compute_modularity_explicitness(z[train], y[train], z[test], y[test], n_jobs=n_jobs)
        out.update({k: mod[k] for k in ("modularity", "explicitness")})
    return out
