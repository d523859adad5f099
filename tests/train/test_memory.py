"""keep_freed_memory: large tensors come from the heap (no mmap per allocation) once it has run."""

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

CHILD = r"""
import ctypes, ctypes.util, sys, torch
from latentlens.train.loop import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "keep":
    assert keep_freed_memory()
if sys.argv[1] == "library":  # library training must leave the allocator as it is
    import tempfile
    from latentlens.data.sources import TensorSource
    from latentlens.train.loop import TrainSettings
    from latentlens.train.vae import train_vae
    images = (torch.rand(8, 1, 32, 32) > 0.5).to(torch.uint8) * 255
    train_vae(TensorSource(images), tempfile.mkdtemp(), TrainSettings(steps=1, batch_size=4, progress=False),
              {"image_size": 32})
before = libc.mallinfo2().hblks
big = torch.empty(16 << 20)  # 64 MiB: above the largest mmap threshold glibc sets by itself (32 MiB)
print(libc.mallinfo2().hblks - before)
"""


def _has_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not _has_mallinfo2(), reason="needs glibc >= 2.33")
def test_large_allocations_leave_mmap_after_keep_freed_memory():
    def mmapped_blocks(mode):
        out = subprocess.run([sys.executable, "-c", CHILD, mode], check=True, capture_output=True, text=True)
        return int(out.stdout.strip().splitlines()[-1])

    assert mmapped_blocks("default") == 1
    assert mmapped_blocks("keep") == 0
    assert mmapped_blocks("library") == 1


def test_opt_out_by_environment(monkeypatch):
    from latentlens.train.loop import keep_freed_memory

    monkeypatch.setenv("LATENTLENS_KEEP_FREED_MEMORY", "0")
    assert keep_freed_memory() is False
