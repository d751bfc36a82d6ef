"""Selective Amnesia's elastic-weight-consolidation term."""

from __future__ import annotations

import torch
from torch import nn


def ewc_penalty(module: nn.Module, anchor: dict[str, torch.Tensor], fisher: dict[str, torch.Tensor]) -> torch.Tensor:
    """Σ_i F_i (θ_i − θ0_i)²: stay near θ0 where the data cared about the weight."""
    total = torch.zeros((), device=next(module.parameters()).device)
    for n, p in module.named_parameters():
        if n in fisher:
            total = total + (fisher[n] * (p - anchor[n]) ** 2).sum()
    return total
