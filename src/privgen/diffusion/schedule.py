"""Noise schedules (diffusers' DDPM for training, DDIM for sampling) and the learning-rate schedule."""

from __future__ import annotations

import math

from diffusers import DDIMScheduler, DDPMScheduler

TRAIN_TIMESTEPS = 1000
BETA_START, BETA_END = 1e-4, 0.02


def training_scheduler() -> DDPMScheduler:
    """T = 1000, linear beta 1e-4 -> 0.02, epsilon prediction (DESIGN section 5)."""
    return DDPMScheduler(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule="linear", beta_start=BETA_START,
                         beta_end=BETA_END, prediction_type="epsilon", clip_sample=True)


def sampling_scheduler(steps: int) -> DDIMScheduler:
    """Deterministic DDIM (eta = 0) on the training schedule, with `steps` denoising steps."""
    s = DDIMScheduler(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule="linear", beta_start=BETA_START,
                      beta_end=BETA_END, prediction_type="epsilon", clip_sample=True, clip_sample_range=1.0,
                      set_alpha_to_one=True, timestep_spacing="trailing")
    s.set_timesteps(steps)
    return s


def learning_rate(step: int, base: float, warmup: int, total: int, final_fraction: float) -> float:
    """Linear warm-up then cosine decay; a pure function of the step so resuming needs no scheduler state."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return base * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))
