"""latentlens attributes end to end on synthetic cells with tiny models."""

from latentlens.cli import main
from latentlens.io import read_json


def test_attributes_on_cells(tmp_path):
    from latentlens.data.cells import generate_cells

    data = generate_cells(tmp_path / "cells", n_per_condition=40, strength=2.0, size=32, seed=0)
    common = ["--data", str(data), "--image-size", "32", "--batch-size", "16", "--no-progress"]
    assert main(["train", "classifier", *common, "--steps", "60", "--out", str(tmp_path / "clf")]) == 0
    assert main(["train", "vae", *common, "--steps", "40", "--latent-dim", "4", "--out", str(tmp_path / "vae")]) == 0
    out = tmp_path / "vae" / "attributes"
    assert main(["attributes", "--classifier", str(tmp_path / "clf"), "--generator", str(tmp_path / "vae"), "--data",
                 str(data), "--target", "treated", "--attributes", "3", "--n", "30", "--out", str(out)]) == 0  # fmt: skip
    r = read_json(out / "attributes.json")
    assert r["classes"] == ["control", "treated"] and r["attribute_labels"] == ["z0", "z1", "z2", "z3"]
    assert len(r["sufficiency"]) == len(r["stylex"]) == len(r["sufficiency_random"])
    assert all(0 <= v <= 1 for v in r["sufficiency"])
    assert r["factor_effects"] and {"nucleus_size", "elongation"} <= set(r["factor_effects"][0]["changes"])
    diffex_read = [(e["attribute"], e["sign"]) for e in r["diffex_factor_effects"] or []]
    assert diffex_read == [(p["attribute"], p["sign"]) for p in r["diffex"]]
    shared = {(e["attribute"], e["sign"]): e for e in r["factor_effects"]}
    for e in r["diffex_factor_effects"] or []:  # a pick both variants made is read once, the same for both
        assert shared.get((e["attribute"], e["sign"]), e) == e
    assert main(["report", "--run", str(tmp_path / "vae")]) == 0
    report = (tmp_path / "vae" / "report.html").read_text()
    assert "What changes the classifier" in report and "Sufficiency curve" in report and "held-out R<sup>2</sup>" in report
    assert (out / "sufficiency.png").is_file()
    assert main(["attributes", "--classifier", str(tmp_path / "clf"), "--generator", str(tmp_path / "vae"), "--data",
                 str(data), "--target", "nope", "--out", str(out)]) == 2  # fmt: skip
    for source in ("ica", "contrast"):  # directions fitted on the encoded images (and, for contrast, their classes)
        assert main(["attributes", "--classifier", str(tmp_path / "clf"), "--generator", str(tmp_path / "vae"),
                     "--data", str(data), "--target", "treated", "--source", source, "--attributes", "2", "--n", "10",
                     "--out", str(tmp_path / source)]) == 0  # fmt: skip
        labels = read_json(tmp_path / source / "attributes.json")["attribute_labels"]
        assert 1 <= len(labels) <= 4 and all(label.startswith(source) for label in labels)


def test_attributes_of_a_classifier_aware_diffusion_autoencoder(tmp_path, one_thread):
    from latentlens.data.cells import generate_cells

    data = generate_cells(tmp_path / "cells", n_per_condition=24, strength=2.0, size=32, seed=0)
    common = ["--data", str(data), "--image-size", "32", "--batch-size", "8", "--no-progress"]
    assert main(["train", "classifier", *common, "--steps", "40", "--out", str(tmp_path / "clf")]) == 0
    assert main(["train", "diffae", *common, "--steps", "6", "--width", "16", "--patch-size", "2",
                 "--classifier", str(tmp_path / "clf"), "--out", str(tmp_path / "dae")]) == 0  # fmt: skip
    summary = read_json(tmp_path / "dae" / "train_summary.json")
    assert 0 <= summary["class_agreement"] <= 1
    config = read_json(tmp_path / "dae" / "config.json")
    assert config["model"]["n_classes"] == 2 and config["objective"]["name"] == "diffae"
    out = tmp_path / "dae" / "attributes"
    assert main(["attributes", "--classifier", str(tmp_path / "clf"), "--generator", str(tmp_path / "dae"), "--data",
                 str(data), "--target", "treated", "--source", "latentclr", "--attributes", "2", "--n", "6",
                 "--render-steps", "2", "--shift", "range", "--out", str(out)]) == 0  # fmt: skip
    r = read_json(out / "attributes.json")
    assert r["shift"] == "range" and r["strength"] is None
    assert r["source"] == "latentclr" and len(r["attribute_labels"]) == 10 and (out / "latentclr.safetensors").is_file()
    assert len(r["sufficiency"]) == len(r["stylex"]) and (out / "attribute_0.png").is_file()
    assert main(["train", "diffae", *common, "--steps", "2", "--width", "16", "--patch-size", "2", "--classifier",
                 str(tmp_path / "clf"), "--no-classifier-component", "--out", str(tmp_path / "ablation")]) == 0  # fmt: skip
    assert read_json(tmp_path / "ablation" / "config.json")["model"]["n_classes"] == 0
