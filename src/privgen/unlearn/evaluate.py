"""Forgetting and retained quality of one model, for one forgotten class (DESIGN §8).

forget_acc: share of images generated under c_f that the evaluation classifier labels c_f (lower is better).
fd_retained: Fréchet distance between images generated under the retained classes and the real retained
test images, pooled over classes, in the classifier's feature space. Every number carries its sample count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from privgen.data import ImageDataset
from privgen.diffusion.sampler import sample_labels
from privgen.diffusion.store import DiffusionModel
from privgen.eval import EvalCNN, extract_features, frechet_distance, predict


def evaluate_forgetting(model: DiffusionModel, forget_class: int, clf: EvalCNN, test: ImageDataset,
                        n_per_class: int = 100, guidance_scales: tuple[float, ...] = (1.0, 3.0),
                        steps: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Sample n_per_class images per class at each guidance scale; same seed ⇒ same start noise for every model."""
    steps = steps or model.recipe.sample_steps
    labels = torch.arange(model.num_classes).repeat_interleave(n_per_class)
    lab = labels.numpy()
    keep_real = test.y != forget_class
    f_real = extract_features(clf, test.x[keep_real])
    out: dict[str, Any] = {"n_per_class": n_per_class, "n_real_retained": int(keep_real.sum()), "steps": steps}
    for g in guidance_scales:
        images = sample_labels(model, labels, g, steps, seed).numpy()
        pred = predict(clf, images)
        retained = lab != forget_class
        key = f"g{g:g}"
        out[key] = {
            "forget_acc": float((pred[lab == forget_class] == forget_class).mean()),
            "retained_class_acc": float((pred[retained] == lab[retained]).mean()),
            "fd_retained": frechet_distance(extract_features(clf, images[retained]), f_real),
        }
    return out


def forget_images(model: DiffusionModel, forget_class: int, n: int, guidance: float, steps: int | None = None,
                  seed: int = 0) -> np.ndarray:
    labels = torch.full((n,), forget_class, dtype=torch.long)
    return sample_labels(model, labels, guidance, steps or model.recipe.sample_steps, seed).numpy()
