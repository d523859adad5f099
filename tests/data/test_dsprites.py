"""Procedural dSprites against the real frames (dsprites.gif) and the published dataset statistics."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latentlens.data import dsprites as ds
from latentlens.errors import LatentLensError

# The official repository's dsprites.gif (Apache 2.0, tests/data/fixtures/dsprites_LICENSE), kept with the tests
# so that this check runs on every machine; the copy in ../shared, when present, must be the same file.
GIF = Path(__file__).resolve().parent / "fixtures" / "dsprites.gif"
SHARED_GIF = Path(__file__).resolve().parents[2].parent / "shared/data/dsprites/dsprites.gif"
SQUARE, ELLIPSE, HEART = 0, 1, 2


def gif_labels() -> np.ndarray:
    """(320, 5) factor classes of the frames of dsprites.gif (research notes section 1.7)."""
    rows: list[tuple[int, int, int, int, int]] = []

    def scales(shape, order):
        rows.extend((shape, s, 0, 0, 0) for s in order)

    up, down = range(6), range(5, -1, -1)
    scales(HEART, up), scales(HEART, down), scales(HEART, up)
    rows.extend((HEART, 5, o, 0, 0) for o in range(40))
    rows.extend((HEART, 5, 0, 0, y) for y in range(32))
    rows.extend((HEART, 5, 0, x, 31) for x in range(32))
    rows.extend((HEART, 5, 0, 31, y) for y in range(31, -1, -1))
    rows.extend((HEART, 5, 0, x, 0) for x in range(31, -1, -1))
    scales(HEART, down)
    for shape in (ELLIPSE, SQUARE):
        scales(shape, up), scales(shape, down), scales(shape, up)
        rows.extend((shape, 5, o, 0, 0) for o in range(40))
        scales(shape, down)
    return np.array(rows, dtype=np.int64)


def counts(factors) -> list[int]:
    return [int(v) for v in ds.render(np.array(factors)).sum(axis=(1, 2))]


def test_all_gif_frames_pixel_exact():
    if SHARED_GIF.is_file():
        assert SHARED_GIF.read_bytes() == GIF.read_bytes()
    from PIL import Image, ImageSequence

    with Image.open(GIF) as im:
        frames = np.stack([np.asarray(f.convert("L")) > 127 for f in ImageSequence.Iterator(im)])
    labels = gif_labels()
    assert frames.shape == (320, 64, 64) == (len(labels), 64, 64)
    ours = ds.render(labels)
    wrong = np.flatnonzero((ours != frames).any(axis=(1, 2)))
    assert wrong.size == 0, f"frames {wrong.tolist()} differ in {(ours != frames).sum()} pixels"


def test_scale_sweep_counts():
    for shape, expected in [
        (HEART, [58, 84, 108, 140, 182, 222]),
        (ELLIPSE, [76, 104, 144, 184, 228, 288]),
        (SQUARE, [100, 144, 196, 256, 324, 400]),
    ]:
        assert counts([(shape, s, 0, 0, 0) for s in range(6)]) == expected


ORIENT = {
    HEART: "222,225,226,225,224,225,227,224,225,225,225,224,225,225,225,225,226,228,220,226,"
    "226,220,228,226,225,225,225,225,224,225,225,225,224,227,225,224,225,226,225,222",
    ELLIPSE: "288,288,290,292,292,288,286,294,292,286,290,288,286,288,292,294,286,286,288,290,"
    "290,288,286,286,294,292,288,286,288,290,286,292,294,286,288,292,292,290,288,288",
    SQUARE: "400,368,372,368,368,364,368,368,372,368,372,368,368,368,368,368,368,368,372,368,"
    "368,372,368,368,368,368,368,368,368,372,368,372,368,368,364,368,368,372,368,400",
}


@pytest.mark.parametrize("shape", [HEART, ELLIPSE, SQUARE])
def test_orientation_sweep_counts(shape):
    expected = [int(v) for v in ORIENT[shape].split(",")]
    assert counts([(shape, 5, o, 0, 0) for o in range(40)]) == expected


def test_heart_position_sweeps():
    pos_y = "222,222,224,226,226,226,226,224,224,224,224,224,224,222,220,220,"
    pos_y += "220,222,228,226,228,228,232,232,230,230,228,224,224,224,222,222"
    pos_x = "222,223,224,224,225,226,226,227,226,226,224,222,220,219,219,220,"
    pos_x += "220,219,219,220,222,224,226,226,227,226,226,225,224,224,223,222"
    assert counts([(HEART, 5, 0, 0, y) for y in range(32)]) == [int(v) for v in pos_y.split(",")]
    assert counts([(HEART, 5, 0, x, 31) for x in range(32)]) == [int(v) for v in pos_x.split(",")]


def bbox(img):
    rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def test_bounding_boxes_and_extreme_positions():
    imgs = ds.render(np.array([(HEART, 5, 0, 0, 0), (ELLIPSE, 5, 0, 0, 0), (SQUARE, 5, 0, 0, 0)]))
    assert [bbox(i) for i in imgs] == [(7, 23, 6, 25), (9, 22, 3, 28), (6, 25, 6, 25)]
    assert bbox(ds.render(np.array([(HEART, 5, 0, 31, 0)]))[0])[2:] == (38, 57)
    # the biggest sprites never touch the border
    corners = [(s, 5, o, x, y) for s in range(3) for o in range(0, 40, 3) for x in (0, 31) for y in (0, 31)]
    edge = ds.render(np.array(corners))
    assert not edge[:, [0, -1], :].any() and not edge[:, :, [0, -1]].any()


def test_tabulated_spans_equal_direct_scanline():
    f = ds.DSprites().sample_factors(3000, np.random.default_rng(7))
    assert np.array_equal(ds._row_words(f), ds._row_words_direct(f))


def test_orientation_0_equals_39():
    rng = np.random.default_rng(1)
    f = ds.DSprites().sample_factors(500, rng)
    f0, f39 = f.copy(), f.copy()
    f0[:, 2], f39[:, 2] = 0, 39
    assert np.array_equal(ds.render(f0), ds.render(f39))


def test_dataset_on_pixel_total():
    total = ds.total_on_pixels()
    assert abs(total - ds.TRUE_TOTAL_ON_PIXELS) / ds.TRUE_TOTAL_ON_PIXELS < 1e-4, total


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, ds.NUM_IMAGES - 1), min_size=1, max_size=20))
def test_index_classes_round_trip(indices):
    idx = np.array(indices)
    classes = ds.index_to_classes(idx)
    assert classes.dtype == np.int64 and classes.shape == (len(idx), 6)
    assert np.all(classes[:, 0] == 0) and np.all(classes < np.array(ds.LATENT_SIZES))
    assert np.array_equal(ds.classes_to_index(classes), idx)


def test_layout_constants_and_values():
    assert ds.LATENT_BASES == (737280, 245760, 40960, 1024, 32, 1)
    assert tuple(ds.index_to_classes(np.array([0, 1, 32, 737279])).tolist()[1]) == (0, 0, 0, 0, 0, 1)
    assert ds.index_to_classes(737279).tolist() == [0, 2, 5, 39, 31, 31]
    v = ds.latents_values_from_classes(np.array([[0, 2, 5, 39, 31, 0]]))[0]
    np.testing.assert_allclose(v, [1.0, 3.0, 1.0, 2 * np.pi, 1.0, 0.0])
    np.testing.assert_allclose(ds.latents_values["scale"], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    with pytest.raises(ValueError):
        ds.index_to_classes(np.array([ds.NUM_IMAGES]))
    with pytest.raises(ValueError):
        ds.render(np.array([[3, 0, 0, 0, 0]]))


def test_dataset_class_sampling_and_images():
    data = ds.DSprites()
    assert len(data) == 737280 and data.factor_sizes == (3, 6, 40, 32, 32) and data.image_shape == (1, 64, 64)
    rng = np.random.default_rng(0)
    f = data.sample_factors(5000, rng)
    assert f.dtype == np.int64 and f.shape == (5000, 5)
    assert np.array_equal(f.min(axis=0), [0] * 5) and np.array_equal(f.max(axis=0) + 1, ds.FACTOR_SIZES)
    x, f2 = data.sample(16, rng)
    assert x.dtype == torch.float32 and x.shape == (16, 1, 64, 64)
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
    assert torch.equal(x[:, 0], torch.from_numpy(data.render(f2)).float())
    fixed = data.sample_fixed(64, rng, {0: 2, 3: 7})
    assert np.all(fixed[:, 0] == 2) and np.all(fixed[:, 3] == 7) and len(np.unique(fixed[:, 4])) > 1
    # official 6-column rows render like the 5-column factors
    assert np.array_equal(ds.render(np.c_[np.zeros(16, np.int64), f2]), data.render(f2))
    assert ds.render(f[:0]).shape == (0, 64, 64)


def test_npz_round_trip_and_errors(tmp_path):
    idx = np.array([0, 1, 5000, 300000, 737279])
    path = ds.write_npz(tmp_path / "sub.npz", indices=idx, chunk=2)
    assert [p.name for p in tmp_path.iterdir()] == ["sub.npz"]  # no temp file left behind
    with np.load(path) as z:  # a plain npz readable without pickles
        assert sorted(z.files) == ["imgs", "latents_classes", "latents_values"]
    data = ds.load_npz(path)
    assert data["imgs"].dtype == np.uint8 and data["imgs"].shape == (5, 64, 64)
    assert np.array_equal(data["imgs"], ds.render_index(idx))
    assert np.array_equal(data["latents_classes"], ds.index_to_classes(idx))
    assert data["latents_values"].dtype == np.float64
    np.testing.assert_allclose(data["latents_values"][-1], [1, 3, 1, 2 * np.pi, 1, 1])

    with pytest.raises(LatentLensError, match="missing"):
        ds.load_npz(tmp_path / "absent.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(path.read_bytes()[:300])
    with pytest.raises(LatentLensError):
        ds.load_npz(bad)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, imgs=np.zeros((2, 32, 32), np.uint8), latents_classes=np.zeros((2, 6), np.int64),
             latents_values=np.zeros((2, 6)))
    with pytest.raises(LatentLensError, match="shape"):
        ds.load_npz(wrong)
    junk = tmp_path / "junk.npz"
    with zipfile.ZipFile(junk, "w") as zf:
        zf.writestr("imgs.npy", b"not an npy file")
    with pytest.raises(LatentLensError):
        ds.load_npz(junk)
