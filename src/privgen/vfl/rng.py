"""Party-local randomness: each party (and the server) draws from its own stream, seeded from the run's
seed and its name, so a party computes the same numbers whether it shares a process with the others
(in-process transport, `rng="party"`) or runs alone on its own machine (Ray).

The legacy mode (`None`: torch's one global RNG, consumed by the parties in turn) stays the in-process
default so earlier runs reproduce and resume bit for bit.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from typing import Iterator

import torch

RNG_MODES = ("global", "party")


def stream_seed(seed: int, owner: str) -> int:
    """A 63-bit seed for `owner`'s stream; distinct owners get unrelated streams."""
    digest = hashlib.sha256(f"privgen-rng:{int(seed)}:{owner}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def stream(seed: int, owner: str) -> torch.Generator:
    return torch.Generator().manual_seed(stream_seed(seed, owner))


@contextmanager
def own_rng(gen: torch.Generator | None) -> Iterator[None]:
    """Run a block on `gen`'s state instead of torch's global CPU RNG (weight init and Gumbel noise use
    the global one), then keep the advanced state in `gen`; the global RNG is left as it was. None: no-op."""
    if gen is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(gen.get_state())
        try:
            yield
        finally:
            gen.set_state(torch.get_rng_state())
