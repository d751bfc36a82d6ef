"""The one fine-tuning loop every unlearning method runs in: AdamW, saliency mask, clipping, progress."""

from __future__ import annotations

import math
from typing import Callable

import torch

from privgen import parallel
from privgen.diffusion.trainer import check_finite_grads
from privgen.errors import UserError

from privgen.progress import progress
from privgen.unlearn.base import Method, UnlearnContext
from privgen.unlearn.masks import apply_mask


def finetune(method: Method, ctx: UnlearnContext, steps: int, lr: float, grad_clip: float = 1.0,
             quiet: bool = False, on_step: Callable[[int, dict[str, float]], None] | None = None
             ) -> list[dict[str, float]]:
    """Run `steps` optimiser steps of `method`; returns the logged loss parts of every step, which
    `on_step(step, parts)` also sees as they come (for log.jsonl).

    With a mask, masked weights get zero gradient on every step, so AdamW (no weight decay) never moves
    them: its moment estimates stay zero there. Under `accelerate launch` the gradients are averaged over
    processes before masking and clipping (`privgen.parallel`), and only the main process sees `on_step`.
    """
    par = parallel.current()
    ctx.unet.train().requires_grad_(True)
    opt = torch.optim.AdamW(ctx.unet.parameters(), lr=lr, weight_decay=0.0)
    history = []
    bar = progress(total=steps, desc=f"unlearn {method.name}", quiet=par.quiet(quiet))
    for step in range(1, steps + 1):
        opt.zero_grad(set_to_none=True)
        parts = method.step(ctx)
        if not math.isfinite(parts["loss"]):
            raise UserError(f"unlearning diverged at step {step}: the {method.name} loss of the unet is "
                            f"{parts['loss']:g}; nothing was saved (lower --lr)")
        par.sync_grads(ctx.unet)
        if ctx.grad_mask is not None:
            apply_mask(ctx.unet, ctx.grad_mask)
        check_finite_grads(ctx.unet, step, f"the unet ({method.name})", grad_clip)
        opt.step()
        history.append(parts)
        if on_step is not None and par.is_main:
            on_step(step, parts)
        bar.update(1)
        bar.set_postfix(loss=f"{parts['loss']:.4f}")
    bar.close()
    ctx.unet.eval().requires_grad_(False)
    return history
