"""How many torch CPU threads a job gets, from the work in flight rather than from the recipe.

A lone job (a standalone `privgen diffusion train`, `eval generation`, ...) gets every core this process may
run on; a benchmark worker running beside others gets one, so two workers on a 2-core machine do not fight
over the same cores. `PRIVGEN_THREADS=N` overrides both: on a machine other people's jobs keep busy, set it
to 1 (measured on the shared 2-core machine at a load average of 14: two threads trained the UNet 20x slower
than one, OpenMP threads waiting for descheduled siblings). The load average is deliberately not read: the
thread count would then change from run to run, and with it the last digits of CPU results. The recipe cannot decide this: the same recipe runs alone and inside the benchmark, and
its dict is the pretrained model's cache key (docs/diffusion.md has the measured lone-job speed-up).
"""

from __future__ import annotations

import os

_shared = False  # set in a worker process of a parallel benchmark (privgen.bench.pool)


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one, e.g. under taskset or a cgroup)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # macOS, Windows
        return max(os.cpu_count() or 1, 1)


def mark_shared_worker() -> None:
    """Called once in each worker of a parallel pool: every later job in it runs one thread."""
    global _shared
    _shared = True
    set_job_threads()


def job_threads() -> int:
    """PRIVGEN_THREADS, else 1 in a pool worker, else this machine's cores shared among the processes a
    launcher started on it (`accelerate launch` / torchrun set LOCAL_WORLD_SIZE)."""
    override = os.environ.get("PRIVGEN_THREADS", "").strip()
    if override.isdigit() and int(override) > 0:
        return int(override)
    local = os.environ.get("LOCAL_WORLD_SIZE", "").strip()
    return 1 if _shared else max(available_cores() // (int(local) if local.isdigit() and int(local) > 0 else 1), 1)


def set_job_threads(device: object = "cpu") -> int:
    """Set torch's intra-op threads for a CPU job (nothing to do on a GPU); returns the count used."""
    import torch

    n = job_threads()
    if getattr(device, "type", str(device)).startswith("cpu"):
        torch.set_num_threads(n)
    return n
