"""The denoising loss: epsilon-prediction MSE, mean over pixels, with condition dropout.

Kept apart from the training loop so unlearning methods can call it with their own data, labels and
weights (e.g. ``denoising_loss(unet, x_alt, y_forget, ...)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel

if TYPE_CHECKING:
    from privgen.diffusion.condition import ConditionSpace


def drop_condition(y: torch.Tensor, p_uncond: float, null_class: int, generator: torch.Generator) -> torch.Tensor:
    """Replace each label by the null class with probability p_uncond (trains the unconditional branch)."""
    if p_uncond <= 0:
        return y
    mask = torch.rand(y.shape, generator=generator, device=generator.device) < p_uncond
    return torch.where(mask.to(y.device), torch.full_like(y, null_class), y)


def denoising_loss(unet: UNet2DModel, x0: torch.Tensor, y: torch.Tensor, scheduler: DDPMScheduler,
                   generator: torch.Generator, p_uncond: float = 0.0, null_class: int | None = None,
                   reduction: str = "mean", conditions: "ConditionSpace | None" = None) -> torch.Tensor:
    """E_t,eps || eps - eps_theta(x_t, t, y) ||^2 with t ~ U{0..T-1}; 'none' gives one value per image.

    With `conditions` of an attribute model, dropout nulls class and each attribute independently."""
    n = x0.shape[0]
    t = torch.randint(0, scheduler.config.num_train_timesteps, (n,), generator=generator,
                      device=generator.device).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, device=generator.device).to(x0.device)
    if p_uncond > 0:
        if null_class is None:
            raise ValueError("condition dropout needs the null class index")
        if conditions is not None and conditions.attributes:
            y = conditions.drop(y, p_uncond, generator)
        else:
            y = drop_condition(y, p_uncond, null_class, generator)
    xt = scheduler.add_noise(x0, noise, t)
    eps = unet(xt, t, class_labels=y).sample
    per_image = F.mse_loss(eps.float(), noise.float(), reduction="none").flatten(1).mean(1)
    return per_image.mean() if reduction == "mean" else per_image
