"""Selective Amnesia (Heng & Soh, 2023): a surrogate for c_f, generative replay, and EWC.

Minimises L(x_s, c_f) for surrogate images x_s (uniform noise) + γ·L(replay) + λ·Σ F_i (θ_i − θ0_i)²,
where the replay set is θ0's own samples of the other classes and F is the diagonal Fisher of the
denoising loss on θ0's samples of every class. Defaults γ = 1, λ = 10 (the Selective Amnesia paper's values). Replay uses θ0's
samples, never the real data, which is the point of SA: it needs no access to D_r.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from privgen.unlearn.base import Method, UnlearnContext
from privgen.unlearn.fisher import ewc_penalty
from privgen.unlearn.gradients import accumulate_gradients
from privgen.unlearn.registry import register


@register
class SelectiveAmnesia(Method):
    name = "sa"
    summary = "surrogate (noise) images for the forgotten class + generative replay + EWC (diagonal Fisher)"

    @dataclass
    class Options:
        gamma: float = 1.0
        lam: float = 10.0
        replay_per_class: int = 32
        fisher_batches: int = 8

    def prepare(self, ctx: UnlearnContext) -> None:
        every = ctx.full_rows().repeat_interleave(self.opt.replay_per_class)
        images = ctx.state["sample_teacher"](every).to(ctx.device)
        labels = every.to(ctx.device)

        def sample_loss() -> torch.Tensor:
            i = ctx.draw(images)
            return ctx.loss(ctx.unet, images[i], labels[i], p_uncond=0.0)

        ctx.state["fisher"] = accumulate_gradients(ctx.unet, sample_loss, self.opt.fisher_batches, square=True)
        ctx.state["anchor"] = {n: p.detach().clone() for n, p in ctx.unet.named_parameters()}
        keep = ~torch.isin(labels, ctx.forgotten_rows().to(labels.device))
        ctx.state["replay"] = (images[keep], labels[keep])

    def step(self, ctx: UnlearnContext) -> dict[str, float]:
        shape = (ctx.batch_size, *ctx.forget_x.shape[1:])
        surrogate = (torch.rand(shape, generator=ctx.generator) * 2 - 1).to(ctx.device)
        yf = ctx.forget_labels(ctx.batch_size)
        forget = ctx.loss(ctx.unet, surrogate, yf, p_uncond=0.0)
        rx, ry = ctx.state["replay"]
        i = ctx.draw(rx)
        replay = ctx.loss(ctx.unet, rx[i], ry[i])
        ewc = ewc_penalty(ctx.unet, ctx.state["anchor"], ctx.state["fisher"])
        loss = forget + self.opt.gamma * replay + self.opt.lam * ewc
        loss.backward()
        return {"loss": loss.item(), "forget_loss": forget.item(), "replay_loss": replay.item(), "ewc": ewc.item()}
