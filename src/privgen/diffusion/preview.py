"""Sample grids of a model in training or after unlearning: how a run shows what it learned.

Sampling uses its own seeded generator and a deterministic solver (privgen's default), so drawing a grid mid-training consumes no
random numbers of the training run and leaves its weights exactly as they would have been.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import torch
from diffusers import UNet2DModel

from privgen.diffusion.sampler import sample_labels
from privgen.diffusion.solvers import DEFAULT_SAMPLER, describe, resolve_steps
from privgen.diffusion.store import DiffusionModel
from privgen.report import save_image_grid

PREVIEW_PER_CLASS = 8
PREVIEW_GUIDANCE = 3.0
MAX_ROWS = 10
MAX_PREVIEWS = 10  # grids per training run: a short tiny8 run spent 44 of 59 s on 60 of them


def preview_every(checkpoint_every: int, total_steps: int) -> int:
    """Steps between preview grids: the smallest multiple of the checkpoint interval that draws at most
    MAX_PREVIEWS grids over `total_steps` (the last step's included), so previews scale with --steps."""
    k = max(1, math.ceil(total_steps / (MAX_PREVIEWS * checkpoint_every)))
    return k * checkpoint_every


def is_preview_step(step: int, total_steps: int, checkpoint_every: int) -> bool:
    """Whether the checkpoint at `step` also draws a preview grid (every `preview_every` steps and the last)."""
    return step == total_steps or step % preview_every(checkpoint_every, total_steps) == 0


def with_weights(model: DiffusionModel, unet: UNet2DModel) -> DiffusionModel:
    """The same model description around other weights (an EMA copy, a fine-tuned UNet)."""
    return replace(model, unet=unet)


def sample_rows(model: DiffusionModel, classes: Sequence[int], seed: int, n: int = PREVIEW_PER_CLASS,
                guidance_scale: float = PREVIEW_GUIDANCE, steps: int | None = None) -> list:
    """n images per class, one NumPy (n, C, H, W) array per class; same seed ⇒ same start noise."""
    was_training = model.unet.training
    labels = torch.tensor(list(classes), dtype=torch.long).repeat_interleave(n)
    images = sample_labels(model, labels, guidance_scale=guidance_scale, num_inference_steps=steps, seed=seed).numpy()
    model.unet.train(was_training)  # sampling switched it to eval mode
    return [images[i * n:(i + 1) * n] for i in range(len(classes))]


def preview_setting(model: DiffusionModel) -> str:
    """`guidance 3, 15 DPM-Solver++ steps`: what a preview grid was drawn with, for its title."""
    steps = resolve_steps(DEFAULT_SAMPLER, None, model.recipe.sample_steps)
    return f"guidance {PREVIEW_GUIDANCE:g}, {describe(DEFAULT_SAMPLER, steps)}"


def save_preview(model: DiffusionModel, path: Path | str, seed: int, title: str) -> Path:
    """One row per class (the first ten classes) at guidance 3 with the default sampler."""
    classes = list(range(min(model.num_classes, MAX_ROWS)))
    rows = sample_rows(model, classes, seed)
    return save_image_grid(rows, path, [model.class_names[c] for c in classes], title=title)
