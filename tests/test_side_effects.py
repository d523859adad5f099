"""Importing latentlens and writing files leaves the process umask alone (the allocator: tests/train/test_memory.py)."""

import subprocess
import sys


def test_import_and_training_do_not_touch_umask_or_the_allocator(tmp_path):
    code = f"""
import os, ctypes
os.umask(0o027)
import latentlens, latentlens.io, latentlens.train.vae
from latentlens.io import write_json
write_json({str(tmp_path / 'x.json')!r}, {{"a": 1}})
mask = os.umask(0o027)
print(oct(mask), oct(os.stat({str(tmp_path / 'x.json')!r}).st_mode & 0o777))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0o27", "0o640"]
