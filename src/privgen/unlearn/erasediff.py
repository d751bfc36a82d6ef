"""EraseDiff: first-order bilevel unlearning (Wu et al., 2024).

Inner problem: f(θ) = denoising loss on D_f where the noise is drawn from U(0, 1) instead of N(0, I), so
c_f learns to map to a meaningless target. K inner SGD steps from θ give θ_K. Outer step on
L(D_r) + λ·(f(θ) − f(θ_K)); to first order its gradient is ∇L(D_r) + λ·(∇f(θ) − ∇f(θ_K)), which is what
`step` accumulates. Defaults K = 2, λ = 0.1 (the EraseDiff paper's values), inner lr = the outer lr's default 1e-4.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel

from privgen.parallel import current
from privgen.unlearn.base import Method, UnlearnContext
from privgen.unlearn.registry import register


def uniform_noise_loss(unet: UNet2DModel, ctx: UnlearnContext, x0: torch.Tensor, t: torch.Tensor,
                       noise: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """f: the denoising loss of D_f under c_f with uniform noise in place of Gaussian noise."""
    xt = ctx.scheduler.add_noise(x0, noise, t)
    return F.mse_loss(unet(xt, t, class_labels=y).sample, noise)


@register
class EraseDiff(Method):
    name = "erasediff"
    summary = "first-order bilevel: retain loss + λ·(f(θ) − f(θ_K)), f = uniform-noise loss on D_f"

    @dataclass
    class Options:
        inner_steps: int = 2
        lam: float = 0.1
        inner_lr: float = 1e-4

    def step(self, ctx: UnlearnContext) -> dict[str, float]:
        xf, yf = ctx.forget_batch()
        n = len(xf)
        t = torch.randint(0, ctx.scheduler.config.num_train_timesteps, (n,), generator=ctx.generator).to(xf.device)
        noise = torch.rand(xf.shape, generator=ctx.generator).to(xf.device)
        inner = copy.deepcopy(ctx.unet)
        inner_opt = torch.optim.SGD(inner.parameters(), lr=self.opt.inner_lr)
        for _ in range(self.opt.inner_steps):
            inner_opt.zero_grad(set_to_none=True)
            uniform_noise_loss(inner, ctx, xf, t, noise, yf).backward()
            current().sync_grads(inner)  # the inner steps too follow the whole batch's gradient
            inner_opt.step()
        inner_opt.zero_grad(set_to_none=True)
        f_k = uniform_noise_loss(inner, ctx, xf, t, noise, yf)
        f_k.backward()
        retain = ctx.retain_loss()
        f = uniform_noise_loss(ctx.unet, ctx, xf, t, noise, yf)
        (retain + self.opt.lam * f).backward()
        for p, q in zip(ctx.unet.parameters(), inner.parameters()):
            if p.grad is not None and q.grad is not None:
                p.grad.sub_(self.opt.lam * q.grad)
        return {"loss": (retain + self.opt.lam * (f - f_k)).item(), "retain_loss": retain.item(),
                "f": f.item(), "f_K": f_k.item()}
