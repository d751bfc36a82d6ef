"""The training loop: the server's schedule of critic and generator steps, timing and byte accounting."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from privgen.privacy.config import DPConfig
from privgen.privacy.secret import OsRandom, SecretSource, poisson_mask
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

    def alpha(self, n: int | None = None) -> torch.Tensor:
        return torch.rand(self.batch_size if n is None else n, 1, generator=self.gen)

    def row_draws(self, n: int) -> dict[str, torch.Tensor]:
        """Extra per-row draws a model's critic step takes (the sound mode's interpolation partners)."""
        return {}

    def state(self) -> dict[str, torch.Tensor]:
        return {"schedule_generator": self.gen.get_state(), "schedule_perm": self._perm.clone(),
                "schedule_pos": torch.tensor([self._pos], dtype=torch.int64)}

    def restore(self, perm: torch.Tensor, pos: int) -> None:
        """Continue the epoch's permutation where it stopped (the generator state is restored apart)."""
        if perm.shape != (self.n_rows,) or not 0 <= pos <= self.n_rows:
            raise ValueError(f"schedule state for {perm.numel()} rows at {pos}; this run has {self.n_rows} rows")
        self._perm, self._pos = perm.to(torch.int64), pos


class SubsetSchedule(Schedule):
    """DP-VFLGAN's sampling: a fresh uniformly random subset of exactly B rows every step (without
    replacement within the step, independently across steps), what its accountant assumes. The subset is
    drawn from the OS CSPRNG: which rows a step used must not be replayable from the seed."""

    def __init__(self, n_rows: int, batch_size: int, seed: int, secret: SecretSource | None = None) -> None:
        super().__init__(n_rows, batch_size, seed)
        self.secret: SecretSource = secret or OsRandom()

    def __post_init__(self) -> None:
        """No epoch permutation: torch.randperm(N) would consume the seeded stream by an amount that depends
        on the private row count, and every later latent seed with it. The seeded generator draws only the
        latent seeds (and the paper mode's B values of α), whose number never depends on the rows."""
        self.gen = torch.Generator().manual_seed(self.seed)
        self._perm, self._pos = torch.arange(self.n_rows), 0

    def rows(self) -> torch.Tensor:
        return self.secret.subset(self.n_rows, self.batch_size)


class PoissonSchedule(SubsetSchedule):
    """The sound mode's sampling: each row joins each step's batch independently with probability q (the
    public rate B / N_public, what the Poisson-subsampled Gaussian accountant assumes); sizes vary around B.

    Every per-row draw of a step (membership, α, the fake each real row is interpolated with) comes from the
    CSPRNG; the seeded generator draws only the latent seeds, whose number never depends on the batch, so
    nothing seeded, and nothing the generator's BatchNorm sees, depends on which rows were sampled."""

    def __init__(self, n_rows: int, batch_size: int, seed: int, secret: SecretSource | None = None,
                 rate: float | None = None) -> None:
        super().__init__(n_rows, batch_size, seed, secret)
        self.rate = batch_size / n_rows if rate is None else rate

    def rows(self) -> torch.Tensor:
        return poisson_mask(self.secret, self.n_rows, self.rate)

    def alpha(self, n: int | None = None) -> torch.Tensor:
        return self.secret.uniform(self.batch_size if n is None else n).float().unsqueeze(1)

    def row_draws(self, n: int) -> dict[str, torch.Tensor]:
        return {"partners": self.secret.integers(n, self.batch_size)}


def make_schedule(dp: DPConfig, n_rows: int, batch_size: int, seed: int) -> Schedule:
    """The schedule each DP mode's accountant assumes (the non-DP one: epoch-wise permutations from the seed)."""
    if dp.mode == "sound":
        return PoissonSchedule(n_rows, batch_size, seed, rate=dp.sample_rate)
    return (SubsetSchedule if dp.mode == "paper" else Schedule)(n_rows, batch_size, seed)


