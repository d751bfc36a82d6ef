"""SalUn-RL: random-label relabelling of the forgotten data, on the most salient half of the weights.

Minimises MSE(ε_θ(x_t, t, c_f), stopgrad ε_θ(x_t, t, c′)) for x ∈ D_f and a random c′ ≠ c_f, plus
α·L(D_r); gradients are masked to the top 50% of weights by |∇θ L(D_f, c_f)| at θ0 (Fan et al., 2024).
Both terms here are means over pixels, so they share one scale; α = 1 keeps them in balance (the
published α = 1e-3 multiplied a pixel-summed retain loss against a forget loss of the same form).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from privgen.unlearn.base import Method, UnlearnContext
from privgen.unlearn.gradients import accumulate_gradients
from privgen.unlearn.masks import top_fraction_mask
from privgen.unlearn.registry import register


def random_other_labels(n: int, kept: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Uniform labels from the kept conditions (every class but c_f, for a class-only model)."""
    return kept[torch.randint(0, len(kept), (n,), generator=generator)]


def relabel_loss(ctx: UnlearnContext, x0: torch.Tensor, yf: torch.Tensor) -> torch.Tensor:
    """Make the forgotten condition predict, on D_f, what a random other condition predicts."""
    n = len(x0)
    t = torch.randint(0, ctx.scheduler.config.num_train_timesteps, (n,), generator=ctx.generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=ctx.generator).to(x0.device)
    xt = ctx.scheduler.add_noise(x0, noise, t)
    other = random_other_labels(n, ctx.kept_rows(), ctx.generator).to(x0.device)
    with torch.no_grad():
        target = ctx.unet(xt, t, class_labels=other).sample
    return F.mse_loss(ctx.unet(xt, t, class_labels=yf).sample, target)


@register
class SalUn(Method):
    name = "salun"
    summary = "random-label loss on the forgotten class, on the top-50% salient weights, + α·L(D_r)"

    @dataclass
    class Options:
        alpha: float = 1.0
        mask_fraction: float = 0.5
        mask_batches: int = 4

    def prepare(self, ctx: UnlearnContext) -> None:
        def forget_loss() -> torch.Tensor:
            return ctx.loss(ctx.unet, *ctx.forget_batch(), p_uncond=0.0)

        grads = accumulate_gradients(ctx.unet, forget_loss, self.opt.mask_batches)
        ctx.grad_mask = top_fraction_mask({n: g.abs() for n, g in grads.items()}, self.opt.mask_fraction)

    def step(self, ctx: UnlearnContext) -> dict[str, float]:
        xf, yf = ctx.forget_batch()
        forget = relabel_loss(ctx, xf, yf)
        retain = ctx.retain_loss()
        loss = forget + self.opt.alpha * retain
        loss.backward()
        return {"loss": loss.item(), "forget_loss": forget.item(), "retain_loss": retain.item()}
