"""Anomaly metrics on hand-made maps with known answers, against slow references and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from latentlens.metrics.anomaly import (
    aupro,
    f1_at,
    image_auroc,
    localization_metrics,
    normal_threshold,
    pixel_auroc,
    region_labels,
)


def _masks():
    m = np.zeros((3, 16, 16), dtype=np.float32)
    m[0, 2:5, 2:6] = 1  # region 1
    m[0, 10:14, 9:15] = 1  # region 2 (same image, not connected)
    m[1, 6:9, 6:9] = 1  # region 3
    return m  # image 2 is defect-free


def test_perfect_and_inverted_maps():
    masks = _masks()
    rng = np.random.default_rng(0)
    perfect = masks + 0.1 * rng.random(masks.shape)
    assert pixel_auroc(perfect, masks) == 1.0
    assert aupro(perfect, masks) == pytest.approx(1.0)
    inverted = -perfect
    assert pixel_auroc(inverted, masks) == 0.0
    assert aupro(inverted, masks) == pytest.approx(0.0)
    assert image_auroc([0.9, 0.8, 0.1], [1, 1, 0]) == 1.0
    assert image_auroc([0.1, 0.2, 0.9], [1, 1, 0]) == 0.0
    assert math.isnan(image_auroc([0.1, 0.2], [1, 1]))


def test_half_detected_regions_give_aupro_one_half():
    m = np.zeros((1, 12, 12))
    m[0, 1:3, 1:3] = 1
    m[0, 8:11, 8:11] = 1
    s = np.full(m.shape, 0.5)
    s[0, 1:3, 1:3] = 1.0  # found with the top scores
    s[0, 8:11, 8:11] = 0.0  # below every background pixel
    assert aupro(s, m) == pytest.approx(0.5)
    # pixel AUROC weighs pixels, not regions: 4 of 13 defect pixels above all background
    assert pixel_auroc(s, m) == pytest.approx(4 / 13)


def test_random_maps_give_chance_levels():
    rng = np.random.default_rng(1)
    masks = np.zeros((40, 32, 32))
    masks[:, 8:20, 10:22] = 1
    s = rng.random(masks.shape)
    assert pixel_auroc(s, masks) == pytest.approx(0.5, abs=0.02)
    assert aupro(s, masks) == pytest.approx(0.15, abs=0.01)  # PRO = FPR -> area 0.045 / 0.3


def _aupro_bruteforce(s, masks, limit=0.3):
    labels, k = region_labels(masks)
    bg = labels == 0
    pts = [(0.0, 0.0)]
    for t in np.unique(s)[::-1]:
        above = s >= t
        fpr = above[bg].mean()
        pro = np.mean([above[labels == r].mean() for r in range(1, k + 1)])
        pts.append((fpr, pro))
    fpr, pro = np.array(pts).T
    grid_pro = np.interp(limit, fpr, pro)
    keep = fpr <= limit
    x, y = np.r_[fpr[keep], limit], np.r_[pro[keep], grid_pro]
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / limit)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_aupro_and_auroc_match_slow_references_with_ties(seed):
    rng = np.random.default_rng(seed)
    masks = _masks()
    s = np.round(masks * 0.3 + rng.random(masks.shape), 1)  # many ties
    assert aupro(s, masks) == pytest.approx(_aupro_bruteforce(s, masks), abs=1e-12)
    assert pixel_auroc(s, masks) == pytest.approx(roc_auc_score(masks.ravel(), s.ravel()), abs=1e-12)
    # a lower integration limit still normalises to [0, 1]
    assert 0.0 <= aupro(s, masks, fpr_limit=0.05) <= 1.0


def test_regions_are_numbered_across_images():
    labels, k = region_labels(_masks())
    assert k == 3 and set(np.unique(labels)) == {0, 1, 2, 3}
    diag = np.zeros((1, 4, 4))
    diag[0, 0, 0] = diag[0, 1, 1] = 1
    assert region_labels(diag)[1] == 1  # 8-connectivity


def test_threshold_comes_from_normal_data_only():
    rng = np.random.default_rng(3)
    normal = rng.normal(size=10000)
    t = normal_threshold(normal, fpr=0.01)
    assert np.mean(normal > t) == pytest.approx(0.01, abs=0.002)
    masks = _masks()
    maps_a = masks + rng.normal(scale=0.1, size=masks.shape)
    maps_b = 10 * maps_a  # changing the test maps must not change the threshold
    ra = localization_metrics(maps_a, masks, [1, 1, 0], [1, 1, 0], normal_pixel_scores=normal)
    rb = localization_metrics(maps_b, masks, [1, 1, 0], [1, 1, 0], normal_pixel_scores=normal)
    assert ra["pixel_threshold"] == rb["pixel_threshold"] == normal_threshold(normal, 0.005)
    assert f1_at([0.9, 0.2, 0.7, 0.1], [1, 0, 0, 1], 0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        normal_threshold([], 0.01)
