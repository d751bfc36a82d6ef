"""Randomness a DP guarantee rests on: noise, sampling masks, the per-row draws of a private step.

Every draw reads the operating system's CSPRNG (`os.urandom`, or for large draws the ChaCha20 keystream under
a fresh key read from it): it is never derived from `--seed` and has no
state that could be saved, so a run cannot be replayed with and without a row (a replayable DP run is not
DP: whoever knows the seed reruns training with and without the target and compares). That is also why a
DP run resumed from a checkpoint continues with fresh draws instead of restoring a generator state.

Gaussian noise is drawn in float64 by Box-Muller from 53-bit uniforms and then rounded to the parameter's
dtype. A floating-point sampler is not an exact Gaussian: Mironov (CCS 2012) showed that the low-order bits of
textbook floating-point Laplace samples reveal the unnoised value, and the same concern applies to Gaussian
samplers (Jin et al., "Are We There Yet? Timing and Floating-Point Attacks on Differential Privacy Systems",
IEEE S&P 2022). Rounding the float64 sample to float32 and adding it to a float32 sum removes most of that
structure, but no proof covers it; a user who needs one should use an exact discrete Gaussian sampler
(Canonne, Kamath, Steinke 2020) on a fixed-point encoding of the clipped sum.

`SecretSource` is the one interface the DP code draws through; tests substitute a seeded source (in the tests
only) to check the mechanism's arithmetic with the randomness held fixed.
"""

from __future__ import annotations

import math
import os
import random
from typing import Protocol

import numpy as np
import torch

from privgen.privacy.keys import keystream


class SecretSource(Protocol):
    def normal(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor: ...

    def uniform(self, n: int) -> torch.Tensor: ...

    def integers(self, n: int, high: int) -> torch.Tensor: ...

    def subset(self, n: int, size: int) -> torch.Tensor: ...


def random_bytes(n: int) -> bytes:
    """n bytes from the OS CSPRNG: directly for small draws, else the ChaCha20 keystream under a fresh 256-bit
    key read from it (the construction the kernel's own generator uses; the key is never kept)."""
    return os.urandom(n) if n <= 4096 else keystream(os.urandom(32), 0, n)


def _uniform53(n: int) -> np.ndarray:
    """n doubles uniform on (0, 1) from the OS CSPRNG (53 random bits each, never exactly 0)."""
    words = np.frombuffer(random_bytes(8 * n), dtype="<u8") >> np.uint64(11)
    return (words.astype(np.float64) + 0.5) * 2.0 ** -53


_SYSTEM = random.SystemRandom()


class OsRandom:
    """Draws from the OS CSPRNG; holds no state."""

    def normal(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Box-Muller in float64, rounded to `dtype`."""
        n = math.prod(shape)
        half = (n + 1) // 2
        u = torch.from_numpy(_uniform53(2 * half))
        r, theta = torch.sqrt(-2.0 * torch.log(u[:half])), (2 * math.pi) * u[half:]
        return torch.cat([r * torch.cos(theta), r * torch.sin(theta)])[:n].reshape(shape).to(dtype)

    def uniform(self, n: int) -> torch.Tensor:
        """n float64 values uniform on (0, 1)."""
        return torch.from_numpy(_uniform53(n))

    def integers(self, n: int, high: int) -> torch.Tensor:
        """n integers uniform on [0, high) (rejection-free: 64-bit words, bias below 2^-40 for high < 2^24)."""
        if not 0 < high < 2**24:
            raise ValueError(f"high must be in (0, 2^24), got {high}")
        words = np.frombuffer(random_bytes(8 * n), dtype="<u8")
        return torch.from_numpy((words % np.uint64(high)).astype(np.int64))

    def subset(self, n: int, size: int) -> torch.Tensor:
        """`size` distinct integers of [0, n), uniformly (SystemRandom: os.urandom, exact, no modulo bias)."""
        return torch.tensor(_SYSTEM.sample(range(n), size), dtype=torch.int64)


def poisson_mask(source: SecretSource, n_rows: int, rate: float) -> torch.Tensor:
    """Indices of the rows that join this step: each independently with probability `rate`."""
    return (source.uniform(n_rows) < rate).nonzero().flatten()


def random_subset(source: SecretSource, n_rows: int, size: int) -> torch.Tensor:
    """`size` distinct rows uniformly at random (O(size) draws, not a permutation of every row)."""
    return source.subset(n_rows, size)
