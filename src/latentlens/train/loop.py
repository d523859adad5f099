"""What every training loop shares: seeding, DDP set-up, channels_last, logging, atomic checkpoints, resume.

Distributed runs use the standard engine: launched with ``torchrun --nproc_per_node N``, each process
joins a ``gloo`` (CPU) or ``nccl`` (GPU) group and wraps its modules in ``DistributedDataParallel``.
Each rank draws its own batch from ``(seed, step, rank)``; rank 0 alone writes the run folder.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import inspect
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from ..errors import LatentLensError
from ..io import append_jsonl, output_folder, read_jsonl, write_json
from . import checkpoint as ckpt

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-4
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 250
    progress: bool = True
    lr_schedule: str = "constant"  # "constant" or "cosine" (to lr_final_fraction * lr at the last step)
    lr_final_fraction: float = 0.05
    warmup_steps: int = 0
    disc_lr: float | None = None  # learning rate of a discriminator (FactorVAE's); default: lr
    device: str = "cpu"  # "cpu", "cuda", "cuda:N" or "auto"; under torchrun with CUDA each rank takes its own GPU
    precision: str = "fp32"  # "bf16": VAE convolutions in bfloat16 while training (mixed precision)
    extra: dict = field(default_factory=dict)

    def validate(self) -> TrainSettings:
        for name in ("steps", "batch_size", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise LatentLensError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise LatentLensError(f"--lr must be a positive number, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise LatentLensError(f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if not 0 <= self.lr_final_fraction <= 1:
            raise LatentLensError(f"lr_final_fraction must be in [0, 1], got {self.lr_final_fraction}")
        if self.precision not in PRECISIONS:
            raise LatentLensError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.disc_lr is not None and not (math.isfinite(self.disc_lr) and self.disc_lr > 0):
            raise LatentLensError(f"--disc-lr must be a positive number, got {self.disc_lr}")
        from ..adapters import resolve_device

        resolve_device(self.device)  # an unknown or absent device is refused before any work
        if not 0 <= self.warmup_steps < self.steps:
            raise LatentLensError(f"--warmup-steps must be in [0, steps), got {self.warmup_steps}")
        return self

    def lr_at(self, step: int) -> float:
        """Learning rate of optimisation step ``step`` (0-based): linear warm-up over ``warmup_steps``, then
        constant or a cosine decay to ``lr_final_fraction * lr``. A pure function of the step, so a resumed
        run follows the same schedule."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.lr_schedule == "constant":
            return self.lr
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        low = self.lr * self.lr_final_fraction
        return low + 0.5 * (self.lr - low) * (1 + math.cos(math.pi * min(progress, 1.0)))


LR_SCHEDULES = ("constant", "cosine")
PRECISIONS = ("fp32", "bf16")


def set_lr(optimizer: torch.optim.Optimizer | None, lr: float) -> None:
    if optimizer is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr


