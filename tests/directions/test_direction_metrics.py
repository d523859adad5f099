"""Direction metrics: RCA separates distinct from duplicated directions; alignment finds the factor a
direction moves; post-hoc MIG prefers the axis-aligned basis; summaries are mean +- sd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dir_tiny_models import BlobGenerator

from latentlens.metrics.directions import (
    FACTOR_NAMES,
    alignment_summary,
    factor_effects,
    posthoc_scores,
    reconstructor_accuracy,
    summarize,
)
from latentlens.metrics.mig import compute_mig


def test_rca_separates_distinct_from_duplicated_directions():
    gen = BlobGenerator()
    kw = dict(n_train=1200, n_eval=400, epochs=3, batch_size=48, random_state=0)
    distinct = reconstructor_accuracy(gen, torch.eye(4), **kw)
    duplicated = reconstructor_accuracy(gen, torch.eye(4)[[0, 0, 1, 2]], **kw)
    assert distinct["rca"] > 0.6  # chance 0.25
    assert distinct["rca"] > duplicated["rca"] + 0.1
    # the two copies of e0 cannot be told apart: each is right about half the time at best
    assert max(duplicated["per_direction_accuracy"][:2]) < 0.8
    assert distinct["chance"] == 0.25 and len(distinct["per_direction_accuracy"]) == 4


class MomentPredictor:
    """Oracle-like predictor for BlobGenerator images: centroid -> posX/posY, spread -> scale."""

    def predict(self, x):
        img = x[:, 0].double()
        h, w = img.shape[-2:]
        mass = img.sum((1, 2)).clamp_min(1e-9)
        ys = torch.linspace(0, 1, h, dtype=torch.float64)[None, :, None]
        xs = torch.linspace(0, 1, w, dtype=torch.float64)[None, None, :]
        cx = (img * xs).sum((1, 2)) / mass
        cy = (img * ys).sum((1, 2)) / mass
        spread = ((img * ((xs - cx[:, None, None]) ** 2 + (ys - cy[:, None, None]) ** 2)).sum((1, 2)) / mass).sqrt()
        n = len(x)
        return {
            "shape": torch.full((n, 3), 1 / 3, dtype=torch.float64),
            "scale": 3 * spread, "posX": cx, "posY": cy,
            "orientation": torch.tensor([[1.0, 0.0]], dtype=torch.float64).expand(n, 2),
        }  # fmt: skip


def test_alignment_finds_the_factor_each_axis_moves():
    gen = BlobGenerator()
    eff = factor_effects(gen, torch.eye(4), MomentPredictor(), n_samples=48, amplitude=2.0)
    assert eff.shape == (4, 5)
    summary = alignment_summary(eff, min_effect=0.01)
    assert summary["main_factor"][0] == "posX" and summary["main_factor"][1] == "posY"
    assert summary["main_factor"][3] == "scale"
    assert summary["purity_per_direction"][0] > 0.9 and summary["purity_per_direction"][1] > 0.9
    assert {"posX", "posY", "scale"} <= set(summary["controlled_factors"])
    # a 45-degree mix of the two position axes is impure
    mix = torch.tensor([[1.0, 1.0, 0.0, 0.0]]) / 2**0.5
    mixed = alignment_summary(factor_effects(gen, mix, MomentPredictor(), n_samples=48), min_effect=0.01)
    assert mixed["purity_per_direction"][0] < 0.75


def test_alignment_summary_on_a_known_matrix():
    eff = torch.tensor([
        [0.0, 0.0, 0.0, 0.9, 0.1],   # posX, purity 0.9
        [0.5, 0.5, 0.0, 0.0, 0.0],   # shape/scale tie -> impure
        [0.0, 0.0, 0.0, 0.0, 0.05],  # too small to count
        [0.0, 0.8, 0.0, 0.0, 0.0],   # scale, pure
    ])  # fmt: skip
    s = alignment_summary(eff, purity_threshold=0.7, min_effect=0.15)
    assert s["controlled_factors"] == ["posX", "scale"] and s["factors_controlled"] == 2
    assert s["best_direction_per_factor"] == {"posX": 0, "shape": 1, "scale": 3}
    assert s["purity"] == pytest.approx((0.9 + 0.5 + 1.0) / 3)
    assert s["n_active"] == 3
    assert s["factor_names"] == list(FACTOR_NAMES)


def test_posthoc_mig_prefers_the_axis_aligned_basis():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 10, size=(1500, 3))
    latents = factors + 0.05 * rng.standard_normal(factors.shape)
    tr, te = slice(0, 1000), slice(1000, 1500)
    args = (latents[tr], factors[tr], latents[te], factors[te])
    aligned = posthoc_scores(*args, np.eye(3), gbt_params={"n_estimators": 5})
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    rotated = posthoc_scores(*args, q.T, gbt_params={"n_estimators": 5})
    assert aligned["mig"] > 0.5 and aligned["mig"] > rotated["mig"] + 0.2
    assert aligned["dci"] > rotated["dci"]


def test_summarize_mean_and_sd():
    s = summarize([{"rca": 0.5, "mig": 0.1}, {"rca": 0.7, "mig": 0.3}, {"rca": 0.9}])
    assert s["rca"]["mean"] == pytest.approx(0.7) and s["rca"]["sd"] == pytest.approx(0.2)
    assert s["mig"]["values"] == [0.1, 0.3]
    assert summarize([{"rca": 0.4}])["rca"]["sd"] == 0.0


def test_posthoc_coordinates_of_a_non_orthogonal_basis_recover_the_factors():
    """Latents z = f A for a skewed unit basis A: the coordinates along A are f itself (pseudo-inverse), so
    MIG is as high as for an aligned code; z A^T would mix the factors."""
    rng = np.random.default_rng(1)
    factors = rng.integers(0, 10, size=(1500, 3))
    skewed = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.6, 0.0, 0.8]])  # unit rows, far from orthogonal
    latents = (factors + 0.05 * rng.standard_normal(factors.shape)) @ skewed
    tr, te = slice(0, 1000), slice(1000, 1500)
    args = (latents[tr], factors[tr], latents[te], factors[te])
    skew_scores = posthoc_scores(*args, skewed, gbt_params={"n_estimators": 5})
    assert skew_scores["mig"] > 0.5
    mixed = compute_mig(latents[tr] @ skewed.T, factors[tr])["mig"]  # the old z A^T representation
    assert skew_scores["mig"] > mixed + 0.2
