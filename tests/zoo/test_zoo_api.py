"""The zoo's API on a stand-in zoo (a tiny trained run in a temporary weights folder)."""

import json

import pytest
import torch

from latentlens import zoo
from latentlens.data.sources import TensorSource
from latentlens.errors import LatentLensError
from latentlens.io import write_json
from latentlens.train.loop import TrainSettings
from latentlens.train.vae import train_vae


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    run = weights / "dsprites-betavae"
    g = torch.Generator().manual_seed(0)
    source = TensorSource((torch.rand(16, 1, 32, 32, generator=g) > 0.7).to(torch.uint8) * 255)
    train_vae(source, run, TrainSettings(steps=2, batch_size=4, progress=False), {"image_size": 32})
    write_json(run / "provenance.json", {"command": "latentlens train vae ...", "metrics": {"mig": 0.5}})
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", weights)
    monkeypatch.setenv("LATENTLENS_CACHE", str(tmp_path / "cache"))
    return run


def test_list_load_and_info(tiny_zoo):
    assert zoo.available() == ["dsprites-betavae"]
    [entry] = zoo.list_models()
    assert entry["name"] == "dsprites-betavae" and entry["kind"] == "vae" and entry["data"] == "dsprites"
    assert entry["metrics"] == {"mig": 0.5}
    model = zoo.load("dsprites-betavae")
    assert not model.training and model.latent_dim == 10


def test_unknown_and_unshipped_models_are_clear_errors(tiny_zoo):
    with pytest.raises(LatentLensError, match="unknown zoo model 'nope'"):
        zoo.load("nope")
    with pytest.raises(LatentLensError, match="not shipped.*zoo train dsprites-gan"):
        zoo.load("dsprites-gan")


def test_export_and_resolve_give_a_run_folder_every_command_reads(tiny_zoo, tmp_path):
    from latentlens.train.checkpoint import load_model

    out = zoo.export("dsprites-betavae", tmp_path / "exported")
    assert (out / "provenance.json").is_file() and (out / "log.jsonl").is_file()
    assert not (out / "checkpoint.safetensors").exists()
    a, b = load_model(out), zoo.load("dsprites-betavae")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert zoo.export("dsprites-betavae", out) == out  # same model again: fine
    run = zoo.resolve_run("zoo:dsprites-betavae")
    assert run.is_dir() and run.parent == tmp_path / "cache" / "zoo"
    assert zoo.resolve_run("zoo:dsprites-betavae") == run
    assert zoo.resolve_run(str(tmp_path)) == tmp_path