_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of handing it back to the OS after every step.

    PyTorch has no caching allocator on CPU: each activation of a training step is a fresh multi-megabyte
    ``malloc``, which glibc serves with ``mmap`` and returns with ``munmap``, so every step pays page faults
    on every activation again (costly in virtual machines). Serving them from the heap and never trimming it
    makes a step of the dSprites VAE about 1.3-1.6x faster here (``benchmarks/train_vae.py``); the process
    keeps its peak memory. Process-wide and idempotent; returns False where libc has no ``mallopt``
    (macOS, musl) or ``LATENTLENS_KEEP_FREED_MEMORY=0``.
    """
    if os.environ.get("LATENTLENS_KEEP_FREED_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    # Older glibc caps the mmap threshold at 32 MiB; larger tensors then keep using mmap.
    served_from_heap = mallopt(_M_MMAP_THRESHOLD, 1 << 30) == 1 or mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1
    return served_from_heap and mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1) == 1 and mallopt(_M_TOP_PAD, 64 << 20) == 1


def training_device(settings: TrainSettings, world: int) -> torch.device:
    """The device a rank trains on: ``settings.device`` (``auto`` = CUDA when available); under torchrun
    with CUDA, the GPU of the rank's ``LOCAL_RANK``."""
    from ..adapters import resolve_device

    device = resolve_device(settings.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    return device


def distributed_context() -> tuple[int, int]:
    """Join the process group when launched by torchrun; return ``(rank, world_size)``."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def wrap_ddp(module: torch.nn.Module, world_size: int) -> torch.nn.Module:
    if world_size == 1:
        return module
    ddp = torch.nn.parallel.DistributedDataParallel
    param = next(iter(module.parameters()), None)
    if param is not None and param.is_cuda:
        ids = [param.device.index]
        if "forward_sync_buffers" in inspect.signature(ddp.__init__).parameters:
            return ddp(module, device_ids=ids, forward_sync_buffers=False)
        return ddp(module, device_ids=ids, broadcast_buffers=False)
    # Each rank keeps its own BatchNorm statistics; torch >= 2.13 renamed the switch.
    if "forward_sync_buffers" in inspect.signature(ddp.__init__).parameters:
        return ddp(module, forward_sync_buffers=False)
    return ddp(module, broadcast_buffers=False)


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


class RunWriter:
    """Owns a run folder during training: config, log.jsonl, checkpoints, final weights.

    Every method is a no-op on ranks other than 0, so loops can call them unconditionally.
    """

    def __init__(self, run_dir: str | os.PathLike, config: dict, resume: bool, rank: int = 0):
        self.run_dir = Path(run_dir)
        self.rank = rank
        self.log_path = self.run_dir / "log.jsonl"
        self.elapsed_s = 0.0  # training time of earlier sessions of a resumed run
        self.elapsed_cpu_s = 0.0  # and the CPU time of this process's training (all threads) in them
        self._lock = None
        if rank != 0:
            return
        output_folder(self.run_dir)
        self._lock = lock_run_folder(self.run_dir)
        for orphan in self.run_dir.glob(".*.tmp"):  # left by a process killed mid-write; nobody else writes here
            orphan.unlink(missing_ok=True)
        existing = self.run_dir / ckpt.CONFIG
        if resume:
            if not existing.exists():
                raise LatentLensError(f"--resume: no run to resume in {self.run_dir}")
            if not (self.run_dir / ckpt.RESUME).exists():
                raise LatentLensError(f"--resume: {self.run_dir} has no checkpoint to continue from; drop --resume "
                                      "to train from the start")  # fmt: skip
            old = ckpt.load_run_config(self.run_dir)
            for key in ("kind", "model", "objective"):
                if old.get(key) != config.get(key):
                    raise LatentLensError(f"--resume: {key} differs from the run in {self.run_dir}")
        elif existing.exists() and (self.run_dir / ckpt.WEIGHTS).exists():
            raise LatentLensError(f"{self.run_dir} already holds a trained run; use --resume or a new --out")
        ckpt.write_run_config(self.run_dir, config)

    def start_step(self, modules: dict, optimizers: dict, resume: bool) -> int:
        step = ckpt.load_resume_state(self.run_dir, modules, optimizers) if resume else 0
        if self.rank == 0:
            kept = [r for r in read_jsonl(self.log_path) if r.get("step", 0) <= step] if resume else []
            self.log_path.write_text("".join(_line(r) for r in kept))
            self.elapsed_s = max((float(r.get("time_s", 0.0)) for r in kept), default=0.0)
            self.elapsed_cpu_s = max((float(r.get("cpu_s", 0.0)) for r in kept), default=0.0)
        return step

    def log(self, record: dict) -> None:
        if self.rank == 0:
            append_jsonl(self.log_path, record)

    def checkpoint(self, step: int, modules: dict, optimizers: dict, model: torch.nn.Module) -> None:
        if self.rank == 0:
            ckpt.save_resume_state(self.run_dir, step, modules, optimizers)
            ckpt.save_model(self.run_dir, model, step)

    def finish(self, step: int, model: torch.nn.Module, summary: dict) -> None:
        if self.rank == 0:
            ckpt.save_model(self.run_dir, model, step)
            write_json(self.run_dir / "train_summary.json", summary)
        self.close()

    def close(self) -> None:
        """Release the run folder's lock (also released when the process ends)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __del__(self):
        self.close()


def lock_run_folder(run_dir: Path):
    """An advisory lock on ``run_dir`` (``.lock``, ``flock``): a second process that tries to write the same
    run folder fails at once with a clear error. Returns the open lock file (closing it releases the lock);
    None where ``fcntl`` does not exist (Windows)."""
    try:
        import fcntl
    except ImportError:
        return None
    key = str(Path(run_dir).resolve())
    earlier = _HELD.pop(key, None)
    if earlier is not None:  # this process's own earlier writer (e.g. kept alive by a traceback): take over
        earlier.close()
    handle = open(run_dir / ".lock", "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise LatentLensError(f"another latentlens process is writing {run_dir}; wait for it or use another --out") from None
    _HELD[key] = handle
    return handle


_HELD: dict = {}  # run folder -> lock file this process holds


def _line(record: dict) -> str:
    import json

    return json.dumps(record) + "\n"


class StepTimer:
    """Images per second over the last logging window."""

    def __init__(self):
        self.last = time.perf_counter()
        self.images = 0

    def add(self, n: int) -> None:
        self.images += n

    def rate(self) -> float:
        now = time.perf_counter()
        rate = self.images / max(now - self.last, 1e-9)
        self.last, self.images = now, 0
        return rate


def progress_bar(total: int, initial: int, enabled: bool, desc: str):
    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit="step", dynamic_ncols=True)


def stop_if_diverged(loss: torch.Tensor, step: int, run_dir, bar, what: str = "the loss") -> None:
    """Raise a one-line error when ``loss`` is not finite, naming the last good checkpoint (kept untouched)."""
    if torch.isfinite(loss.detach()):
        return
    bar.close()
    saved = ckpt.checkpoint_step(run_dir)
    raise LatentLensError(
        f"training diverged at step {step + 1}: {what} became {float(loss.detach())}; the last good checkpoint "
        f"(step {saved}) is kept in {run_dir} - lower --lr and continue with --resume"
    )
