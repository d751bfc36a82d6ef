"""Gradient statistics over several draws of a loss: the shared piece behind saliency masks and Fisher."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def accumulate_gradients(module: nn.Module, loss_fn: Callable[[], torch.Tensor], batches: int,
                         square: bool = False) -> dict[str, torch.Tensor]:
    """Mean over `batches` draws of ∇θ loss (or of its element-wise square, for a diagonal Fisher); each
    draw's gradient is the whole batch's, averaged over processes under `accelerate launch`."""
    from privgen.parallel import current

    acc = {n: torch.zeros_like(p) for n, p in module.named_parameters() if p.requires_grad}
    for _ in range(batches):
        module.zero_grad(set_to_none=True)
        loss_fn().backward()
        current().sync_grads(module)
        for n, p in module.named_parameters():
            if p.grad is not None:
                g = p.grad.detach()
                acc[n] += (g * g if square else g) / batches
    module.zero_grad(set_to_none=True)
    return acc
