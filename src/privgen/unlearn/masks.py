"""Gradient saliency masks (SalUn): keep the weights whose forgetting gradient is largest."""

from __future__ import annotations

import torch
from torch import nn


def top_fraction_mask(scores: dict[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """1 for the `fraction` of weights (over the whole model) with the largest score, 0 elsewhere."""
    flat = torch.cat([s.flatten() for s in scores.values()])
    k = max(1, int(round(fraction * flat.numel())))
    threshold = torch.topk(flat, k, sorted=True).values[-1]
    return {n: (s >= threshold).to(s.dtype) for n, s in scores.items()}


def apply_mask(module: nn.Module, mask: dict[str, torch.Tensor]) -> None:
    """Zero the gradients outside the mask, so the optimiser cannot move those weights."""
    for n, p in module.named_parameters():
        if p.grad is not None and n in mask:
            p.grad.mul_(mask[n])
