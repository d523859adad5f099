"""Image files as users have them: 16-bit and float images, NaN pixels, huge or corrupt files (fuzzed)."""

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from latentlens.data.folders import load_image_folder, read_image
from latentlens.errors import LatentLensError


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    out = read_image(tmp_path / "deep.png", None, 1)[0]
    assert out.max() == 255 and out.min() == 0
    assert len(np.unique(out)) > 200  # a ramp, not a saturated block
    assert np.all(np.diff(out.ravel().astype(int)) >= 0)


def test_float_images_are_scaled_and_nan_is_refused(tmp_path):
    unit = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    Image.fromarray(unit).save(tmp_path / "unit.tiff")
    assert read_image(tmp_path / "unit.tiff", None, 1).max() == 255
    wide = np.linspace(-3, 7, 64 * 64, dtype=np.float32).reshape(64, 64)
    Image.fromarray(wide).save(tmp_path / "wide.tiff")
    out = read_image(tmp_path / "wide.tiff", None, 1)[0]
    assert out.min() == 0 and out.max() == 255
    unit[3, 3] = np.nan
    Image.fromarray(unit).save(tmp_path / "nan.tiff")
    with pytest.raises(LatentLensError, match="NaN or infinite"):
        read_image(tmp_path / "nan.tiff", None, 1)


def test_huge_images_are_refused_before_decoding(tmp_path):
    Image.new("1", (9000, 9000)).save(tmp_path / "huge.png")  # 81 megapixels, a few kB on disk
    with pytest.raises(LatentLensError, match="more than the"):
        read_image(tmp_path / "huge.png", 64, 1)


@given(data=st.binary(min_size=0, max_size=400), prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM"]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzzed_files_give_an_image_or_a_one_line_error(tmp_path, data, prefix):
    path = tmp_path / "fuzz.png"
    path.write_bytes(prefix + data)
    try:
        out = read_image(path, 16, 1)
    except LatentLensError as exc:
        assert "\n" not in str(exc)
    else:
        assert out.shape == (1, 16, 16) and out.dtype == np.uint8


@given(seed=st.integers(0, 2**16), cut=st.integers(8, 300))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_truncated_real_images_are_one_line_errors(tmp_path, seed, cut):
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(buffer, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[:cut])
    try:
        read_image(path, 16, 3)
    except LatentLensError:
        pass


def test_a_folder_with_one_broken_image_names_it(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(LatentLensError, match="bad.png"):
        load_image_folder(tmp_path, 16, 1)


def _tiny_npz(path):
    from latentlens.data.dsprites import write_npz

    write_npz(path, indices=np.arange(4))
    return path.read_bytes()


@given(cut=st.integers(0, 5000), noise=st.binary(max_size=32), flip=st.integers(0, 10**6))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzzed_dsprites_npz_loads_or_fails_with_one_line(tmp_path, cut, noise, flip):
    from latentlens.data.dsprites import load_npz

    data = bytearray(_tiny_npz(tmp_path / "good.npz"))
    if data:
        data[flip % len(data)] ^= 0xFF
    path = tmp_path / "fuzz.npz"
    path.write_bytes(bytes(data[: max(cut, 0)] if cut < len(data) else data) + noise)
    try:
        out = load_npz(path)
    except LatentLensError as exc:
        assert "\n" not in str(exc)
    else:
        assert set(out) == {"imgs", "latents_classes", "latents_values"}


@given(layout=st.lists(st.sampled_from(["train/good/a.png", "test/good/b.png", "test/crack/c.png",
                                        "ground_truth/crack/c_mask.png", "test/crack/d.png", "train/good/broken.png",
                                        "ground_truth/crack/d_mask.png", "test/hole/e.png"]), max_size=8, unique=True))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzzed_mvtec_layouts_load_or_fail_with_one_line(tmp_path, layout):
    import shutil

    from latentlens.data.mvtec import load_test, load_train

    root = tmp_path / "cat"
    shutil.rmtree(root, ignore_errors=True)
    for rel in layout:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if "broken" in rel:
            path.write_bytes(b"\x89PNG broken")
        else:
            Image.fromarray(np.full((16, 16), 200 if "mask" in rel else 90, np.uint8)).save(path)
    for loader in (load_train, load_test):
        try:
            split = loader(root, None, 16, 1)
        except LatentLensError as exc:
            assert "\n" not in str(exc)
        else:
            assert split.images.shape[1:] == (1, 16, 16) and len(split.images) == len(split.labels)


def test_folders_latentlens_wrote_are_not_read_as_data(tmp_path, caplog):
    """Run and output folders kept inside a data folder (a training run, a marked output) are left out with a
    log line; ordinary nested folders are read; the folder given is read even when it is an output itself."""
    import logging

    from latentlens.data.folders import list_images
    from latentlens.io import output_folder

    def png(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (4, 4)).save(path)

    for rel in ("top.png", "a/1.png", "b/2.png", "c/deep/3.png", "b/vae/grid.png", "out/attribute_0.png", "out/x/sheet.png"):
        png(tmp_path / rel)
    (tmp_path / "b" / "vae" / "config.json").write_text("{}")
    (tmp_path / "b" / "vae" / "model.safetensors").write_bytes(b"")
    assert output_folder(tmp_path / "out") == tmp_path / "out" and output_folder(tmp_path / "out")  # idempotent
    with caplog.at_level(logging.INFO, logger="latentlens"):
        files = list_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["a/1.png", "b/2.png", "c/deep/3.png", "top.png"]
    assert "left out 3 images" in caplog.text and "b/vae" in caplog.text and "out" in caplog.text
    assert [p.name for p in list_images(tmp_path / "out")] == ["attribute_0.png", "sheet.png"]
    assert [p.name for p in list_images(tmp_path, recursive=False)] == ["top.png"]


def test_a_data_folder_holding_only_outputs_is_a_one_line_error(tmp_path):
    from latentlens.data.folders import list_images
    from latentlens.io import output_folder

    Image.new("L", (4, 4)).save(output_folder(tmp_path / "runs" / "discover") / "sheet.png")
    with pytest.raises(LatentLensError, match="every image below .* lies in a latentlens output folder"):
        list_images(tmp_path)
    with pytest.raises(LatentLensError, match="no images"):
        list_images(tmp_path, recursive=False)


def test_runs_from_before_the_marker_and_linked_folders(tmp_path):
    """An interrupted run (config.json + checkpoint.safetensors) is a run; a link to a folder is not followed,
    as the glob before it did not, so a link back up the tree cannot repeat images."""
    import os

    from latentlens.data.folders import list_images

    for rel in ("a/1.png", "old/sheet.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (4, 4)).save(tmp_path / rel)
    (tmp_path / "old" / "config.json").write_text("{}")
    (tmp_path / "old" / "checkpoint.safetensors").write_bytes(b"")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a/1.png"]
