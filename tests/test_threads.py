"""Torch threads follow the work in flight: every idle core for a lone job, one per parallel benchmark worker."""

from __future__ import annotations

import torch

from privgen import threads
from privgen.bench.pool import Task, run_graph


def _threads_in_task() -> int:
    from privgen.diffusion.model import apply_threads, get_recipe

    return apply_threads(get_recipe("cpu16"), torch.device("cpu"))


def test_idle_cores_subtracts_the_load() -> None:
    assert threads.idle_cores(2, 0.05) == 2   # a lone job on an idle 2-core machine: both cores
    assert threads.idle_cores(2, 1.0) == 1    # another job keeps one busy
    assert threads.idle_cores(2, 14.0) == 1   # overloaded: never fewer than one
    assert threads.idle_cores(16, 3.2) == 13


def test_override_and_parallel_workers(monkeypatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("PRIVGEN_THREADS", "3")
        assert threads.job_threads() == 3
        monkeypatch.delenv("PRIVGEN_THREADS")
        monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
        assert threads.job_threads() == threads.available_cores()  # alone: every core
        out = run_graph([Task(f"t{i}", _threads_in_task) for i in range(2)], workers=2, quiet=True)
        assert out == {"t0": 1, "t1": 1}  # side by side in the benchmark's pool: one each
    finally:
        torch.set_num_threads(before)
