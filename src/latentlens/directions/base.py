"""The Directions artifact and the estimator base class shared by every direction finder.

**Directions** (research/directions.md §7, "a single Directions artifact"): a basis of ``K`` latent
directions (``K x D``, one row per direction), the name of the latent space, a per-direction scale (the
latent step that corresponds to "one unit" of the direction: the PCA standard deviation for GANSpace, 1
for unit directions in a N(0, I) latent), an ordering score (eigenvalue, explained variance, image effect,
...), provenance (method, parameters, seed, model hash, latentlens version), optional human names, and a
format version. On disk it is ``<name>.safetensors`` (``basis``, ``scales``, ``scores``) plus a JSON
sidecar ``<name>.json`` with everything else; keys are never renamed, and a newer format version is refused
with a clear message.

**DirectionFinder** follows scikit-learn's estimator contract (research/style_ecosystem.md A1): ``__init__``
only stores its keyword arguments; ``get_params`` / ``set_params`` read them back from the signature;
``fit(generator)`` returns ``self`` and sets ``directions_`` (a :class:`Directions`) and ``scores_``;
randomness comes only from ``random_state``. Subclasses implement ``_fit(generator, seed)``.
Finders are registered under kind ``"directions"`` (``registry.names("directions")``); the CLI and the
contract test iterate over that table.
"""

from __future__ import annotations

import inspect
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..errors import LatentLensError
from ..io import atomic_write_text, load_tensors, save_tensors
from .generators import as_generator, model_hash

FORMAT_VERSION = 1
_TENSOR_KEYS = ("basis", "scales", "scores")


