"""Benchmark: fit times of the closed-form direction finders (SeFa, GANSpace) on the same generator.

Generator: latentlens' DCGAN (64x64, latent 10, width 32 -> a 4096-unit first layer), random weights, with
the first layer's singular values set to ``logspace(0.6, -0.4)`` (a random 4096 x 10 matrix has nearly equal
singular values, which leaves its singular vectors, hence both methods' directions, undefined).

- **SeFa**: ours (``SeFa().fit``: float64 ``eigh`` of the row-normalised ``A^T A``, sorted, sign-fixed) vs
  the official code's recipe (``np.linalg.eig`` of the same matrix, as genforce/sefa's ``factorize_weight``).
- **GANSpace** on the first layer's activations, ``N`` latent samples: ours (activations captured by a hook
  that stops the forward pass after the layer, randomised PCA, least squares back to z) vs the reference
  recipe of harskish/ganspace (its default estimator, scikit-learn ``IncrementalPCA`` fed in chunks of
  ``max(2000, 3K)``, and ``scipy.linalg.lstsq`` of the standardised coordinates on z), fed with the same
  activations so that only the decomposition differs; full forward passes are timed for the reference too.
- Parity: ``|cos|`` between our directions and the reference's (1 = same up to sign).

``ours`` / ``reference`` are the GANSpace fit times in seconds, ``ratio`` = reference / ours (higher is
better). Median of ``--repeats`` runs, single-threaded by default.

Usage: ``python benchmarks/closed_form_speed.py [--samples 4000] [--repeats 1] [--threads 1]`` (the reference's
IncrementalPCA does a full SVD of every 2000 x 4096 chunk, about a minute each on one core).
Writes ``bench-results/closed_form_speed.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from latentlens.directions import GANSpace, SeFa, as_generator
from latentlens.io import write_json
from latentlens.models import build_model

ROOT = Path(__file__).resolve().parents[1]
K = 10


def reference_sefa(weight: np.ndarray, k: int) -> np.ndarray:
    w = weight / np.linalg.norm(weight, axis=1, keepdims=True)  # the official code normalises each unit
    vals, vecs = np.linalg.eig(w.T @ w)
    return vecs.T[:k].real  # LAPACK order, as the official code returns it (no explicit sort)


def reference_ganspace(model, n: int, k: int, seed: int) -> np.ndarray:
    """IncrementalPCA on full-forward activations, then least squares of coordinates on z."""
    from sklearn.decomposition import IncrementalPCA

    gen = model.generator
    captured = []
    handle = gen.first.register_forward_hook(lambda m, i, o: captured.append(o.detach().flatten(1).numpy()))
    z = torch.randn(n, gen.latent_dim, generator=torch.Generator().manual_seed(seed))
    chunk = max(2000, 3 * k)
    ipca = IncrementalPCA(n_components=k, batch_size=chunk)
    acts = []
    try:
        with torch.no_grad():
            for s in range(0, n, chunk):
                captured.clear()
                gen(z[s : s + chunk])  # the reference runs the network forward (no early stop)
                acts.append(captured[0])
                ipca.partial_fit(captured[0])
    finally:
        handle.remove()
    y = np.concatenate(acts)
    coords = (y - ipca.mean_) @ ipca.components_.T / np.sqrt(ipca.explained_variance_)
    m, *_ = scipy.linalg.lstsq(coords, z.numpy(), lapack_driver="gelsd")
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _cos(a, b) -> list[float]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.abs((a * b).sum(1)).round(4).tolist()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "closed_form_speed.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("gan", {"width": args.width, "latent_dim": 10}).eval()
    with torch.no_grad():  # a well-separated spectrum, so that the directions are well defined for the parity check
        w = model.generator.first.weight
        u, _, vh = torch.linalg.svd(w, full_matrices=False)
        w.copy_(u @ torch.diag(torch.logspace(0.6, -0.4, w.shape[1])) @ vh)
    generator = as_generator(model)
    weight = model.generator.first.weight.detach().double().numpy()
    times: dict[str, list[float]] = {"sefa": [], "sefa_reference": [], "ganspace": [], "ganspace_reference": []}
    for r in range(args.repeats):
        dt, sefa = _timed(lambda: SeFa(n_directions=K).fit(generator).directions_)
        times["sefa"].append(dt)
        dt, sefa_ref = _timed(lambda: reference_sefa(weight, K))
        times["sefa_reference"].append(dt)
        dt, gs = _timed(lambda: GANSpace(n_directions=K, n_samples=args.samples, random_state=r).fit(generator).directions_)
        times["ganspace"].append(dt)
        dt, gs_ref = _timed(lambda: reference_ganspace(model, args.samples, K, r))
        times["ganspace_reference"].append(dt)
        print(f"repeat {r}: " + ", ".join(f"{k} {v[-1]:.4f} s" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    # the reference's unsorted eig output is matched to ours by the best |cos| per direction
    sefa_ref_sorted = sefa_ref[np.argmax(np.abs(sefa.basis.double().numpy() @ sefa_ref.T), axis=1)]
    result = {
        "name": "closed_form_speed",
        "ours": med["ganspace"],
        "reference": med["ganspace_reference"],
        "ratio": med["ganspace_reference"] / med["ganspace"],
        "unit": "GANSpace fit seconds (lower is better; ratio = reference / ours)",
        "command": "python benchmarks/closed_form_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "sefa_seconds": {"ours": med["sefa"], "reference_np_eig": med["sefa_reference"]},
        "ganspace_seconds": {"ours": med["ganspace"], "reference_ipca": med["ganspace_reference"]},
        "parity_abs_cos": {"sefa": _cos(sefa.basis, sefa_ref_sorted), "ganspace": _cos(gs.basis, gs_ref)},
        "repeats": times,
        "setup": {"generator": f"DCGAN 64x64, latent 10, width {args.width}", "first_layer_units": weight.shape[0],
                  "samples": args.samples, "directions": K, "threads": args.threads},
    }  # fmt: skip
    write_json(args.out, result)
    print(f"closed_form_speed: SeFa {med['sefa'] * 1e3:.1f} ms; GANSpace {med['ganspace']:.2f} s vs reference "
          f"{med['ganspace_reference']:.2f} s -> {result['ratio']:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
