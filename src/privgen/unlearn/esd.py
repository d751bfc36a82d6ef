"""ESD (Gandikota et al., 2023): negative guidance from the frozen model.

ε_θ(x_t, t, c_f) is regressed onto ε_θ0(x_t, t, ∅) − η·(ε_θ0(x_t, t, c_f) − ε_θ0(x_t, t, ∅)): the
prediction that guides *away* from c_f. x_t comes from the model's own partial DDIM sampling under c_f,
stopped at a random step, so training happens where the model's own trajectories go. η = 1 (the ESD paper's guidance strength).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel

from privgen.diffusion.guidance import guided_eps
from privgen.diffusion.schedule import ddim_step, sampling_scheduler
from privgen.unlearn.base import Method, UnlearnContext
from privgen.unlearn.registry import register


@torch.no_grad()
def esd_target(teacher: UNet2DModel, xt: torch.Tensor, t: torch.Tensor, forget: torch.Tensor, null: torch.Tensor,
               eta: float) -> torch.Tensor:
    """ε0(∅) − η·(ε0(c_f) − ε0(∅)), with both teacher predictions in one batched call."""
    eps = teacher(torch.cat([xt, xt]), torch.cat([t, t]), class_labels=torch.cat([forget, null])).sample
    eps_c, eps_u = eps.chunk(2)
    return eps_u - eta * (eps_c - eps_u)


@torch.no_grad()
def partial_sample(unet: UNet2DModel, n: int, shape: tuple[int, ...], forget: int | torch.Tensor, null_class: int,
                   steps: int, stop: int, guidance: float, generator: torch.Generator, device: torch.device
                   ) -> tuple[torch.Tensor, int]:
    """Run `stop` of `steps` DDIM steps under c_f (a class, or one condition row per image) from fresh
    noise; return x and the timestep reached."""
    sched = sampling_scheduler(steps)
    x = torch.randn((n, *shape), generator=generator).to(device)
    y = (forget.to(device) if torch.is_tensor(forget) else
         torch.full((n,), forget, dtype=torch.long, device=device))
    for t in sched.timesteps[:stop]:
        x = ddim_step(sched, guided_eps(unet, x, int(t), y, guidance, null_class), t, x)
    return x, int(sched.timesteps[stop])


@register
class ESD(Method):
    name = "esd"
    summary = "regress the forgotten condition onto the frozen model's negatively guided prediction"

    @dataclass
    class Options:
        eta: float = 1.0
        sampling_steps: int = 10
        sampling_guidance: float = 3.0

    def step(self, ctx: UnlearnContext) -> dict[str, float]:
        stop = int(torch.randint(0, self.opt.sampling_steps, (1,), generator=ctx.generator))
        yf = ctx.forget_labels(ctx.batch_size)
        was_training = ctx.unet.training
        ctx.unet.eval()
        xt, t_int = partial_sample(ctx.unet, ctx.batch_size, tuple(ctx.forget_x.shape[1:]), yf,
                                   ctx.null_class, self.opt.sampling_steps, stop, self.opt.sampling_guidance,
                                   ctx.generator, ctx.device)
        ctx.unet.train(was_training)
        t = torch.full((ctx.batch_size,), t_int, dtype=torch.long, device=ctx.device)
        target = esd_target(ctx.teacher, xt, t, yf, torch.full_like(yf, ctx.null_class), self.opt.eta)
        loss = F.mse_loss(ctx.unet(xt, t, class_labels=yf).sample, target)
        loss.backward()
        return {"loss": loss.item(), "t": float(t_int)}