def shifted_images(generator, z: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Images of the latents ``z + delta``, given as a base and a shift: a generator with a
    ``shifted(z, delta)`` method gets them apart (h-space, where the base fixes each row's noise), any other
    is called on ``z + delta``."""
    shifted = getattr(generator, "shifted", None)
    return shifted(z, delta) if callable(shifted) else generator(z + delta)


def shifted_pair(generator, z: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``G(z)`` and ``G(z + shift)`` from one batched call of :func:`shifted_images`."""
    return shifted_images(generator, torch.cat([z, z]), torch.cat([torch.zeros_like(shift), shift])).chunk(2)


@dataclass
class Directions:
    """A set of ``K`` latent directions with provenance. ``basis`` is ``(K, D)``, one direction per row."""

    basis: torch.Tensor
    scales: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    score_name: str = "none"
    latent_space: str = "z"
    method: str = "unknown"
    params: dict = field(default_factory=dict)
    seed: int | None = None
    model_hash: str = "unknown"
    names: list[str] | None = None
    unit_norm: bool = True
    orthonormal: bool = False
    extra: dict = field(default_factory=dict)
    version: str = __version__
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        basis = torch.as_tensor(self.basis).detach().to("cpu", torch.float32)
        if basis.ndim != 2 or basis.shape[0] < 1:
            raise LatentLensError(f"a direction basis must be (K, D) with K >= 1, got shape {tuple(basis.shape)}")
        if not torch.isfinite(basis).all():
            raise LatentLensError("the direction basis contains NaN or infinite values")
        k = basis.shape[0]
        scales = torch.ones(k) if self.scales is None else torch.as_tensor(self.scales).detach().float().cpu()
        scores = torch.zeros(k) if self.scores is None else torch.as_tensor(self.scores).detach().float().cpu()
        for name, t in (("scales", scales), ("scores", scores)):
            if t.shape != (k,):
                raise LatentLensError(f"{name} must have shape ({k},), got {tuple(t.shape)}")
        if self.names is not None:
            if not isinstance(self.names, (list, tuple)) or not all(isinstance(n, str) for n in self.names):
                raise LatentLensError(f"names must be a list of {k} strings, got {self.names!r}")
            if len(self.names) != k:
                raise LatentLensError(f"names must have {k} entries, got {len(self.names)}")
            self.names = list(self.names)
        self.basis, self.scales, self.scores = basis.contiguous(), scales.contiguous(), scores.contiguous()

    # -- shape and algebra ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.basis.shape[0]

    @property
    def n_directions(self) -> int:
        return self.basis.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.basis.shape[1]

    def label(self, k: int) -> str:
        return self.names[k] if self.names and self.names[k] else f"{self.method}[{k}]"

    def transform(self, z: torch.Tensor) -> torch.Tensor:
        """Coordinates of latents along the directions, ``z @ basis.T`` -> ``(N, K)``."""
        return torch.as_tensor(z, dtype=torch.float32) @ self.basis.T

    def edit(self, z: torch.Tensor, k: int, alpha) -> torch.Tensor:
        """``z + alpha * scale_k * d_k`` (``alpha`` scalar or ``(N,)``)."""
        alpha = torch.as_tensor(alpha, dtype=z.dtype)
        if alpha.ndim == 1:
            alpha = alpha[:, None]
        return z + alpha * self.scales[k].to(z.dtype) * self.basis[k].to(z.dtype)

    @torch.inference_mode()
    def traverse(self, generator, z: torch.Tensor, k: int, alphas) -> torch.Tensor:
        """Images ``G(z_i + a * scale_k * d_k)`` for every latent ``z_i`` (rows) and ``a`` in ``alphas``
        (columns), as one ``(N * len(alphas), C, H, W)`` tensor in row-major order (one batched call)."""
        gen = as_generator(generator)
        alphas = torch.as_tensor(list(alphas), dtype=torch.float32)
        shifts = alphas[:, None] * (self.scales[k] * self.basis[k])[None, :]
        rows = z[:, None, :].expand(-1, len(alphas), -1).reshape(-1, z.shape[1])
        return shifted_images(gen, rows, shifts.repeat(len(z), 1).to(rows.dtype)).float()

    def subset(self, index) -> "Directions":
        """A new artifact with the directions ``index`` (list of ints), in that order."""
        index = [int(i) for i in index]
        return Directions(
            basis=self.basis[index], scales=self.scales[index], scores=self.scores[index],
            score_name=self.score_name, latent_space=self.latent_space, method=self.method,
            params=dict(self.params), seed=self.seed, model_hash=self.model_hash,
            names=[self.names[i] for i in index] if self.names else None, unit_norm=self.unit_norm,
            orthonormal=self.orthonormal, extra=dict(self.extra), version=self.version,
        )  # fmt: skip

    def gram(self) -> torch.Tensor:
        return self.basis.double() @ self.basis.double().T

    # -- persistence ------------------------------------------------------------------------------------
    def sidecar(self) -> dict:
        return {
            "format_version": self.format_version,
            "kind": "latentlens.directions",
            "latentlens_version": self.version,
            "n_directions": self.n_directions,
            "latent_dim": self.latent_dim,
            "latent_space": self.latent_space,
            "score_name": self.score_name,
            "method": self.method,
            "params": self.params,
            "seed": self.seed,
            "model_hash": self.model_hash,
            "names": self.names,
            "unit_norm": self.unit_norm,
            "orthonormal": self.orthonormal,
            "extra": self.extra,
        }

    def save(self, path) -> Path:
        """Write ``<path>.safetensors`` and the JSON sidecar ``<path>.json``; returns the tensor file path."""
        tensor_path, json_path = _paths(path)
        meta = {"format_version": FORMAT_VERSION, "method": self.method}
        save_tensors(tensor_path, {"basis": self.basis, "scales": self.scales, "scores": self.scores}, meta)
        atomic_write_text(json_path, json.dumps(self.sidecar(), indent=2, sort_keys=True, default=_jsonable) + "\n")
        return tensor_path

    @classmethod
    def load(cls, path) -> "Directions":
        """Read an artifact written by :meth:`save` (either file's path, or the common stem)."""
        tensor_path, json_path = _paths(path)
        if not tensor_path.is_file():
            raise LatentLensError(f"missing directions file: {tensor_path}")
        if not json_path.is_file():
            raise LatentLensError(f"missing directions sidecar: {json_path} (it is written next to {tensor_path.name})")
        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LatentLensError(f"corrupt directions sidecar {json_path}: {exc}") from None
        if not isinstance(meta, dict) or meta.get("kind") != "latentlens.directions":
            raise LatentLensError(f"{json_path} is not a latentlens directions sidecar")
        fv = meta.get("format_version")
        if not isinstance(fv, int) or isinstance(fv, bool) or not 0 <= fv <= FORMAT_VERSION:
            raise LatentLensError(
                f"{json_path} has directions format version {fv}; this latentlens reads up to {FORMAT_VERSION} "
                "(upgrade latentlens)"
            )
        tensors = load_tensors(tensor_path)
        missing = [k for k in _TENSOR_KEYS if k not in tensors]
        if missing:
            raise LatentLensError(f"{tensor_path} lacks tensors {missing}")
        basis = tensors["basis"]
        if basis.ndim != 2 or (meta.get("n_directions"), meta.get("latent_dim")) != tuple(basis.shape):
            raise LatentLensError(
                f"{tensor_path} and {json_path.name} disagree: basis {tuple(basis.shape)}, sidecar "
                f"({meta.get('n_directions')}, {meta.get('latent_dim')})"
            )
        def text(key, default):
            value = meta.get(key, default)
            if not isinstance(value, str):
                raise LatentLensError(f"{json_path}: {key!r} must be text, got {value!r}")
            return value

        def obj(key):
            value = meta.get(key) or {}
            if not isinstance(value, dict):
                raise LatentLensError(f"{json_path}: {key!r} must be an object, got {value!r}")
            return value

        seed = meta.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise LatentLensError(f"{json_path}: 'seed' must be a whole number or null, got {seed!r}")
        return cls(
            basis=basis, scales=tensors["scales"], scores=tensors["scores"], score_name=text("score_name", "none"),
            latent_space=text("latent_space", "z"), method=text("method", "unknown"), params=obj("params"),
            seed=seed, model_hash=text("model_hash", "unknown"), names=meta.get("names"),
            unit_norm=bool(meta.get("unit_norm", False)), orthonormal=bool(meta.get("orthonormal", False)),
            extra=obj("extra"), version=str(meta.get("latentlens_version", "unknown")), format_version=fv,
        )  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"Directions(method={self.method!r}, K={self.n_directions}, D={self.latent_dim}, "
            f"space={self.latent_space!r}, score={self.score_name!r}, seed={self.seed})"
        )


def _paths(path) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def _jsonable(obj):
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (np.generic, torch.Tensor)) and np.ndim(obj) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return repr(obj)


