"""Forgetting and retained quality of one model, for one forgotten class.

forget_acc: share of images generated under c_f that the evaluation classifier labels c_f (lower is better),
with a 95% Wilson interval. fd_retained: Fréchet distance between images generated under the retained
classes and the real retained test images, pooled over classes, in the classifier's feature space.
Every number carries its sample count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from privgen.data import ImageDataset
from privgen.diffusion.sampler import sample_labels
from privgen.diffusion.store import DiffusionModel
from privgen.eval import EvalCNN, extract_features, frechet_distance, predict
from privgen.eval.intervals import wilson  # noqa: F401  (re-exported: callers import it from here)


@dataclass
class RealFeatures:
    """Classifier features of the real retained test images: computed once, shared by every evaluation."""

    features: np.ndarray
    forget_class: int

    @classmethod
    def of(cls, clf: EvalCNN, test: ImageDataset, forget_class: int) -> "RealFeatures":
        return cls(extract_features(clf, test.x[test.y != forget_class]), forget_class)


def score(images: np.ndarray, labels: np.ndarray, clf: EvalCNN, real: RealFeatures) -> dict[str, Any]:
    """forget_acc (with CI), retained class accuracy and retained FD of labelled generated images."""
    c_f = real.forget_class
    pred = predict(clf, images)
    forget, retained = labels == c_f, labels != c_f
    hits = int((pred[forget] == c_f).sum())
    return {"forget_acc": hits / max(int(forget.sum()), 1), "forget_acc_ci": wilson(hits, int(forget.sum())),
            "retained_class_acc": float((pred[retained] == labels[retained]).mean()),
            "fd_retained": frechet_distance(extract_features(clf, images[retained]), real.features),
            "n_forget": int(forget.sum()), "n_retained": int(retained.sum()), "n_real_retained": len(real.features)}


def evaluate_forgetting(model: DiffusionModel, clf: EvalCNN, real: RealFeatures, n_per_class: int = 100,
                        guidance_scales: tuple[float, ...] = (1.0, 3.0), steps: int | None = None, seed: int = 0
                        ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Score the model at each guidance scale; same seed ⇒ same start noise for every model.

    Returns the metrics ({"g1": {...}, "g3": {...}}) and the generated images per scale (label-major order).
    """
    steps = steps or model.recipe.sample_steps
    labels = torch.arange(model.num_classes).repeat_interleave(n_per_class)
    metrics: dict[str, Any] = {"n_per_class": n_per_class, "steps": steps}
    images: dict[str, np.ndarray] = {}
    for g in guidance_scales:
        key = f"g{g:g}"
        images[key] = sample_labels(model, labels, g, steps, seed).numpy()
        metrics[key] = score(images[key], labels.numpy(), clf, real)
    return metrics, images


def forget_accuracy(unet, model: DiffusionModel, clf: EvalCNN, *, forget_class: int, n: int, guidance_scale: float,
                    num_inference_steps: int, seed: int = 0) -> float:
    """forget_acc of `unet` (e.g. a checkpoint during an attack) from n samples under c_f."""
    probe = DiffusionModel(unet, model.recipe, model.num_classes, model.class_names, model.in_channels, model.config)
    labels = torch.full((n,), forget_class, dtype=torch.long)
    images = sample_labels(probe, labels, guidance_scale, num_inference_steps, seed).numpy()
    return float((predict(clf, images) == forget_class).mean())
