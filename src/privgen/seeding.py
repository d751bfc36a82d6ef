"""Seeds: same seed + same device => same numbers (devices: `privgen.checks.resolve_device`)."""

from __future__ import annotations

import random

import numpy as np
import torch

from privgen.checks import resolve_device  # noqa: F401  (re-exported: the one resolver)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a CPU generator for explicit sampling."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