# ---------------------------------------------------------------------------------------------------------
# Numerics shared by the finders
# ---------------------------------------------------------------------------------------------------------


def sign_convention(basis: torch.Tensor) -> torch.Tensor:
    """Flip each row so that its entry of largest magnitude is positive (a deterministic sign choice)."""
    idx = basis.abs().argmax(dim=1, keepdim=True)
    signs = torch.sign(basis.gather(1, idx))
    signs[signs == 0] = 1
    return basis * signs


def normalize_rows(basis: torch.Tensor) -> torch.Tensor:
    return basis / basis.norm(dim=1, keepdim=True).clamp_min(1e-12)


def resolve_seed(random_state) -> int:
    """An int seed from ``random_state`` (None draws fresh OS entropy, recorded in the provenance)."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise LatentLensError(f"random_state must be non-negative, got {random_state}")
        return int(random_state)
    raise LatentLensError(f"random_state must be an int or None, got {type(random_state).__name__}")


def torch_generator(seed: int, offset: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + offset) % (2**63))


# ---------------------------------------------------------------------------------------------------------
# Estimator base
# ---------------------------------------------------------------------------------------------------------


class DirectionFinder:
    """Base of every direction finder (scikit-learn conventions; see the module docstring).

    Subclasses define ``__init__`` with keyword arguments only (stored unchanged), class attributes
    ``name`` (registry name), ``unit_norm`` / ``orthonormal`` (what the output promises), and
    ``_fit(generator, seed) -> dict`` returning ``basis`` and optionally ``scales``, ``scores``,
    ``score_name``, ``extra``.
    """

    name = "base"
    unit_norm = True
    orthonormal = False
    natural_order = True  # False: the method has no ordering of its own; ``ordering=`` chooses one

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        out = []
        for p in sig.parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must list its parameters explicitly")
            out.append(p.name)
        return out

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> "DirectionFinder":
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise LatentLensError(f"{type(self).__name__} has no parameter {key!r} (valid: {sorted(valid)})")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        changed = [
            f"{n}={getattr(self, n)!r}"
            for n, p in sig.parameters.items()
            if n != "self" and getattr(self, n) != p.default
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _check_k(self, latent_dim: int, allow_more: bool = False) -> int:
        k = getattr(self, "n_directions", None)
        if k is None:
            return latent_dim
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise LatentLensError(f"n_directions must be a positive int, got {k!r}")
        if k > latent_dim and not allow_more:
            raise LatentLensError(f"{self.name}: n_directions={k} exceeds the latent dimension {latent_dim}")
        return int(k)

    def fit(self, generator) -> "DirectionFinder":
        """Find directions of ``generator`` (any model :func:`as_generator` accepts); returns ``self``."""
        gen = as_generator(generator)
        seeded = "random_state" in self._param_names()
        seed = resolve_seed(self.random_state) if seeded else 0
        out = self._fit(gen, seed)
        basis = out["basis"].detach().float().cpu()
        scores = out.get("scores")
        score_name = out.get("score_name", "none")
        ordering = getattr(self, "ordering", None)
        if not self.natural_order and ordering not in (None, "none"):
            from .ordering import order_directions

            extra = out.setdefault("extra", {})
            per = extra.get("per_direction_accuracy")
            perm, scores, score_name = order_directions(gen, basis, ordering, seed=seed, per_direction_accuracy=per)
            basis = basis[perm]
            out["scales"] = None if out.get("scales") is None else torch.as_tensor(out["scales"])[perm]
            if per is not None:
                extra["per_direction_accuracy"] = [float(per[i]) for i in perm]
            extra["order"] = perm.tolist()  # index of each output direction before ordering
        params = {k: v for k, v in self.get_params().items() if k != "show_progress"}
        self.directions_ = Directions(
            basis=basis, scales=out.get("scales"), scores=scores, score_name=score_name,
            latent_space=getattr(gen, "latent_space", "z"), method=self.name, params=_plain(params),
            seed=seed if seeded else None,
            model_hash=model_hash(gen), unit_norm=self.unit_norm, orthonormal=self.orthonormal,
            extra=_plain(out.get("extra", {})),
        )  # fmt: skip
        self.scores_ = self.directions_.scores.clone()
        self.n_features_in_ = gen.latent_dim
        self.seed_ = seed if seeded else None
        return self

    def _fit(self, generator, seed: int) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, z: torch.Tensor) -> torch.Tensor:
        self._check_fitted()
        return self.directions_.transform(z)

    def _check_fitted(self) -> None:
        if not hasattr(self, "directions_"):
            raise LatentLensError(f"{type(self).__name__} is not fitted yet: call fit(generator) first")


def _plain(obj):
    """JSON-safe copy of parameters / extras (tensors -> lists, floats kept finite)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return repr(obj)


# Options the CLI and the benchmarks pass to every method; a method without them simply does not use them.
GENERIC_PARAMS = frozenset({"n_directions", "random_state", "show_progress", "n_steps"})


def build_finder(name: str, **params) -> DirectionFinder:
    """Instantiate the registered finder ``name``. ``None`` values and the generic options
    (:data:`GENERIC_PARAMS`) a method does not take are dropped; any other parameter the method does not
    take is an error naming the valid ones (a misspelt option never passes silently)."""
    import latentlens.directions  # noqa: F401  (importing the package registers every method)

    from ..registry import get

    cls = get("directions", name)
    accepted = set(cls._param_names())
    unknown = sorted(k for k in params if k not in accepted and k not in GENERIC_PARAMS)
    if unknown:
        raise LatentLensError(f"{name} has no parameter {', '.join(map(repr, unknown))} (valid: {', '.join(sorted(accepted))})")
    return cls(**{k: v for k, v in params.items() if k in accepted and v is not None})
