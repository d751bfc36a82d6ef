"""Class-conditional diffusion: diffusers UNet + null class, DDPM training, DDIM sampling with CFG, EMA.

Python API mirroring the CLI: ``train(...)``, ``load_model(dir)``, ``sample(model, classes, n, ...)``,
``evaluate_generation(...)``. Fine-tuning code builds on ``TrainState``/``fit`` and ``denoising_loss``.
"""

from privgen.diffusion.guidance import combine, guided_eps, guided_eps_two_pass
from privgen.diffusion.loss import denoising_loss, drop_condition
from privgen.diffusion.model import RECIPES, Recipe, build_unet, get_recipe
from privgen.diffusion.sampler import sample, sample_labels
from privgen.diffusion.store import DiffusionModel, load_model, new_model
from privgen.diffusion.trainer import TrainState, fit, init_state, train

__all__ = ["combine", "guided_eps", "guided_eps_two_pass", "denoising_loss", "drop_condition", "RECIPES", "Recipe",
           "build_unet", "get_recipe", "sample", "sample_labels", "DiffusionModel", "load_model", "new_model",
           "TrainState", "fit", "init_state", "train"]
