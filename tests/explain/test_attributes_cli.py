"""latentlens attributes end to end on synthetic cells with tiny models."""

from latentlens.cli import main
from latentlens.io import read_json


def test_attributes_on_cells(tmp_path):
    from latentlens.data.cells import generate_cells

    data = generate_cells(tmp_path / "cells", n_per_condition=40, strength=2.0, size=32, seed=0)
    common = ["--data", str(data), "--image-size", "32", "--batch-size", "16", "--no-progress"]
    assert main(["train", "classifier", *common, "--steps", "60", "--out", str(tmp_path / "clf")]) == 0
    vae = data / "vae"  # a run kept inside the data folder: its pictures are not images of the data
    assert main(["train", "vae", *common, "--steps", "40", "--latent-dim", "4", "--out", str(vae)]) == 0
    out = vae / "attributes"
    assert main(["attributes", "--classifier", str(tmp_path / "clf"), "--generator", str(vae), "--data",
                 str(data), "--target", "treated", "--attributes", "3", "--n", "30", "--readout", "images",
                 "--out", str(out)]) == 0  # fmt: skip
    r = read_json(out / "attributes.json")
    assert r["n_data_images"] == 80
    assert r["classes"] == ["control", "treated"] and r["attribute_labels"] == ["z0", "z1", "z2", "z3"]
    assert len(r["sufficiency"]) == len(r["stylex"]) == len(r["sufficiency_random"])
    assert all(0 <= v <= 1 for v in r["sufficiency"])
    assert r["factor_readout"] == "images" and r["factor_effects"]
    assert {"nucleus_size", "elongation"} <= set(r["factor_effects"][0]["changes"])
    diffex_read = [(e["attribute"], e["sign"]) for e in r["diffex_factor_effects"] or []]
    assert diffex_read == [(p["attribute"], p["sign"]) for p in r["diffex"]]
    shared = {(e["attribute"], e["sign"]): e for e in r["factor_effects"]}
    for e in r["diffex_factor_effects"] or []:  # a pick both variants made is read once, the same for both
        assert shared.get((e["attribute"], e["sign"]), e) == e
    assert main(["report", "--run", str(vae)]) == 0
    report = (vae / "report.html").read_text()
    assert "What changes the classifier" in report and "Sufficiency curve" in report and "held-out R<sup>2</sup>" in report
    assert "fitted on the labelled images" in report
    assert (out / "sufficiency.png").is_file()
    assert main(["attributes", "--classifier", str(tmp_path / "clf"), "--generator", str(vae), "--data",
                 str(data), "--target", "nope", "--out", str(out)]) == 2  # fmt: skip
    for source in ("ica", "contrast"):  # directions fitted on the encoded images (and, for contrast, their classes)
        folder = out if source == "contrast" else tmp_path / source
        assert main(["attributes", "--classifier", str(tmp_path / "clf"), "--generator", str(vae),
                     "--data", str(data), "--target", "treated", "--source", source, "--attributes", "2", "--n", "10",
                     "--out", str(folder)]) == 0  # fmt: skip
        r = read_json(folder / "attributes.json")
        assert 1 <= len(r["attribute_labels"]) <= 4 and all(label.startswith(source) for label in r["attribute_labels"])
        # by default a VAE's edits are read by a regressor fitted on its reconstructions
        assert r["factor_readout"] == "reconstructions" and set(r["factor_readout_r2"]) >= {"nucleus_size", "x"}
        assert r["n_data_images"] == 80  # the report and the earlier runs' pictures below the VAE's run are left out
    assert main(["report", "--run", str(vae)]) == 0
    assert "fitted on the generator's reconstructions" in (vae / "report.html").read_text()


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
    assert r["shift"] == "range" and r["strength"] is None and r["factor_readout"] == "images"
    check = read_json(tmp_path / "dae" / "metrics.json")["diffae"]
    assert r["generator_check"] == {**check, "classifier": str(tmp_path / "clf")}
    assert 0 <= check["semantic_agreement_other"] <= 1 and check["agreement_ddim_steps"] == 100
    from latentlens.viz.sections.attributes import render

    assert f"own z_sem keeps its class for {check['semantic_agreement']:.0%}" in render(tmp_path / "dae")
    assert main(["attributes", "--classifier", str(tmp_path / "clf"), "--generator", str(tmp_path / "dae"), "--data",
                 str(data), "--target", "treated", "--readout", "reconstructions", "--out", str(out)]) == 2  # fmt: skip
    assert r["source"] == "latentclr" and len(r["attribute_labels"]) == 10 and (out / "latentclr.safetensors").is_file()
    assert len(r["sufficiency"]) == len(r["stylex"]) and (out / "attribute_0.png").is_file()
    assert main(["train", "diffae", *common, "--steps", "2", "--width", "16", "--patch-size", "2", "--classifier",
                 str(tmp_path / "clf"), "--no-classifier-component", "--out", str(tmp_path / "ablation")]) == 0  # fmt: skip
    assert read_json(tmp_path / "ablation" / "config.json")["model"]["n_classes"] == 0
