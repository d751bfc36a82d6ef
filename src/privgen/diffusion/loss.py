"""The denoising loss: epsilon-prediction MSE, mean over pixels, with condition dropout.

Kept apart from the training loop so unlearning methods can call it with their own data, labels and
weights (e.g. ``denoising_loss(unet, x_alt, y_forget, ...)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel


def drop_condition(y: torch.Tensor, p_uncond: float, null_class: int, generator: torch.Generator) -> torch.Tensor:
    """Replace each label by the null class with probability p_uncond (trains the unconditional branch)."""
    if p_uncond <= 0:
        return y
    mask = torch.rand(y.shape, generator=generator, device=generator.device) < p_uncond
    return torch.where(mask.to(y.device), torch.full_like(y, null_class), y)


def denoising_loss(unet: UNet2DModel, x0: torch.Tensor, y: torch.Tensor, scheduler: DDPMScheduler,
                   generator: torch.Generator, p_uncond: float = 0.0, null_class: int | None = None,
                   reduction: str = "mean") -> torch.Tensor:
    """E_t,eps || eps - eps_theta(x_t, t, y) ||^2 with t ~ U{0..T-1}; 'none' gives one value per image."""
    n = x0.shape[0]
    t = torch.randint(0, scheduler.config.num_train_timesteps, (n,), generator=generator,
                      device=generator.device).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, device=generator.device).to(x0.device)
    if p_uncond > 0:
        if null_class is None:
            raise ValueError("condition dropout needs the null class index")
        y = drop_condition(y, p_uncond, null_class, generator)
    xt = scheduler.add_noise(x0, noise, t)
    eps = unet(xt, t, class_labels=y).sample
    per_image = F.mse_loss(eps.float(), noise.float(), reduction="none").flatten(1).mean(1)
    return per_image.mean() if reduction == "mean" else per_image
