"""Torch threads follow the work in flight: every core for a lone job, one per parallel benchmark worker."""

from __future__ import annotations

import torch

from privgen import threads
from privgen.bench.pool import Task, run_graph


def _threads_in_task() -> int:
    from privgen.diffusion.model import apply_threads, get_recipe

    return apply_threads(get_recipe("cpu16"), torch.device("cpu"))


def test_override_and_parallel_workers(monkeypatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("PRIVGEN_THREADS", "3")
        assert threads.job_threads() == 3
        monkeypatch.delenv("PRIVGEN_THREADS")
        monkeypatch.setattr(threads.os, "getloadavg", lambda: (14.0, 14.0, 14.0))  # the load is not read
        assert threads.job_threads() == threads.available_cores()  # alone: every core
        out = run_graph([Task(f"t{i}", _threads_in_task) for i in range(2)], workers=2, quiet=True)
        assert out == {"t0": 1, "t1": 1}  # side by side in the benchmark's pool: one each
    finally:
        torch.set_num_threads(before)
