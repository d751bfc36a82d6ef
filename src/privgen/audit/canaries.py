"""Input canaries for a one-run audit: crafted rows, each included in training by a secret fair coin.

Tables: worst-case but valid rows, inside what the encoder accepts: every numeric column at one end of its
range (the public schema's [min, max] in the sound mode; the training rows' own extremes otherwise, which an
auditor testing the pipeline may read) and every categorical column at a category drawn uniformly from its
list, so rare categories are as likely as common ones. Images: random ±1 pixel patterns, outside the support
of the data (no digit looks like that). The canaries' content comes from the audit's seed (it is no secret);
the coins come from the OS CSPRNG and are never written: an auditor who knew them would be auditing nothing,
and a published coin would be a published membership.
"""

from __future__ import annotations

import numpy as np

from privgen.data.tabular import Span
from privgen.privacy.secret import OsRandom, SecretSource


def table_canaries(parts: list[np.ndarray], spans: list[list[Span]], m: int, seed: int) -> list[np.ndarray]:
    """m encoded canary rows per party: numeric spans at their column's min or max over `parts`, categorical
    spans one-hot at a uniformly drawn category; rows are distinct whenever the columns allow it."""
    rng = np.random.default_rng(seed)
    out = []
    for x, party_spans in zip(parts, spans):
        c = np.zeros((m, x.shape[1]), dtype=np.float32)
        for s in party_spans:
            if s.kind in ("numeric", "tanh"):
                lo, hi = x[:, s.start:s.end].min(0), x[:, s.start:s.end].max(0)
                pick = rng.integers(0, 2, (m, s.end - s.start)).astype(bool)
                c[:, s.start:s.end] = np.where(pick, hi, lo)
            else:
                c[np.arange(m), s.start + rng.integers(0, s.end - s.start, m)] = 1.0
        out.append(c)
    return out


def schema_extremes(parts: list[np.ndarray], spans: list[list[Span]]) -> list[np.ndarray]:
    """The sound mode's encoded range is the schema's: numbers map [min, max] onto [−1, 1]. Two rows per party
    holding −1 and +1 in every numeric span make `table_canaries` draw at the schema's ends."""
    out = []
    for x, party_spans in zip(parts, spans):
        ends = np.zeros((2, x.shape[1]), dtype=np.float32)
        for s in party_spans:
            if s.kind in ("numeric", "tanh"):
                ends[0, s.start:s.end], ends[1, s.start:s.end] = -1.0, 1.0
        out.append(ends)
    return out


def image_canaries(shape: tuple[int, ...], m: int, seed: int) -> np.ndarray:
    """m images (m, C, H, W) of independent ±1 pixels: far from every digit, in the model's pixel range."""
    return np.where(np.random.default_rng(seed).random((m, *shape)) < 0.5, -1.0, 1.0).astype(np.float32)


def secret_coins(m: int, source: SecretSource | None = None) -> np.ndarray:
    """One fair coin per canary from the OS CSPRNG: True includes it in training."""
    return (source or OsRandom()).uniform(m).numpy() < 0.5
