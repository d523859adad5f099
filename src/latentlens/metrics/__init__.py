"""Metrics: disentanglement (disentanglement_lib recipes) and anomaly detection (``latentlens.metrics.anomaly``).

Disentanglement, against ground-truth factors (Locatello et al. 2019 recipes, numpy + scikit-learn):

* :func:`evaluate_representation` — every metric at once, ``preset="fast" | "reference"``, one flat dict;
* interventional (need data + representation function): :func:`beta_vae_score`, :func:`factor_vae_score`;
* on precomputed codes (n, d) and factor classes (n, F): :func:`compute_mig`, :func:`compute_dci`,
  :func:`compute_sap`, :func:`compute_modularity`, :func:`compute_explicitness`,
  :func:`compute_modularity_explicitness`; their data-driven forms :func:`mig_score`, :func:`dci_score`,
  :func:`sap_score`, :func:`modularity_explicitness_score`;
* closed forms: :func:`dci_disentanglement`, :func:`dci_completeness`, :func:`modularity_from_mi`;
* helpers: :func:`vae_representation`, :func:`histogram_discretize`, :func:`mutual_info_matrix`,
  :func:`discrete_entropy`, :func:`sample_codes`.
"""

from ._sampling import discrete_entropy, histogram_discretize, mutual_info_matrix, sample_codes
from .beta_vae import beta_vae_score
from .dci import compute_dci, dci_completeness, dci_disentanglement, dci_score
from .factor_vae import factor_vae_score
from .harness import METRICS, PRESETS, evaluate_representation
from .mig import compute_mig, mig_score
from .modularity import (
    compute_explicitness,
    compute_modularity,
    compute_modularity_explicitness,
    modularity_explicitness_score,
    modularity_from_mi,
)
from .representation import VAERepresentation, vae_representation
from .sap import compute_sap, sap_score

__all__ = [
    "METRICS",
    "PRESETS",
    "VAERepresentation",
    "beta_vae_score",
    "compute_dci",
    "compute_explicitness",
    "compute_mig",
    "compute_modularity",
    "compute_modularity_explicitness",
    "compute_sap",
    "dci_completeness",
    "dci_disentanglement",
    "dci_score",
    "discrete_entropy",
    "evaluate_representation",
    "factor_vae_score",
    "histogram_discretize",
    "mig_score",
    "modularity_explicitness_score",
    "modularity_from_mi",
    "mutual_info_matrix",
    "sample_codes",
    "sap_score",
    "vae_representation",
]
