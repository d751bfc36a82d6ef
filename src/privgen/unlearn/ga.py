"""GA (NegGrad+): −L(D_f, c_f) + α·L(D_r), with the ascent term bounded.

Unbounded gradient ascent on a denoising loss diverges (the loss has no maximum); capping the forget loss
at `bound` stops the push once the model predicts noise badly enough for c_f, while α·L(D_r) keeps the
other classes. Defaults: lr 1e-4, α = 1 (retain and forget terms weighted equally, as in NegGrad+), bound 1.0 (a per-pixel MSE of 1 is the error of
predicting zero noise).
"""

from __future__ import annotations

from dataclasses import dataclass

from privgen.unlearn.base import Method, UnlearnContext
from privgen.unlearn.registry import register


def bounded_ascent(forget_loss, bound: float):
    """−min(L_f, bound): gradient ascent until the forget loss reaches `bound`, then no gradient."""
    return -forget_loss.clamp(max=bound)


@register
class GA(Method):
    name = "ga"
    summary = "gradient ascent on the forgotten class (bounded) + descent on the retained classes"

    @dataclass
    class Options:
        alpha: float = 1.0
        bound: float = 1.0

    def step(self, ctx: UnlearnContext) -> dict[str, float]:
        xf, yf = ctx.forget_batch()
        forget = ctx.loss(ctx.unet, xf, yf, p_uncond=0.0)
        retain = ctx.retain_loss()
        loss = bounded_ascent(forget, self.opt.bound) + self.opt.alpha * retain
        loss.backward()
        return {"loss": loss.item(), "forget_loss": forget.item(), "retain_loss": retain.item()}
