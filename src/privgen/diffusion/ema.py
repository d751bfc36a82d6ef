"""Exponential moving average of weights, with warm-up.

With a fixed decay of 0.999 and only ~1,500 steps, the average still carries the first, untrained weights;
the warm-up decay min(decay, (1 + t) / (10 + t)) forgets them quickly (this mattered, docs/diffusion.md).
"""

from __future__ import annotations

import torch
from torch import nn


def ema_decay(step: int, decay: float, warmup: bool) -> float:
    return min(decay, (1 + step) / (10 + step)) if warmup else decay


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, for every parameter and buffer."""
    for e, m in zip(ema.state_dict().values(), model.state_dict().values()):
        if e.dtype.is_floating_point:
            e.lerp_(m, 1.0 - decay)
        else:
            e.copy_(m)
