"""Pairwise-masked sums of the parties' per-example squared norms: the server learns each row's joint norm,
never one party's share of it (secure aggregation with pairwise masks, Bonawitz et al., CCS 2017, without the
dropout recovery: a party that drops out stops the run anyway).

Each party encodes its b squared norms as fixed-point integers (2^-40 resolution, rounded up so a decoded sum
never understates a norm and a clip factor never exceeds its true value) in the ring Z_2^128, and adds, for
every other party, a mask drawn from a keystream under the key the two share (`privgen.privacy.keys`): +mask
towards a peer whose name sorts after its own, −mask towards one before. Each masked share is uniform on the
ring to anyone without the pair keys, and the masks cancel exactly in the sum. The server adds its own norms
(its own gradients) in the clear. The keystream's counter is the party's own count of critic steps; keys are
fresh per process, so a resumed run never reuses a mask.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from privgen.privacy.keys import keystream

FRACTION_BITS = 40
RING = 1 << 128
LIMIT = 1 << 120  # a share above this would let the sum wrap; such a norm means the critic diverged
PURPOSE = "sq-norm-masks"


def encode(values: torch.Tensor) -> list[int]:
    """Fixed-point integers ⌈v·2^40⌉ of non-negative finite values."""
    out = []
    for v in values.double().tolist():
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"a per-example squared norm must be finite and non-negative, got {v}")
        x = math.ceil(v * (1 << FRACTION_BITS))
        if x >= LIMIT:
            raise ValueError(f"a per-example squared norm of {v:.3g} is too large to aggregate; the critic diverged "
                             "(lower --lr)")
        out.append(x)
    return out


def pair_mask(key: bytes, counter: int, n: int) -> list[int]:
    """n uniform elements of Z_2^128 from the pair's keystream at this step."""
    raw = keystream(key, counter, 16 * n)
    return [int.from_bytes(raw[16 * i:16 * i + 16], "little") for i in range(n)]


def to_limbs(values: list[int]) -> torch.Tensor:
    """Ring elements as an (n, 2) int64 tensor (low and high 64 bits, two's complement), a message payload."""
    arr = np.array([[v & (2**64 - 1), v >> 64] for v in values], dtype=np.uint64).reshape(len(values), 2)
    return torch.from_numpy(arr.view(np.int64).copy())


def from_limbs(t: torch.Tensor) -> list[int]:
    arr = t.detach().cpu().numpy().astype(np.int64).view(np.uint64).reshape(-1, 2)
    return [int(lo) | (int(hi) << 64) for lo, hi in arr]


def masked_share(sq_norms: torch.Tensor, own: str, pair_keys: dict[str, bytes], counter: int) -> torch.Tensor:
    """This party's squared norms, encoded and masked towards every peer; what it sends to the server."""
    shares = encode(sq_norms)
    for peer, key in pair_keys.items():
        if peer == own:
            raise ValueError(f"{own} holds a pair key with itself")
        sign = 1 if own < peer else -1
        shares = [(s + sign * m) % RING for s, m in zip(shares, pair_mask(key, counter, len(shares)))]
    return to_limbs(shares)


def unmasked_sum(shares: list[torch.Tensor]) -> torch.Tensor:
    """Σ over parties of their squared norms per row (float64): the masks cancel, no single share is seen."""
    n = shares[0].shape[0]
    if any(s.shape != (n, 2) for s in shares):
        raise ValueError(f"masked shares disagree on the batch: {[tuple(s.shape) for s in shares]}")
    ring = [from_limbs(s) for s in shares]
    total = [sum(col) % RING for col in zip(*ring)] if n else []
    return torch.tensor([t / (1 << FRACTION_BITS) for t in total], dtype=torch.float64)
