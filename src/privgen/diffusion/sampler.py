"""Sampling with classifier-free guidance (batched cond + uncond) through a named solver (`solvers.py`)."""

from __future__ import annotations

from typing import Sequence

import torch

from privgen.diffusion.guidance import guided_eps, guided_eps_two_pass
from privgen.diffusion.solvers import DEFAULT_SAMPLER, get_solver, resolve_steps
from privgen.diffusion.store import DiffusionModel
from privgen import checks
from privgen.errors import UserError
from privgen.progress import progress


def check_sampling_args(guidance_scale: float, steps: int | None, n: int, sampler: str = DEFAULT_SAMPLER) -> None:
    """Guidance finite and >= 0 (a NaN scale gives a blank grid), a known sampler, 1..1000 steps, n >= 1."""
    checks.finite_nonnegative("--guidance-scale (1 = purely conditional, 3 = usual)", guidance_scale)
    get_solver(sampler)
    if steps is not None:
        checks.ddim_steps("--num-inference-steps (sampler steps)", steps)
    checks.positive_int("--n-per-class (images per class)", n)


@torch.inference_mode()
def sample_labels(model: DiffusionModel, labels: torch.Tensor, *, guidance_scale: float = 3.0,
                  sampler: str = DEFAULT_SAMPLER, num_inference_steps: int | None = None, seed: int = 0,
                  batch_size: int = 500, two_pass: bool = False, quiet: bool = True) -> torch.Tensor:
    """One image per label, (N, C, H, W) in [-1, 1] on the CPU. The start noise depends only on the seed
    and the number of images, so batch_size never changes the result. Steps default to the solver's."""
    check_sampling_args(guidance_scale, num_inference_steps, max(len(labels), 1), sampler)
    solver = get_solver(sampler)
    steps = resolve_steps(sampler, num_inference_steps, model.recipe.sample_steps)
    unet, dev = model.unet.eval(), model.device
    size = model.image_size
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn((len(labels), model.in_channels, size, size), generator=gen)
    eps_fn = guided_eps_two_pass if two_pass else guided_eps
    out = []
    chunks = range(0, len(labels), batch_size)
    bar = progress(total=len(chunks) * steps, desc=f"diffusion sample ({sampler})", quiet=quiet)
    for i in chunks:
        sched = solver.make(steps)  # fresh per batch: a multistep solver keeps past outputs
        x = noise[i:i + batch_size].to(dev)
        y = labels[i:i + batch_size].to(dev)
        for t in sched.timesteps:
            eps = eps_fn(unet, x, int(t), y, guidance_scale, model.null_class)
            x = solver.step(sched, eps, t, x)
            bar.update(1)
        out.append(x.clamp(-1, 1).float().cpu())
    bar.close()
    return torch.cat(out)


def sample(model: DiffusionModel, classes: Sequence[int | str], n: int, *, guidance_scale: float = 3.0,
           sampler: str = DEFAULT_SAMPLER, num_inference_steps: int | None = None, seed: int = 0,
           batch_size: int = 500, quiet: bool = True) -> dict[int, torch.Tensor]:
    """n images for each class (validated); returns {class id: (n, C, H, W) tensor in [-1, 1]}."""
    ids = [model.class_id(c) for c in classes]
    if not ids:
        raise UserError("--classes is empty; give class ids like 0,3")
    check_sampling_args(guidance_scale, num_inference_steps, n, sampler)
    labels = torch.tensor(ids, dtype=torch.long).repeat_interleave(n)
    images = sample_labels(model, labels, guidance_scale=guidance_scale, sampler=sampler,
                           num_inference_steps=num_inference_steps, seed=seed, batch_size=batch_size, quiet=quiet)
    return {c: images[j * n:(j + 1) * n] for j, c in enumerate(ids)}
