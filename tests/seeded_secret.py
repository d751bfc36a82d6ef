"""A seeded stand-in for `privgen.privacy.secret.OsRandom`, for tests only: it holds the mechanism's secret
randomness fixed so its arithmetic (sensitivity, clipping) can be checked; the product never uses it."""

from __future__ import annotations

import torch


class SeededSource:
    def __init__(self, seed: int) -> None:
        self.gen = torch.Generator().manual_seed(seed)

    def normal(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.randn(shape, generator=self.gen, dtype=torch.float64).to(dtype)

    def uniform(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.gen, dtype=torch.float64)

    def integers(self, n: int, high: int) -> torch.Tensor:
        return torch.randint(high, (n,), generator=self.gen)

    def subset(self, n: int, size: int) -> torch.Tensor:
        return torch.randperm(n, generator=self.gen)[:size]
