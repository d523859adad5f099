"""Synthetic defect benchmark (determinism, exact masks) and the MVTec AD layout loader."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from latentlens.data.defects import (
    CATEGORIES,
    DEFECT_TYPES,
    apply_defect,
    generate_benchmark,
    normal_image,
    perlin_noise,
)
from latentlens.data.mvtec import category_root, list_categories, load_test, load_train, split_normal
from latentlens.errors import LatentLensError


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.png")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    info = generate_benchmark(root, categories=["gravel", "pill"], seed=3, n_train=3, n_test=2, image_size=32)
    return root, info


def test_generator_is_deterministic(tiny, tmp_path):
    root, info = tiny
    again = generate_benchmark(tmp_path / "a", categories=["gravel", "pill"], seed=3, n_train=3, n_test=2, image_size=32)
    assert _digest(root) == _digest(tmp_path / "a")
    other = generate_benchmark(tmp_path / "b", categories=["gravel", "pill"], seed=4, n_train=3, n_test=2, image_size=32)
    assert _digest(root) != _digest(tmp_path / "b")
    assert info["categories"] == again["categories"] == other["categories"]
    assert (root / "benchmark.json").exists()


def test_layout_matches_mvtec(tiny):
    root, _ = tiny
    for cat in ("gravel", "pill"):
        assert len(list((root / cat / "train" / "good").glob("*.png"))) == 3
        for defect in DEFECT_TYPES:
            imgs = sorted((root / cat / "test" / defect).glob("*.png"))
            masks = sorted((root / cat / "ground_truth" / defect).glob("*_mask.png"))
            assert [p.stem + "_mask" for p in imgs] == [m.stem for m in masks]
    assert list_categories(root) == ["gravel", "pill"]


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("defect", DEFECT_TYPES)
def test_masks_are_exactly_the_changed_pixels(category, defect):
    rng = np.random.default_rng(11)
    img, support = normal_image(category, 48, "test", rng)
    bad, mask = apply_defect(img, support, defect, rng)
    changed = np.any(bad != img, axis=-1)
    assert mask.sum() > 0
    np.testing.assert_array_equal(mask, changed)
    assert not np.any(mask & ~support)  # on objects, defects lie on the object
    assert bad.min() >= 0 and bad.max() <= 1


def test_perlin_noise_is_smooth_and_seeded():
    a = perlin_noise((64, 64), (4, 4), np.random.default_rng(0))
    b = perlin_noise((64, 64), (4, 4), np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert np.abs(np.diff(a, axis=0)).max() < 0.2 and a.std() > 0.05


def test_loader_reads_the_generated_benchmark(tiny):
    root, _ = tiny
    train = load_train(root, "pill", image_size=16)
    assert train.images.shape == (3, 3, 16, 16) and train.labels.sum() == 0
    test = load_test(root, "pill", image_size=32)  # the generated size: masks are exact
    assert len(test) == 2 + 2 * len(DEFECT_TYPES)
    assert test.labels.tolist() == [0 if k == "good" else 1 for k in test.defect_types]
    good = test.masks[test.labels == 0]
    assert good.sum() == 0
    assert (test.masks[test.labels == 1].sum(dim=(1, 2, 3)) > 0).all()
    assert set(test.masks.unique().tolist()) <= {0.0, 1.0}
    grey = load_test(root, "pill", image_size=16, channels=1)  # resized: thin defects may vanish
    assert grey.images.shape == (len(test), 1, 16, 16)


def test_loader_handles_grey_rgb_masks_and_odd_sizes(tmp_path):
    # a real-MVTec-like category: grey 40x40 images, an RGB-mode mask, resized to 20
    cat = tmp_path / "screw"
    (cat / "train" / "good").mkdir(parents=True)
    (cat / "test" / "good").mkdir(parents=True)
    (cat / "test" / "thread").mkdir(parents=True)
    (cat / "ground_truth" / "thread").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((40, 40), 100 + i, np.uint8)).save(cat / "train" / "good" / f"{i:03d}.png")
    Image.fromarray(np.full((40, 40), 90, np.uint8)).save(cat / "test" / "good" / "000.png")
    Image.fromarray(np.full((40, 40), 200, np.uint8)).save(cat / "test" / "thread" / "000.png")
    mask = np.zeros((40, 40, 3), np.uint8)
    mask[10:20, 10:30] = 255
    Image.fromarray(mask).save(cat / "ground_truth" / "thread" / "000_mask.png")
    test = load_test(tmp_path, "screw", image_size=20)
    assert test.images.shape == (2, 1, 20, 20)
    assert test.masks[1].sum() == 5 * 10 and test.masks[0].sum() == 0
    assert category_root(cat, None) == cat  # a category folder passed directly
    (cat / "test" / "thread" / "001.png").write_bytes((cat / "test" / "thread" / "000.png").read_bytes())
    with pytest.raises(LatentLensError, match="missing mask"):
        load_test(tmp_path, "screw", image_size=20)


def test_loader_errors(tmp_path, tiny):
    root, _ = tiny
    with pytest.raises(LatentLensError, match="not found"):
        load_train(tmp_path / "nope", "pill")
    with pytest.raises(LatentLensError, match="found: gravel, pill"):
        load_train(root, "carpet")
    with pytest.raises(LatentLensError):
        generate_benchmark(tmp_path / "x", categories=["carpet"])


def test_split_normal_is_seeded_and_disjoint():
    fit, val = split_normal(40, 0.2, seed=1)
    fit2, val2 = split_normal(40, 0.2, seed=1)
    np.testing.assert_array_equal(val, val2)
    assert len(val) == 8 and set(fit).isdisjoint(val) and len(fit) + len(val) == 40
    assert torch.is_tensor(torch.as_tensor(fit))
