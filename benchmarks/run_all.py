"""``make bench``: run every benchmark script in this folder, then print one line per result.

Each script writes ``bench-results/<name>.json`` with ``name``, ``ours``, ``reference``, ``ratio``
(higher is better for latentlens), ``unit`` and ``command``. A script that fails is reported and the
others still run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "bench-results"


def main(argv: list[str] | None = None) -> int:
    only = set(argv if argv is not None else sys.argv[1:])
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run_all.py" and not p.name.startswith("_"))
    failed = []
    for script in scripts:
        if only and script.stem not in only:
            continue
        print(f"== {script.stem}", flush=True)
        began = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"   {script.stem}: exit {code} after {time.perf_counter() - began:.0f} s", flush=True)
        if code:
            failed.append(script.stem)
    print("\nname                    ours          reference     ratio   unit")
    for path in sorted(RESULTS.glob("*.json")):
        r = json.loads(path.read_text())
        print(f"{r['name']:<22} {_fmt(r.get('ours')):>12} {_fmt(r.get('reference')):>12} {_fmt(r.get('ratio')):>8}   {r.get('unit', '')}")
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


if __name__ == "__main__":
    sys.exit(main())
