"""Which ground-truth factor does each latent dimension follow?

For codes ``(N, D)`` and factor classes ``(N, F)``: the mutual information between each code dimension
(discretised into 20 equal-width bins, the disentanglement_lib recipe of Chen et al.'s MIG) and each
factor, divided by the factor's entropy (so 1 means the dimension determines the factor up to binning),
and the absolute Spearman rank correlation as a second, binning-free view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from ..metrics import discrete_entropy, histogram_discretize, mutual_info_matrix


@dataclass(frozen=True)
class LatentFactorTable:
    normalized_mi: np.ndarray  # (D, F): I(z_j; v_k) / H(v_k)
    abs_spearman: np.ndarray  # (D, F)
    factor_names: tuple[str, ...]
    latent_std: np.ndarray  # (D,) spread of each dimension's code

    def follows(self, min_mi: float = 0.05) -> list[str]:
        """The factor each dimension follows best, or "-" when it carries (almost) nothing."""
        best = self.normalized_mi.argmax(1)
        return [
            self.factor_names[k] if self.normalized_mi[j, k] >= min_mi else "-" for j, k in enumerate(best)
        ]


def latent_factor_table(codes: np.ndarray, factors: np.ndarray, factor_names, bins: int = 20) -> LatentFactorTable:
    codes = np.asarray(codes, np.float64)
    factors = np.asarray(factors)
    mi = mutual_info_matrix(histogram_discretize(codes, bins), factors)
    entropy = discrete_entropy(factors)
    normalized = mi / np.where(entropy > 0, entropy, 1.0)[None, :]
    ranks_z, ranks_f = rankdata(codes, axis=0), rankdata(factors, axis=0)
    rz = (ranks_z - ranks_z.mean(0)) / np.maximum(ranks_z.std(0), 1e-12)
    rf = (ranks_f - ranks_f.mean(0)) / np.maximum(ranks_f.std(0), 1e-12)
    spearman = np.abs(rz.T @ rf) / len(codes)
    return LatentFactorTable(normalized, spearman, tuple(factor_names), codes.std(0))
