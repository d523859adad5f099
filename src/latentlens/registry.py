"""Explicit name registries: models, objectives, direction finders, report sections.

``register("model", "vae")(cls)`` records a class under a short name; ``get`` and ``names`` read it back.
The CLI and the shared contract tests are driven by these tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import LatentLensError

_TABLES: dict[str, dict[str, Any]] = {}

# The package that registers each kind; imported on first lookup so the tables are never empty.
_PROVIDERS = {"model": "latentlens.models", "objective": "latentlens.models", "directions": "latentlens.directions"}


def _load(kind: str) -> dict[str, Any]:
    if kind in _PROVIDERS:
        import importlib

        importlib.import_module(_PROVIDERS[kind])
    return _TABLES.get(kind, {})


def register(kind: str, name: str) -> Callable[[Any], Any]:
    def decorator(obj: Any) -> Any:
        table = _TABLES.setdefault(kind, {})
        if name in table and table[name] is not obj:
            raise ValueError(f"{kind} {name!r} is already registered")
        table[name] = obj
        return obj

    return decorator


def get(kind: str, name: str) -> Any:
    table = _load(kind)
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        raise LatentLensError(f"unknown {kind} {name!r} (known: {known})")
    return table[name]


def names(kind: str) -> list[str]:
    return sorted(_load(kind))
