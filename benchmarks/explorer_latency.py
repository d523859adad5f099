"""Benchmark: explorer latency under load - one 64x64 render and one 9-frame traversal, 8 concurrent clients.

The explorer serves the zoo's best dSprites VAE (``--run`` for another run) on a free port of 127.0.0.1 from
its own process (``latentlens explore``, as a user starts it; ``--in-process`` serves it from a thread of this
process instead, where the clients' threads compete with it for the GIL); ``--clients`` threads send
``--requests`` requests each, to 127.0.0.1 only, every request a new slider position (distinct shifts, so the
render cache does not answer). Reported: p50 and p95 latency in
milliseconds per endpoint, and requests per second. Aim: p50 and p95 under 50 ms for both.

``ours`` = p95 of the render endpoint; ``reference`` = the 50 ms budget; ``ratio`` = budget / p95 (>= 1 meets
the aim).

Usage: ``python benchmarks/explorer_latency.py [--clients 8] [--requests 40]``.
Writes ``bench-results/explorer_latency.json``.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import torch

from latentlens.io import write_json
from latentlens.zoo.recipes import BEST_VAE

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MS = 50.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from latentlens.app.server import create_app
    from latentlens.app.session import ExplorerSession

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default=f"zoo:{BEST_VAE}")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40, help="per client and endpoint")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server (explore's default)")
    parser.add_argument("--in-process", action="store_true", help="serve from a thread of this process")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "explorer_latency.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    session = ExplorerSession(args.run)  # here only for the run's direction sets, unless --in-process
    set_name = next((s["name"] for s in session.meta()["sets"] if s["name"] != "latent"), "latent")
    server = process = None
    if args.in_process:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(create_app(session), log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
    else:
        command = [sys.executable, "-m", "latentlens.cli", "explore", "--run", args.run, "--threads", str(args.threads)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = process.stdout.readline()
        if "http://127.0.0.1:" not in line:
            process.kill()
            raise SystemExit(f"the explorer did not start: {line.strip() or 'no output'}")
        base = line.split()[2].rstrip("/")

    def url(endpoint: str, client: int, i: int) -> str:
        alpha = round(-3 + 6 * ((client * args.requests + i) % 997) / 997, 4)  # distinct slider positions
        if endpoint == "render":
            return f"{base}/api/render.png?seed=0&index={client % 16}&shifts={set_name}:0:{alpha}"
        return f"{base}/api/traversal.png?seed=0&index={client % 16}&set={set_name}&k=0&steps=9&range=3&shifts=latent:1:{alpha}"

    results: dict = {}
    began = time.perf_counter()
    for endpoint in ("render", "traversal"):
        latencies: list[float] = []
        lock = threading.Lock()

        def client(c: int) -> None:
            for i in range(args.requests):
                t = time.perf_counter()
                with urllib.request.urlopen(url(endpoint, c, i), timeout=30) as response:
                    response.read()
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)

        t0 = time.perf_counter()
        workers = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - t0
        results[endpoint] = {"p50_ms": round(percentile(latencies, 0.5), 1), "p95_ms": round(percentile(latencies, 0.95), 1),
                             "mean_ms": round(statistics.mean(latencies), 1), "requests": len(latencies),
                             "requests_per_s": round(len(latencies) / wall, 1)}  # fmt: skip
        print(endpoint, results[endpoint], flush=True)
    if server is not None:
        server.should_exit = True
        thread.join(timeout=10)
    else:
        process.terminate()
        process.wait(timeout=10)
    p95 = results["render"]["p95_ms"]
    write_json(args.out, {
        "name": "explorer_latency", "ours": p95, "reference": BUDGET_MS, "ratio": round(BUDGET_MS / p95, 2),
        "unit": "p95 ms of one 64x64 render with 8 concurrent clients (ratio = 50 ms budget / p95)",
        "reference_name": "the issue's 50 ms budget", "endpoints": results,
        "aim_met": all(r["p50_ms"] < BUDGET_MS and r["p95_ms"] < BUDGET_MS for r in results.values()),
        "server": "a thread of the benchmark's process" if args.in_process else "its own process (latentlens explore)",
        "clients": args.clients, "requests_per_client": args.requests, "server_threads": args.threads,
        "run": args.run, "seconds": round(time.perf_counter() - began, 1),
        "command": "python benchmarks/explorer_latency.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
