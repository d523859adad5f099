import json

import pytest
import torch

from latentlens.errors import LatentLensError
from latentlens.io import (
    append_jsonl,
    atomic_write_bytes,
    load_state_into,
    load_tensors,
    read_json,
    read_jsonl,
    save_tensors,
    write_json,
)


def test_atomic_write_leaves_no_temp_files_and_replaces(tmp_path):
    target = tmp_path / "a" / "f.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    write_json(target, {"a": 1})

    def boom(*_):
        raise OSError("disk full")

    monkeypatch.setattr("latentlens.io.os.replace", boom)
    with pytest.raises(OSError):
        write_json(target, {"a": 2})
    assert read_json(target) == {"a": 1}
    assert len(list(tmp_path.iterdir())) == 1


def test_safetensors_round_trip_and_corrupt_file(tmp_path):
    tensors = {"w": torch.randn(3, 4), "b": torch.arange(5)}
    path = save_tensors(tmp_path / "t.safetensors", tensors, metadata={"step": 7})
    loaded = load_tensors(path)
    assert torch.equal(loaded["w"], tensors["w"]) and torch.equal(loaded["b"], tensors["b"])
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(LatentLensError, match="corrupt checkpoint"):
        load_tensors(path)
    with pytest.raises(LatentLensError, match="missing checkpoint"):
        load_tensors(tmp_path / "absent.safetensors")


def test_mismatched_state_names_the_problem():
    module = torch.nn.Linear(3, 2)
    with pytest.raises(LatentLensError, match="shape"):
        load_state_into(module, {"weight": torch.zeros(2, 4), "bias": torch.zeros(2)}, "ckpt")
    with pytest.raises(LatentLensError, match="missing"):
        load_state_into(module, {"weight": torch.zeros(2, 3)}, "ckpt")


def test_jsonl_skips_a_line_cut_by_a_kill(tmp_path):
    path = tmp_path / "log.jsonl"
    append_jsonl(path, {"step": 1})
    append_jsonl(path, {"step": 2})
    with open(path, "a") as handle:
        handle.write('{"step": 3, "lo')
    assert [r["step"] for r in read_jsonl(path)] == [1, 2]


def test_corrupt_json_is_a_user_error(tmp_path):
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(LatentLensError, match="corrupt JSON"):
        read_json(tmp_path / "c.json")
    assert json.loads(json.dumps({"ok": True}))


def test_an_error_message_is_one_line_whatever_it_quotes():
    from latentlens.errors import LatentLensError

    exc = LatentLensError("unknown vae config fields: a\nb\r")
    assert str(exc) == "unknown vae config fields: a\\nb\\r" and "\n" not in str(exc)
    assert str(LatentLensError("plain")) == "plain" and exc.args == ("unknown vae config fields: a\nb\r",)
