"""Atomic file writes, safetensors checkpoints with JSON sidecars, and JSONL logs.

Every write goes to a temporary file in the same folder and is renamed over the target, so a crash
never leaves a half-written file. Checkpoints are ``.safetensors`` plus JSON; nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

from .errors import LatentLensError

FORMAT_VERSION = 1


def _file_mode() -> int:
    """What ``open()`` would give a new file (``0o666`` minus the umask); mkstemp's files start as 0600.
    Read from ``/proc/self/status`` where it exists, so the process umask is never changed, not even briefly."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # platforms without /proc: read it back at once
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced, given ordinary permissions and
    renamed over ``path``, on any error it is removed, so ``path`` is never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LatentLensError(f"missing file: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LatentLensError(f"corrupt JSON file {path}: {exc}") from None


def update_json(path: str | os.PathLike, updates: dict) -> dict:
    """Merge ``updates`` into the JSON object stored at ``path`` (created if absent)."""
    path = Path(path)
    current = read_json(path) if path.exists() else {}
    current.update(updates)
    write_json(path, current)
    return current


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line; a line is written with a single ``write`` call and flushed."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=_json_default) + "\n")
        handle.flush()


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill; the rest of the log is still good
    return records


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> Path:
    """Save tensors as safetensors (contiguous CPU copies), atomically."""
    flat = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    meta = {"format_version": str(FORMAT_VERSION)}
    if metadata:
        meta.update({k: json.dumps(v, default=_json_default) for k, v in metadata.items()})
    return atomic_write_bytes(path, _st_save(flat, metadata=meta))


def load_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a safetensors file; a missing or corrupt file raises :class:`LatentLensError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LatentLensError(f"missing checkpoint: {path}") from None
    try:
        return _st_load(data)
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        raise LatentLensError(f"corrupt checkpoint {path}: {exc}") from None


def load_state_into(module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str | os.PathLike) -> None:
    """Load ``tensors`` into ``module`` strictly, naming the checkpoint when shapes or keys do not match."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise LatentLensError(
            f"checkpoint {source} does not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise LatentLensError(
                f"checkpoint {source} does not match the model: {name} has shape {tuple(tensor.shape)}, "
                f"the model expects {tuple(expected[name].shape)}"
            )
    module.load_state_dict(tensors, strict=True)


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and check that files can be written in it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as exc:
        raise LatentLensError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None
    return path


OUTPUT_MARKER = ".latentlens"


def output_folder(path: str | os.PathLike) -> Path:
    """:func:`ensure_writable_dir`, and mark ``path`` as a latentlens output folder (a file named
    :data:`OUTPUT_MARKER`): pictures written there are never read back as data when a data folder holds it."""
    path = ensure_writable_dir(path)
    marker = path / OUTPUT_MARKER
    if not marker.exists():
        try:
            marker.write_text("written by latentlens: images below this folder are not read as data\n")
        except OSError as exc:
            raise LatentLensError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
