"""Planted DP bugs, for measuring an audit's power (`privgen bench audit --dp`) and nothing else.

Each replaces the noise source of every owner of a trained model after it is built, the way a real bug would
sit in the mechanism while the accountant still assumes the correct one:

- `noise-0.1x`: the Gaussian noise is silently 0.1 times what the accountant assumed;
- `replayable`: the noise is drawn from a generator seeded from the run's seed (privgen's own bug before the
  CSPRNG), so an auditor who knows the seed rebuilds every draw and subtracts it.

Never used by training commands: only the audit bench's rows name them.
"""

from __future__ import annotations

import hashlib

import torch

from privgen.privacy.secret import OsRandom, SecretSource

PLANTED = ("noise-0.1x", "replayable")


class SeededSource:
    """A torch-generator source: replayable by whoever knows the seed (the bug, and a test's fixed draws)."""

    def __init__(self, seed: int) -> None:
        self.gen = torch.Generator().manual_seed(int(seed))

    def normal(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.randn(shape, generator=self.gen, dtype=torch.float64).to(dtype)

    def uniform(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.gen, dtype=torch.float64)

    def integers(self, n: int, high: int) -> torch.Tensor:
        return torch.randint(high, (n,), generator=self.gen)

    def subset(self, n: int, size: int) -> torch.Tensor:
        return torch.randperm(n, generator=self.gen)[:size]


class ScaledNoise:
    """The OS source with its Gaussian draws scaled by `factor`."""

    def __init__(self, factor: float, inner: SecretSource | None = None) -> None:
        self.factor, self.inner = factor, inner or OsRandom()

    def normal(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return self.factor * self.inner.normal(shape, dtype)

    def uniform(self, n: int) -> torch.Tensor:
        return self.inner.uniform(n)

    def integers(self, n: int, high: int) -> torch.Tensor:
        return self.inner.integers(n, high)

    def subset(self, n: int, size: int) -> torch.Tensor:
        return self.inner.subset(n, size)


def owner_seed(seed: int, owner: str) -> int:
    return int.from_bytes(hashlib.sha256(f"planted:{seed}:{owner}".encode()).digest()[:8], "little") >> 1


def noise_owners(model) -> dict[str, object]:
    """Every object holding DP noise in a model, by owner name (the parties and the server, or the pool)."""
    owners = {p.name: p for p in getattr(model, "parties", [])}
    if hasattr(model, "server"):
        owners["server"] = model.server
    if hasattr(model, "pool"):
        owners["pooled"] = model.pool
    return owners


def plant(model, bug: str, seed: int) -> dict[str, SeededSource] | None:
    """Install `bug`; for `replayable`, return the auditor's own replaying copies of every owner's generator."""
    if bug not in PLANTED:
        raise ValueError(f"unknown planted bug {bug!r}; one of {PLANTED}")
    owners = noise_owners(model)
    for name, owner in owners.items():
        owner.noise = ScaledNoise(0.1) if bug == "noise-0.1x" else SeededSource(owner_seed(seed, name))
    if bug == "replayable":
        return {name: SeededSource(owner_seed(seed, name)) for name in owners}
    return None
