"""The training loop: the server's schedule of critic and generator steps, timing and byte accounting."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from privgen.progress import progress
from privgen.vfl.models import VflModel

WARMUP = 3  # iterations left out of the step-time mean (allocations, first-call overheads)


@dataclass
class Schedule:
    """Draws the server's choices: row indices (epoch-wise permutation), latent seeds, α per row."""

    n_rows: int
    batch_size: int
    seed: int

    def __post_init__(self) -> None:
        self.gen = torch.Generator().manual_seed(self.seed)
        self._perm = torch.randperm(self.n_rows, generator=self.gen)
        self._pos = 0

    def rows(self) -> torch.Tensor:
        if self._pos + self.batch_size > self.n_rows:
            self._perm, self._pos = torch.randperm(self.n_rows, generator=self.gen), 0
        idx = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return idx

    def z_seed(self) -> int:
        return int(torch.randint(2**31 - 1, (1,), generator=self.gen))

    def alpha(self) -> torch.Tensor:
        return torch.rand(self.batch_size, 1, generator=self.gen)


def iterations_for(epochs: int, n_rows: int, batch_size: int, n_critic: int) -> int:
    """Generator iterations in `epochs` passes of critic batches over the rows."""
    return max(1, math.ceil(epochs * max(1, n_rows // batch_size) / n_critic))


def run_iteration(model: VflModel, sched: Schedule) -> None:
    """n_critic critic steps, then one generator step; each step is one transport step."""
    for _ in range(model.cfg.n_critic):
        model.transport.next_step()
        model.critic_step(sched.rows(), sched.z_seed(), sched.alpha())
    model.transport.next_step()
    model.generator_step(sched.z_seed(), sched.batch_size)


def train(model: VflModel, n_rows: int, iterations: int, seed: int, quiet: bool = False,
          on_log: Callable[[dict], None] | None = None, log_every: int = 50) -> dict[str, float]:
    if n_rows < model.cfg.batch_size:
        raise ValueError(f"{n_rows} rows is fewer than one batch of {model.cfg.batch_size}")
    sched = Schedule(n_rows, model.cfg.batch_size, seed)
    times = []
    start = time.perf_counter()
    for it in progress(range(iterations), desc=f"{model.name}", quiet=quiet):
        t0 = time.perf_counter()
        run_iteration(model, sched)
        times.append(time.perf_counter() - t0)
        if on_log and (it + 1) % log_every == 0:
            on_log({"iteration": it + 1, "seconds": round(time.perf_counter() - start, 2)})
    steady = times[WARMUP:] if len(times) > WARMUP else times
    t = model.transport
    data_bytes = t.bytes_by_kind["features"] + t.bytes_by_kind["feature_grad"]
    return {
        "iterations": iterations,
        "critic_steps": iterations * model.cfg.n_critic,
        "train_seconds": round(time.perf_counter() - start, 2),
        "iteration_time_s": float(np.mean(steady)),
        "bytes_per_iteration": data_bytes / iterations,
        "control_bytes_per_iteration": t.bytes_by_kind["control"] / iterations,
        "messages": t.messages,
    }
