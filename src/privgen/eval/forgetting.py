"""Forgetting and retained quality of one model, for one forgotten class.

forget_acc: share of images generated under c_f that the evaluation classifier labels c_f (lower is better),
with a 95% Wilson interval. fd_retained: Fréchet distance between images generated under the retained
classes and the real retained test images, pooled over classes, in the classifier's feature space.
Every number carries its sample count and the sampling setting. Samples come from `eval.generated`, the
same evaluator `eval generation` uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from privgen.data import ImageDataset
from privgen.diffusion.solvers import DEFAULT_SAMPLER, resolve_steps
from privgen.diffusion.store import DiffusionModel
from privgen.eval.classifier import EvalCNN, extract_features
from privgen.eval.frechet import frechet_distance
from privgen.eval.generated import GeneratedSet, class_labels, generate
from privgen.eval.intervals import wilson  # noqa: F401  (re-exported: callers import it from here)


@dataclass
class RealFeatures:
    """Classifier features of the real retained test images: computed once, shared by every evaluation."""

    features: np.ndarray
    forget_class: int

    @classmethod
    def of(cls, clf: EvalCNN, test: ImageDataset, forget_class: int) -> "RealFeatures":
        return cls(extract_features(clf, test.x[test.y != forget_class]), forget_class)


def score(gen: GeneratedSet, real: RealFeatures) -> dict[str, Any]:
    """forget_acc (with CI), retained class accuracy and retained FD of one generated set."""
    c_f = real.forget_class
    hits, n_forget = gen.hits(c_f)
    retained = gen.labels != c_f
    kept_hits = int((gen.pred[retained] == gen.labels[retained]).sum())
    return {"forget_acc": hits / max(n_forget, 1), "forget_acc_ci": wilson(hits, n_forget),
            "retained_class_acc": kept_hits / max(int(retained.sum()), 1),
            "retained_class_acc_ci": wilson(kept_hits, int(retained.sum())),
            "fd_retained": frechet_distance(gen.features[retained], real.features),
            "n_forget": n_forget, "n_retained": int(retained.sum()), "n_real_retained": len(real.features)}


def forgotten_and_retained(gen: GeneratedSet, real: RealFeatures, names: list[str]) -> dict[str, Any]:
    """`eval generation` of an unlearned model: the forgotten class and the retained ones apart, since the
    overall class accuracy mixes a class meant to fail with classes meant to succeed."""
    c_f = real.forget_class
    s = score(gen, real)
    return {"forgotten": {"classes": [names[c_f]], "class_ids": [c_f], "forget_accuracy": s["forget_acc"],
                          "forget_accuracy_ci": s["forget_acc_ci"], "n": s["n_forget"]},
            "retained": {"classes": [n for c, n in enumerate(names) if c != c_f],
                         "class_ids": [c for c in range(len(names)) if c != c_f],
                         "class_accuracy": s["retained_class_acc"], "class_accuracy_ci": s["retained_class_acc_ci"],
                         "fd": s["fd_retained"], "n": s["n_retained"], "n_real_test": s["n_real_retained"]}}


def evaluate_forgetting(model: DiffusionModel, clf: EvalCNN, real: RealFeatures, *, n_per_class: int = 100,
                        guidance_scales: tuple[float, ...] = (1.0, 3.0), sampler: str = DEFAULT_SAMPLER,
                        num_inference_steps: int | None = None, seed: int = 0
                        ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Score the model at each guidance scale; same seed ⇒ same start noise for every model.

    Returns the metrics ({"g1": {...}, "g3": {...}, "sampler", "steps", "n_per_class"}) and the generated
    images per scale (label-major order).
    """
    steps = resolve_steps(sampler, num_inference_steps, model.recipe.sample_steps)
    labels = class_labels(model.num_classes, n_per_class)
    metrics: dict[str, Any] = {"n_per_class": n_per_class, "sampler": sampler, "steps": steps}
    images: dict[str, np.ndarray] = {}
    for g in guidance_scales:
        key = f"g{g:g}"
        gen = generate(model, clf, labels, guidance_scale=g, sampler=sampler, num_inference_steps=steps, seed=seed)
        images[key] = gen.images
        metrics[key] = score(gen, real)
    return metrics, images


def forget_accuracy(unet, model: DiffusionModel, clf: EvalCNN, *, forget_class: int, n: int, guidance_scale: float,
                    sampler: str = DEFAULT_SAMPLER, num_inference_steps: int | None = None, seed: int = 0) -> float:
    """forget_acc of `unet` (e.g. a checkpoint during an attack) from n samples under c_f."""
    probe = DiffusionModel(unet, model.recipe, model.num_classes, model.class_names, model.in_channels, model.config)
    gen = generate(probe, clf, torch.full((n,), forget_class, dtype=torch.long), guidance_scale=guidance_scale,
                   sampler=sampler, num_inference_steps=num_inference_steps, seed=seed)
    return gen.class_accuracy(forget_class)


def forgotten_samples(unet, model: DiffusionModel, clf: EvalCNN, *, forget_class: int, n: int, guidance_scale: float,
                      real_forgotten: np.ndarray, sampler: str = DEFAULT_SAMPLER, num_inference_steps: int | None = None,
                      seed: int = 0) -> dict[str, Any]:
    """What an attacker gets from `unet` under c_f: the forget rate (as `forget_accuracy`, same samples), the
    classifier's mean confidence in c_f, and the FD of the n samples against the real c_f test images
    (`real_forgotten`, their features; None when either side has fewer than MIN_SAMPLES)."""
    import warnings

    from privgen.eval.classifier import probabilities
    from privgen.eval.frechet import MIN_SAMPLES, FewSamplesWarning

    probe = DiffusionModel(unet, model.recipe, model.num_classes, model.class_names, model.in_channels, model.config)
    gen = generate(probe, clf, torch.full((n,), forget_class, dtype=torch.long), guidance_scale=guidance_scale,
                   sampler=sampler, num_inference_steps=num_inference_steps, seed=seed)
    fd = None
    if min(n, len(real_forgotten)) >= MIN_SAMPLES:
        with warnings.catch_warnings():  # compared only with the oracle's FD at the same count
            warnings.simplefilter("ignore", FewSamplesWarning)
            fd = frechet_distance(gen.features, real_forgotten)
    return {"forget_acc": gen.class_accuracy(forget_class),
            "confidence": float(probabilities(clf, gen.images)[:, forget_class].mean()), "fd_forgotten": fd}
