"""What the explorer shows, without HTTP: one run folder's model, its direction sets, renders and renames.

:class:`ExplorerSession` loads the run's model once (a VAE, a GAN, a zoo model or a user's ``--model`` run),
lists the direction sets (the latent coordinates, plus every Directions artifact the run folder holds), and
renders PNGs: one image for a latent plus shifts, a traversal strip, an animated GIF, an attention overlay
(VAEs), and a point on the run's space-filling curve (``RUN/sfvq/curve``, written by ``latentlens sfvq``). Every parameter is checked against its bounds here; a bad one raises :class:`BadRequest`. Renders
are cached by key (LRU) and run under ``torch.inference_mode`` on the model's device, one at a time.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import LatentLensError

MAX_ALPHA = 10.0
MAX_SHIFTS = 64
MAX_STEPS = 25
MAX_SEED = 2**31 - 1
MAX_SAMPLES = 64
MAX_NAME = 60
LATENT_SET = "latent"


class BadRequest(LatentLensError):
    """A request parameter outside its bounds or of the wrong form (HTTP 400)."""


def _int(value, name: str, lo: int, hi: int) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a whole number, got {value!r}") from None
    if str(value).strip() not in (str(out), f"+{out}") or not lo <= out <= hi:
        raise BadRequest(f"{name} must be a whole number in [{lo}, {hi}], got {value!r}")
    return out


def _float(value, name: str, bound: float) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(out) or abs(out) > bound:
        raise BadRequest(f"{name} must be a finite number in [-{bound}, {bound}], got {value!r}")
    return out


def png_bytes(images: torch.Tensor, nrow: int | None = None) -> bytes:
    """``(N, C, H, W)`` images in [0, 1] as one PNG (a row of ``nrow``), no padding."""
    from ..viz.grids import to_uint8

    tiles = to_uint8(images)
    n, h, w, c = tiles.shape
    nrow = nrow or n
    rows = -(-n // nrow)
    canvas = np.zeros((rows * h, nrow * w, c), np.uint8)
    for i in range(n):
        r, q = divmod(i, nrow)
        canvas[r * h : (r + 1) * h, q * w : (q + 1) * w] = tiles[i]
    buffer = io.BytesIO()
    Image.fromarray(canvas[..., 0] if c == 1 else canvas).save(buffer, format="PNG")
    return buffer.getvalue()


class ExplorerSession:
    """The explorer's model-side state for one run folder (see the module docstring)."""

    def __init__(self, run_dir, device: str = "cpu", cache_size: int = 512):
        from ..adapters import resolve_device
        from ..directions.generators import looks_like_vae
        from ..workflows._runs import open_model
        from ..workflows.discover import _generator

        self.run_dir, config, self.model = open_model(run_dir, None, resolve_device(device))
        if type(self.model).__module__.startswith("latentlens."):  # trained channels_last; a user's code may .view()
            self.model.to(memory_format=torch.channels_last)
        self.run_dir = Path(self.run_dir)
        self.config = config
        self.is_vae = looks_like_vae(self.model) or callable(getattr(self.model, "encode", None))
        self.generator = _generator(self.model, config, "auto")
        self.latent_dim = int(self.generator.latent_dim)
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._cache_size = cache_size
        with torch.inference_mode():
            probe = self.generator(self.generator.sample_latents(1, torch.Generator().manual_seed(0)).float())
        self.channels, self.image_size = int(probe.shape[1]), int(probe.shape[-1])
        self.sets = self._load_sets()
        self.curve = self._load_curve()

    # -- direction sets --------------------------------------------------------------------------------
    def _artifact_paths(self) -> dict[str, Path]:
        found = {}
        for folder in (self.run_dir / "directions", self.run_dir):
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.safetensors")):
                if path.with_suffix(".json").is_file() and path.stem not in found and path.stem != LATENT_SET:
                    found[path.stem] = path
        return found

    def _load_sets(self) -> dict:
        from ..directions import Directions

        eye = Directions(basis=torch.eye(self.latent_dim), method=LATENT_SET, names=None)
        sets = {LATENT_SET: {"directions": eye, "path": None}}
        for name, path in self._artifact_paths().items():
            try:
                d = Directions.load(path)
            except LatentLensError:
                continue  # not a readable directions artifact: not offered
            if d.latent_dim == self.latent_dim:
                sets[name] = {"directions": d, "path": path}
        return sets

    def _load_curve(self):
        """The run's fitted space-filling curve (``sfvq/curve``) when it lives in this latent space, else None."""
        from ..directions.sfvq import SpaceFillingVQ

        path = self.run_dir / "sfvq" / "curve.safetensors"
        if not path.is_file():
            return None
        try:
            curve = SpaceFillingVQ.load(path)
        except LatentLensError:
            return None  # not a readable curve: not offered
        return curve if curve.codebook_.shape[1] == self.latent_dim else None

    def curve_point(self, position) -> bytes:
        """The image of the point at ``position`` along the curve (0 = first corner, 2^B - 1 = last; fractions
        lie on the line between two corners, Vali & Bäckström's inverse transform)."""
        if self.curve is None:
            raise BadRequest("this run has no space-filling curve; fit one with latentlens sfvq")
        last = len(self.curve.codebook_) - 1
        try:
            position = float(position)
        except (TypeError, ValueError):
            position = float("nan")
        if not (np.isfinite(position) and 0 <= position <= last):
            raise BadRequest(f"position must be a number in [0, {last}]")
        z = self.curve.inverse_transform(torch.tensor([position]))
        return self._cached(("curve", round(position, 4)), lambda: png_bytes(self.generator(z.float()).cpu()))

    def meta(self) -> dict:
        provenance = self.run_dir / "provenance.json"
        card = {}
        if provenance.is_file():
            from ..io import read_json

            p = read_json(provenance)
            card = {k: p.get(k) for k in ("name", "description", "command", "metrics")}
        return {
            "kind": "vae" if self.is_vae else "generator",
            "run": self.run_dir.name,
            "latent_dim": self.latent_dim,
            "image_size": self.image_size,
            "channels": self.channels,
            "attention": self.is_vae,
            "data_images": bool(self.is_vae and getattr(self.generator, "latent_bank", None) is not None),
            "sets": [
                {"name": name, "method": s["directions"].method, "n": len(s["directions"]),
                 "labels": [self._label(name, k) for k in range(len(s["directions"]))],
                 "renamable": s["path"] is not None}
                for name, s in self.sets.items()
            ],  # fmt: skip
            "curve": None if self.curve is None else {"corners": len(self.curve.codebook_),
                                                      "bits": int(np.log2(len(self.curve.codebook_)))},
            "limits": {"alpha": MAX_ALPHA, "steps": MAX_STEPS, "samples": MAX_SAMPLES, "seed": MAX_SEED},
            "model_card": card,
        }

    def _label(self, name: str, k: int) -> str:
        d = self.sets[name]["directions"]
        return f"z{k}" if name == LATENT_SET else d.label(k)

    def _set(self, name) -> dict:
        if not isinstance(name, str) or name not in self.sets:
            raise BadRequest(f"unknown direction set {name!r} (known: {', '.join(self.sets)})")
        return self.sets[name]

    # -- latents ---------------------------------------------------------------------------------------
    def base_latent(self, seed, index, source="auto") -> torch.Tensor:
        """The ``index``-th latent drawn with ``seed`` from ``source``: ``prior`` (N(0, I)) or ``data`` (a VAE's
        encoded data images); ``auto`` is data when the run has them, else the prior."""
        seed = _int(seed, "seed", 0, MAX_SEED)
        index = _int(index, "index", 0, MAX_SAMPLES - 1)
        if source not in ("auto", "prior", "data"):
            raise BadRequest(f"source must be prior or data, got {source!r}")
        has_data = getattr(self.generator, "latent_bank", None) is not None
        if source == "data" and not has_data:
            raise BadRequest("this run has no encoded data images; use source=prior")
        gen = torch.Generator().manual_seed(seed)
        if source == "prior" and has_data:
            z = torch.randn(index + 1, self.latent_dim, generator=gen)
        else:
            z = self.generator.sample_latents(index + 1, gen).float()
        return z[index : index + 1].float()

    def parse_shifts(self, text) -> list[tuple[str, int, float]]:
        """``set:k:alpha`` items separated by commas (empty: no shift)."""
        if text is None or str(text).strip() == "":
            return []
        items = str(text).split(",")
        if len(items) > MAX_SHIFTS:
            raise BadRequest(f"at most {MAX_SHIFTS} shifts per render, got {len(items)}")
        out = []
        for item in items:
            parts = item.split(":")
            if len(parts) != 3:
                raise BadRequest(f"a shift is set:k:alpha, got {item!r}")
            name, k, alpha = parts
            d = self._set(name)["directions"]
            out.append((name, _int(k, "k", 0, len(d) - 1), _float(alpha, "alpha", MAX_ALPHA)))
        return out

    def shifted(self, z: torch.Tensor, shifts) -> torch.Tensor:
        for name, k, alpha in shifts:
            z = self.sets[name]["directions"].edit(z, k, alpha)
        return z

    # -- renders ---------------------------------------------------------------------------------------
    def _cached(self, key: tuple, make) -> bytes:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            with torch.inference_mode():
                data = make()
            self._cache[key] = data
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return data

    def render(self, seed=0, index=0, shifts=None, source="auto") -> bytes:
        parsed = self.parse_shifts(shifts)
        z = self.base_latent(seed, index, source)
        key = ("render", int(seed), int(index), source, tuple(parsed))
        return self._cached(key, lambda: png_bytes(self.generator(self.shifted(z, parsed)).cpu()))

    def _strip_request(self, seed, index, shifts, name, k, steps, span, source="auto") -> tuple:
        """Validated ``(key, make_images)`` of a traversal strip; ``make_images()`` renders it."""
        parsed = self.parse_shifts(shifts)
        d = self._set(name)["directions"]
        k = _int(k, "k", 0, len(d) - 1)
        steps = _int(steps, "steps", 2, MAX_STEPS)
        span = abs(_float(span, "range", MAX_ALPHA))
        z = self.shifted(self.base_latent(seed, index, source), parsed)
        key = (int(seed), int(index), source, tuple(parsed), name, k, steps, span)
        return key, lambda: d.traverse(self.generator, z, k, np.linspace(-span, span, steps).tolist()).cpu()

    def traversal(self, seed=0, index=0, shifts=None, set_name=LATENT_SET, k=0, steps=9, span=3.0,
                  source="auto") -> bytes:  # fmt: skip
        key, images = self._strip_request(seed, index, shifts, set_name, k, steps, span, source)
        return self._cached(("strip", *key), lambda: png_bytes(images()))

    def animation(self, seed=0, index=0, shifts=None, set_name=LATENT_SET, k=0, steps=9, span=3.0,
                  source="auto") -> bytes:  # fmt: skip
        key, images = self._strip_request(seed, index, shifts, set_name, k, steps, span, source)

        def gif() -> bytes:
            from ..viz.grids import to_uint8

            frames = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in to_uint8(images())]
            frames = frames + frames[-2:0:-1]  # there and back
            buffer = io.BytesIO()
            frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=120, loop=0)
            return buffer.getvalue()

        return self._cached(("gif", *key), gif)

    def attention(self, seed=0, index=0, set_name=LATENT_SET, k=0, source="auto") -> bytes:
        """The attention overlay (Liu et al. Eq. 1-2) of one latent dimension or direction on the image the
        base latent decodes to (for a VAE with data latents: the reconstruction of a real image)."""
        if not self.is_vae:
            raise BadRequest("attention maps need a VAE (an encoder); this run holds a generator")
        d = self._set(set_name)["directions"]
        k = _int(k, "k", 0, len(d) - 1)
        z = self.base_latent(seed, index, source)

        def make() -> bytes:
            from ..adapters import as_vae
            from ..explain.vae_attention import VAEAttention
            from ..viz.overlays import overlay, robust_range

            image = self.generator(z).float()
            vae = getattr(self.generator, "vae", None) or as_vae(self.model, output_range="unit")
            with torch.inference_mode(False), torch.enable_grad():
                target = d.basis[k : k + 1].clone().to(image.device)
                result = VAEAttention(vae).attribute(image.clone(), target=target)
            heat = result.maps[0, 0].detach().cpu().numpy()
            lo, hi = robust_range(heat)
            rgb = overlay(image[0].cpu(), heat, lo, max(hi, lo + 1e-12))
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, format="PNG")
            return buffer.getvalue()

        return self._cached(("attention", int(seed), int(index), source, set_name, k), make)

    # -- names ---------------------------------------------------------------------------------------
    def rename(self, set_name, k, name) -> dict:
        """Give direction ``k`` of an artifact a human name, saved into its JSON sidecar (atomically)."""
        entry = self._set(set_name)
        if entry["path"] is None:
            raise BadRequest("the latent coordinates cannot be renamed; rename directions of an artifact")
        d = entry["directions"]
        k = _int(k, "k", 0, len(d) - 1)
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or any(c in name for c in "\n\r\t"):
            raise BadRequest(f"a name is 1 to {MAX_NAME} characters on one line")
        names = list(d.names) if d.names else [d.label(i) for i in range(len(d))]
        names[k] = name.strip()
        d.names = names
        with self._lock:
            d.save(entry["path"].with_suffix(""))
        return {"set": set_name, "k": k, "name": names[k]}