def test_export_refuses_a_folder_holding_another_model(tiny_zoo, tmp_path):
    other = tmp_path / "other"
    zoo.export("dsprites-betavae", other)
    (other / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(LatentLensError, match="another run"):
        zoo.export("dsprites-betavae", other)


def test_cli_list_json_and_export(tiny_zoo, tmp_path, capsys):
    from latentlens.cli import main

    assert main(["zoo", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in listed] == ["dsprites-betavae"]
    assert {"name", "kind", "data", "metrics"} <= set(listed[0])
    assert main(["zoo", "export", "dsprites-betavae", "--out", str(tmp_path / "e")]) == 0
    assert (tmp_path / "e" / "model.safetensors").is_file()
    assert main(["zoo", "export", "nope", "--out", str(tmp_path / "f")]) == 2
    assert "unknown zoo model" in capsys.readouterr().err


def test_recipes_are_valid_train_commands():
    from latentlens.cli import build_parser

    parser = build_parser()
    for recipe in zoo.RECIPES.values():
        args = parser.parse_args(recipe.argv("/tmp/x"))
        assert args.command == "train" and args.out == "/tmp/x"


def test_run_option_takes_a_zoo_name(tiny_zoo, tmp_path):
    from latentlens.cli import main

    assert main(["report", "--run", "zoo:dsprites-betavae"]) == 0
    [exported] = (tmp_path / "cache" / "zoo").iterdir()
    assert exported.name.startswith("dsprites-betavae-") and (exported / "report.html").is_file()
    assert not (tiny_zoo / "report.html").exists()  # the packaged folder is never written


def test_export_never_overwrites_a_run_in_progress(tiny_zoo, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "config.json").write_text('{"kind": "vae", "model": {}}')  # a run still training: no weights yet
    with pytest.raises(LatentLensError, match="another run"):
        zoo.export("dsprites-betavae", busy)
    assert (busy / "config.json").read_text() == '{"kind": "vae", "model": {}}'


def test_train_records_where_it_trained_and_keeps_it_when_scored_elsewhere(tmp_path, monkeypatch):
    """A model trained on one machine (``--device``) and scored on another keeps the training machine,
    command and commit in its provenance."""
    from latentlens.zoo.recipes import Recipe

    tiny = Recipe("dsprites-betavae", "vae", "dsprites", "tiny",
                  ("train", "vae", "--data", "dsprites", "--steps", "2", "--batch-size", "4"), "disentanglement")  # fmt: skip
    monkeypatch.setattr(zoo, "get_recipe", lambda name: tiny)
    monkeypatch.setattr(zoo, "score", lambda *args, **kwargs: {"mig": 0.25})
    monkeypatch.setattr(zoo, "machine", lambda: {"device": "trainer-gpu"})
    monkeypatch.setattr(zoo, "_git_commit", lambda: "abc123")
    out = tmp_path / "run"
    first = zoo.train("dsprites-betavae", out, progress=False, device="auto")
    assert first["command"] == "latentlens train vae --data dsprites --steps 2 --batch-size 4 --out OUT --device auto"
    assert first["machine"] == {"device": "trainer-gpu"} and first["commit"] == "abc123"
    (out / "provenance.json").unlink()
    monkeypatch.setattr(zoo, "machine", lambda: {"device": "scoring-laptop"})
    monkeypatch.setattr(zoo, "_git_commit", lambda: "def456")
    again = zoo.train("dsprites-betavae", out, progress=False)  # already trained: only scored here
    assert again["machine"] == {"device": "trainer-gpu"} and again["commit"] == "abc123"
    assert again["metrics"] == {"mig": 0.25} and "resumed_on" not in again


def test_train_with_another_seed_changes_only_the_seed(tmp_path, monkeypatch):
    """``zoo train NAME --seed S`` runs the recipe's command with its training seed replaced, and records it."""
    from latentlens.cli import main
    from latentlens.io import read_json
    from latentlens.zoo.recipes import Recipe

    tiny = Recipe("dsprites-betavae", "vae", "dsprites", "tiny",
                  ("train", "vae", "--data", "dsprites", "--seed", "0", "--steps", "2", "--batch-size", "4"),
                  "disentanglement")  # fmt: skip
    assert tiny.argv("o", 3) == ["train", "vae", "--data", "dsprites", "--seed", "3", "--steps", "2", "--batch-size",
                                 "4", "--out", "o"]  # fmt: skip
    assert tiny.argv("o") == [*tiny.command, "--out", "o"]
    unseeded = Recipe("x", "vae", "dsprites", "", ("train", "vae", "--steps", "2"), "disentanglement")
    assert unseeded.argv("o", 5)[-4:] == ["--seed", "5", "--out", "o"]
    assert (tiny.seed, unseeded.seed) == (0, None)
    monkeypatch.setattr(zoo, "get_recipe", lambda name: tiny)
    monkeypatch.setattr(zoo, "score", lambda *args, **kwargs: {"mig": 0.25})
    assert main(["zoo", "train", "dsprites-betavae", "--seed", "7", "--out", str(tmp_path / "s7"), "--no-progress"]) == 0
    zoo.train("dsprites-betavae", tmp_path / "s0", progress=False)
    provenance = read_json(tmp_path / "s7" / "provenance.json")
    assert provenance["command"] == "latentlens train vae --data dsprites --seed 7 --steps 2 --batch-size 4 --out OUT"
    assert read_json(tmp_path / "s7" / "config.json")["train"]["seed"] == 7
    assert read_json(tmp_path / "s0" / "config.json")["train"]["seed"] == 0


def test_train_refuses_a_folder_of_another_seed_and_bad_seeds(tmp_path, monkeypatch):
    """A run folder is never resumed or scored under another seed; a bad seed leaves nothing behind."""
    from latentlens.zoo.recipes import Recipe

    tiny = Recipe("dsprites-betavae", "vae", "dsprites", "tiny",
                  ("train", "vae", "--data", "dsprites", "--seed", "0", "--steps", "2", "--batch-size", "4"),
                  "disentanglement")  # fmt: skip
    monkeypatch.setattr(zoo, "get_recipe", lambda name: tiny)
    monkeypatch.setattr(zoo, "score", lambda *args, **kwargs: {"mig": 0.25})
    out = tmp_path / "run"
    zoo.train("dsprites-betavae", out, progress=False, seed=3)
    for other in (None, 0, 4):  # the recipe's own seed (0) or another one
        with pytest.raises(LatentLensError, match="trained with seed 3"):
            zoo.train("dsprites-betavae", out, progress=False, seed=other)
    assert zoo.train("dsprites-betavae", out, progress=False, seed=3)["metrics"] == {"mig": 0.25}
    for bad in (-1, 2**32, 1.5, True):
        with pytest.raises(LatentLensError, match="seed must be"):
            zoo.train("dsprites-betavae", tmp_path / "bad", progress=False, seed=bad)
    assert not (tmp_path / "bad").exists()
