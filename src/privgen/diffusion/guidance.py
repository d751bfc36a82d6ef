"""Classifier-free guidance: eps = eps_u + s * (eps_c - eps_u), diffusers' form.

``guided_eps`` puts the conditional and unconditional halves through the UNet in ONE batched call (the
fast path); ``guided_eps_two_pass`` is the reference used by tests and the benchmark.
"""

from __future__ import annotations

import torch
from diffusers import UNet2DModel


def combine(eps_u: torch.Tensor, eps_c: torch.Tensor, scale: float) -> torch.Tensor:
    return eps_u + scale * (eps_c - eps_u)


def _eps(unet: UNet2DModel, x: torch.Tensor, t: torch.Tensor | int, y: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(t) or t.ndim == 0:
        t = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
    return unet(x, t, class_labels=y).sample


def guided_eps(unet: UNet2DModel, x: torch.Tensor, t: torch.Tensor | int, y: torch.Tensor, scale: float,
               null_class: int) -> torch.Tensor:
    """Guided noise prediction. Scale 1 is exactly the conditional prediction, 0 the unconditional one
    (one half-size pass each); any other scale runs cond and uncond as one batch of 2n."""
    if scale == 1.0:
        return _eps(unet, x, t, y)
    null = torch.full_like(y, null_class)
    if scale == 0.0:
        return _eps(unet, x, t, null)
    if torch.is_tensor(t) and t.ndim > 0:
        t = torch.cat([t, t])
    eps = _eps(unet, torch.cat([x, x]), t, torch.cat([y, null]))
    eps_c, eps_u = eps.chunk(2)
    return combine(eps_u, eps_c, scale)


def guided_eps_two_pass(unet: UNet2DModel, x: torch.Tensor, t: torch.Tensor | int, y: torch.Tensor,
                        scale: float, null_class: int) -> torch.Tensor:
    """Reference: two separate forward calls."""
    eps_c = _eps(unet, x, t, y)
    eps_u = _eps(unet, x, t, torch.full_like(y, null_class))
    return combine(eps_u, eps_c, scale)
