"""Your own images with labels: observational metrics of a user VAE's codes."""

import numpy as np
import pytest
import torch
from PIL import Image
from user_models import AttrVAE, seeded

from latentlens.data.labels import discretize, labelled_images
from latentlens.errors import LatentLensError
from latentlens.metrics.labelled import evaluate_codes
from latentlens.workflows import evaluate


@pytest.fixture
def blobs(tmp_path):
    """60 images of a bright square whose x position (CSV factor) and size (class folder) vary."""
    rng = np.random.default_rng(0)
    rows = ["image,x,tint"]
    for i in range(60):
        size = "small" if i % 2 else "large"
        x = int(rng.integers(0, 20))
        img = np.zeros((32, 32), np.uint8)
        s = 4 if size == "small" else 9
        img[10 : 10 + s, x : x + s] = 255
        folder = tmp_path / "images" / size
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"im{i:02d}.png")
        rows.append(f"im{i:02d},{x},{['red', 'blue'][i % 3 == 0]}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_class_folders_and_csv_labels(blobs):
    by_folder = labelled_images(blobs / "images", image_size=32)
    assert by_folder.factor_names == ["class"] and sorted(by_folder.class_values[0]) == ["large", "small"]
    by_csv = labelled_images(blobs / "images", blobs / "labels.csv", image_size=32)
    assert by_csv.factor_names == ["x", "tint"] and by_csv.factors.shape == (60, 2)
    assert set(by_csv.class_values[1]) == {"red", "blue"}


def test_discretize_bins_continuous_values_and_keeps_classes():
    codes, labels = discretize([str(v) for v in np.linspace(0, 1, 200)], "v", max_classes=10)
    assert codes.max() == 9 and np.all(np.bincount(codes) == 20)
    codes, labels = discretize(["b", "a", "b"], "v")
    assert list(codes) == [1, 0, 1] and labels == ["a", "b"]
    with pytest.raises(LatentLensError, match="empty cells"):
        discretize(["1", ""], "v")


def test_evaluate_codes_finds_a_code_that_copies_a_factor():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 10, (600, 2))
    good = np.c_[factors[:, 0] + 0.01 * rng.normal(size=600), factors[:, 1] + 0.01 * rng.normal(size=600)]
    noise = rng.normal(size=(600, 2))
    assert evaluate_codes(good, factors)["mig"] > 0.6
    assert evaluate_codes(noise, factors)["mig"] < 0.1
    with pytest.raises(LatentLensError, match="interventions"):
        evaluate_codes(good, factors, metrics=["factor_vae"])


def test_evaluate_a_user_vae_on_labelled_images(blobs, tmp_path):
    vae = seeded(AttrVAE(latent=4))
    with pytest.raises(LatentLensError, match="image_size="):
        evaluate(vae, data=blobs / "images", labels=blobs / "labels.csv", out=tmp_path / "run")
    result = evaluate(vae, data=blobs / "images", labels=blobs / "labels.csv", out=tmp_path / "run",
                      metrics="mig,dci", image_size=32)  # fmt: skip
    assert set(result["mi_matrix"]["factor_names"]) == {"x", "tint"}
    assert 0 <= result["mig"] <= 1 and 0 <= result["dci_disentanglement"] <= 1
    assert (tmp_path / "run" / "metrics.json").is_file()
    with pytest.raises(LatentLensError, match="needs ground-truth factors"):
        evaluate(vae, out=tmp_path / "run2")


def test_cli_evaluate_with_labels(blobs, cli, tmp_path):
    import shutil
    from pathlib import Path

    shutil.copy(Path(__file__).parent / "user_models.py", tmp_path / "user_models.py")
    torch.save(seeded(AttrVAE(latent=4)).state_dict(), tmp_path / "vae.pt")
    done = cli("evaluate", "--model", "user_models:AttrVAE", "--weights", "vae.pt", "--model-image-size", "32",
               "--data", blobs / "images", "--out", tmp_path / "run", "--metrics", "mig", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "mig=" in done.stderr
