"""DDIM sampling with classifier-free guidance (batched cond + uncond)."""

from __future__ import annotations

from typing import Sequence

import torch

from privgen.diffusion.guidance import guided_eps, guided_eps_two_pass
from privgen.diffusion.schedule import ddim_step, sampling_scheduler
from privgen.diffusion.store import DiffusionModel
from privgen import checks
from privgen.errors import UserError
from privgen.progress import progress


def check_sampling_args(guidance_scale: float, steps: int, n: int) -> None:
    """Guidance finite and >= 0 (a NaN scale gives a blank grid), 1..1000 DDIM steps, n >= 1."""
    checks.finite_nonnegative("--guidance-scale (1 = purely conditional, 3 = usual)", guidance_scale)
    checks.ddim_steps("--num-inference-steps (DDIM steps)", steps)
    checks.positive_int("--n-per-class (images per class)", n)


@torch.inference_mode()
def sample_labels(model: DiffusionModel, labels: torch.Tensor, guidance_scale: float = 3.0, steps: int = 50,
                  seed: int = 0, batch_size: int = 500, two_pass: bool = False, quiet: bool = True) -> torch.Tensor:
    """One image per label, (N, C, H, W) in [-1, 1] on the CPU. The start noise depends only on the seed
    and the number of images, so batch_size never changes the result."""
    check_sampling_args(guidance_scale, steps, max(len(labels), 1))
    unet, dev = model.unet.eval(), model.device
    size = model.image_size
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn((len(labels), model.in_channels, size, size), generator=gen)
    eps_fn = guided_eps_two_pass if two_pass else guided_eps
    out = []
    chunks = range(0, len(labels), batch_size)
    bar = progress(total=len(chunks) * steps, desc="diffusion sample", quiet=quiet)
    for i in chunks:
        sched = sampling_scheduler(steps)
        x = noise[i:i + batch_size].to(dev)
        y = labels[i:i + batch_size].to(dev)
        for t in sched.timesteps:
            eps = eps_fn(unet, x, int(t), y, guidance_scale, model.null_class)
            x = ddim_step(sched, eps, t, x)
            bar.update(1)
        out.append(x.clamp(-1, 1).float().cpu())
    bar.close()
    return torch.cat(out)


def sample(model: DiffusionModel, classes: Sequence[int | str], n: int, guidance_scale: float = 3.0,
           steps: int = 50, seed: int = 0, batch_size: int = 500, quiet: bool = True) -> dict[int, torch.Tensor]:
    """n images for each class (validated); returns {class id: (n, C, H, W) tensor in [-1, 1]}."""
    ids = [model.class_id(c) for c in classes]
    if not ids:
        raise UserError("--classes is empty; give class ids like 0,3")
    check_sampling_args(guidance_scale, steps, n)
    labels = torch.tensor(ids, dtype=torch.long).repeat_interleave(n)
    images = sample_labels(model, labels, guidance_scale, steps, seed, batch_size, quiet=quiet)
    return {c: images[j * n:(j + 1) * n] for j, c in enumerate(ids)}
