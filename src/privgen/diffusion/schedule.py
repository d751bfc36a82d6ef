"""Noise schedules (diffusers' DDPM for training, DDIM for sampling) and the learning-rate schedule."""

from __future__ import annotations

import math

import torch
from diffusers import DDIMScheduler, DDPMScheduler

TRAIN_TIMESTEPS = 1000
BETA_START, BETA_END = 1e-4, 0.02


def training_scheduler() -> DDPMScheduler:
    """T = 1000, linear beta 1e-4 -> 0.02, epsilon prediction: the DDPM paper's schedule, which the unlearning papers build on."""
    return DDPMScheduler(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule="linear", beta_start=BETA_START,
                         beta_end=BETA_END, prediction_type="epsilon", clip_sample=True)


def sampling_scheduler(steps: int) -> DDIMScheduler:
    """Deterministic DDIM (eta = 0) on the training schedule, with `steps` denoising steps."""
    s = DDIMScheduler(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule="linear", beta_start=BETA_START,
                      beta_end=BETA_END, prediction_type="epsilon", clip_sample=True, clip_sample_range=1.0,
                      set_alpha_to_one=True, timestep_spacing="trailing")
    s.set_timesteps(steps)
    return s


def ddim_step(sched: DDIMScheduler, eps: torch.Tensor, t: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
    """One DDIM update that stays consistent with the clipped x0.

    diffusers clips the predicted x0 to [-1, 1] but by default keeps the unclipped eps for the direction
    term; under guidance (eps scaled up) the two disagree and samples drift to other classes. Measured on
    cpu16 (20 images/class, 50 steps): guidance 3 class accuracy 0.17 with the default, 1.00 with the
    eps re-derived from the clipped x0 (``use_clipped_model_output``), 1.00 without clipping.
    """
    return sched.step(eps, t, x, use_clipped_model_output=True).prev_sample


def learning_rate(step: int, base: float, warmup: int, total: int, final_fraction: float) -> float:
    """Linear warm-up then cosine decay; a pure function of the step so resuming needs no scheduler state."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return base * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))