def iterations_for(epochs: int, n_rows: int, batch_size: int, n_critic: int) -> int:
    """Generator iterations in `epochs` passes of critic batches over the rows."""
    return max(1, math.ceil(epochs * max(1, n_rows // batch_size) / n_critic))


def run_iteration(model: VflModel, sched: Schedule) -> dict[str, float]:
    """n_critic critic steps, then one generator step; each step is one transport step.

    Returns the last critic step's statistics (the Wasserstein gap for VFLGAN)."""
    stats: dict[str, float] = {}
    for _ in range(model.cfg.n_critic):
        model.transport.next_step()
        idx = sched.rows()
        stats = model.critic_step(idx, sched.z_seed(), sched.alpha(len(idx)), **sched.row_draws(len(idx)))
    model.transport.next_step()
    model.generator_step(sched.z_seed(), sched.batch_size)
    return stats


def train(model: VflModel, n_rows: int, iterations: int, seed: int, quiet: bool = False,
          on_log: Callable[[dict], None] | None = None, log_every: int = 50,
          resume: Callable[[Schedule], int] | None = None,
          on_checkpoint: Callable[[int, Schedule], None] | None = None, checkpoint_every: int = 200,
          probe: Callable[[VflModel], dict[str, float]] | None = None, probe_every: int = 0) -> dict[str, Any]:
    """Run generator iterations up to `iterations` in total.

    `probe(model)` (e.g. the FD of fresh samples) runs every `probe_every` iterations and at the end,
    inside a forked RNG so that probing never changes the run; its results form `curve` in the returned
    dict and are logged. Its time is left out of the step times.

    `resume(schedule)` restores the model and the schedule from a checkpoint and returns the iterations
    already done; `on_checkpoint(done, schedule)` is called every `checkpoint_every` iterations and at the end.
    """
    if n_rows < model.cfg.batch_size:
        raise ValueError(f"{n_rows} rows is fewer than one batch of {model.cfg.batch_size}")
    sched = make_schedule(model.dp, n_rows, model.cfg.batch_size, seed)
    first = resume(sched) if resume else 0
    times, curve, probe_seconds = [], [], 0.0
    start = time.perf_counter()
    for it in progress(range(first, iterations), desc=f"{model.name}", quiet=quiet):
        t0 = time.perf_counter()
        stats = run_iteration(model, sched)
        times.append(time.perf_counter() - t0)
        if on_log and ((it + 1) % log_every == 0 or it + 1 == iterations):
            on_log({"iteration": it + 1, "seconds": round(time.perf_counter() - start, 2), **stats, **model.health()})
        if probe and probe_every and ((it + 1) % probe_every == 0 or it + 1 == iterations):
            p0 = time.perf_counter()
            with torch.random.fork_rng():
                point = {"iteration": it + 1, **probe(model)}
            probe_seconds += time.perf_counter() - p0
            curve.append(point)
            if on_log:
                on_log({"probe": point})
        if on_checkpoint and ((it + 1) % checkpoint_every == 0 or it + 1 == iterations):
            on_checkpoint(it + 1, sched)
    steady = times[WARMUP:] if len(times) > WARMUP else times
    t = model.transport
    data_bytes = t.bytes_by_kind["features"] + t.bytes_by_kind["feature_grad"]
    return {
        "iterations": iterations,
        "resumed_from_iteration": first,
        "critic_steps": iterations * model.cfg.n_critic,
        "train_seconds": round(time.perf_counter() - start - probe_seconds, 2),
        "iteration_time_s": float(np.mean(steady)) if steady else None,
        "bytes_per_iteration": data_bytes / iterations,
        "control_bytes_per_iteration": t.bytes_by_kind["control"] / iterations,
        "messages": t.messages,
        **({"curve": curve, "probe_seconds": round(probe_seconds, 2)} if probe and probe_every else {}),
    }
