"""Forgetting of an attribute value, scored by measuring the attribute on the generated images.

The model is asked for every class with every value of the attribute (other attributes left null), n
images each. `forget_rate`: share of the images asked for the forgotten value that show what was forgotten:
a recognisable instance of the class asked (the evaluation classifier reads that class) whose attribute
measures as the forgotten value (lower is better), with a 95% Wilson interval. The measurement alone
(`measure_rate`, reported beside it) has no "not a digit" answer: it gives the nearest value to whatever
stroke pixels a wrecked sample has (gradient ascent's noise under a forgotten colour read as that colour in
56-97% of samples while 0-17% were digits in it; docs/unlearning.md, "Every colour, two seeds"). Retained
quality, on the images asked for the kept values: `kept_attr_acc` (measured value = value asked),
`class_acc` (the evaluation classifier's label = class asked), and `fd_retained` (Fréchet distance to the
real test images without the forgotten value, in the classifier's feature space). `forget_class_acc` says
whether the forgotten condition still draws the class it was asked for (DiMUM should: it renders the class
in another value). Every number carries n.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from diffusers import UNet2DModel

from privgen.data.attributes import Measure
from privgen.data.images import ImageDataset
from privgen.diffusion.condition import NULL
from privgen.diffusion.sampler import sample_labels
from privgen.diffusion.solvers import DEFAULT_SAMPLER, resolve_steps
from privgen.diffusion.store import DiffusionModel
from privgen.eval import EvalCNN, extract_features, frechet_distance, predict
from privgen.eval.intervals import wilson
from privgen.unlearn.target import ForgetTarget


@dataclass
class AttributeReal:
    """Classifier features of the real test images without the forgotten value (computed once)."""

    features: np.ndarray

    @classmethod
    def of(cls, clf: EvalCNN, test: ImageDataset, target: ForgetTarget) -> "AttributeReal":
        return cls(extract_features(clf, test.x[~target.mask(test)]))


def condition_grid(target: ForgetTarget, n: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Rows asking for (class c, value w) for every class and value, n each, class-major; with their class
    and value."""
    space, k = target.space, target.attribute
    values = len(space.attributes[k].values)
    classes = np.repeat(np.arange(space.num_classes), values * n)
    asked = np.tile(np.repeat(np.arange(values), n), space.num_classes)
    attrs = np.full((len(classes), len(space.attributes)), NULL)
    attrs[:, k] = asked
    return torch.from_numpy(space.encode(classes, attrs).astype(np.int64)), classes, asked


def forgotten_grid(target: ForgetTarget, n: int) -> tuple[torch.Tensor, np.ndarray]:
    """n rows in all asking for the forgotten value, spread evenly over the classes (the attack's probe)."""
    space = target.space
    classes = np.arange(n) % space.num_classes
    attrs = np.full((n, len(space.attributes)), NULL)
    attrs[:, target.attribute] = target.value
    return torch.from_numpy(space.encode(classes, attrs).astype(np.int64)), classes


def shows_forgotten(images: np.ndarray, classes: np.ndarray, target: ForgetTarget, measure: Measure,
                    clf: EvalCNN) -> tuple[np.ndarray, np.ndarray]:
    """Per image asked for the forgotten value: (a recognisable class-asked image measuring as the value,
    the measurement alone says the value)."""
    value = measure(images, classes) == target.value
    return value & (predict(clf, images) == classes), value


def score_attribute(images: np.ndarray, classes: np.ndarray, asked: np.ndarray, target: ForgetTarget,
                    measure: Measure, clf: EvalCNN, real: AttributeReal) -> dict[str, Any]:
    measured = measure(images, classes)
    pred = predict(clf, images)
    forgot = asked == target.value
    kept = ~forgot
    value = measured[forgot] == target.value
    n_f = int(forgot.sum())
    hits, alone = int((value & (pred[forgot] == classes[forgot])).sum()), int(value.sum())
    ok = int((measured[kept] == asked[kept]).sum())
    return {"forget_rate": hits / max(n_f, 1), "forget_rate_ci": wilson(hits, n_f),
            "measure_rate": alone / max(n_f, 1), "measure_rate_ci": wilson(alone, n_f),
            "kept_attr_acc": ok / max(int(kept.sum()), 1), "kept_attr_acc_ci": wilson(ok, int(kept.sum())),
            "class_acc": float((pred[kept] == classes[kept]).mean()),
            "forget_class_acc": float((pred[forgot] == classes[forgot]).mean()),
            "fd_retained": frechet_distance(extract_features(clf, images[kept]), real.features),
            "n_forget": n_f, "n_kept": int(kept.sum()), "n_real_retained": len(real.features)}


def evaluate_attribute(model: DiffusionModel, target: ForgetTarget, measure: Measure, clf: EvalCNN,
                       real: AttributeReal, n_per_condition: int = 20, guidance_scales: tuple[float, ...] = (1.0, 3.0),
                       steps: int | None = None, seed: int = 0, sampler: str = DEFAULT_SAMPLER
                       ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metrics per guidance scale ({"g1": {...}, "g3": {...}}) and the images (condition_grid order)."""
    steps = resolve_steps(sampler, steps, model.recipe.sample_steps)
    labels, classes, asked = condition_grid(target, n_per_condition)
    metrics: dict[str, Any] = {"n_per_condition": n_per_condition, "sampler": sampler, "steps": steps}
    images: dict[str, np.ndarray] = {}
    for g in guidance_scales:
        key = f"g{g:g}"
        images[key] = sample_labels(model, labels, guidance_scale=g, sampler=sampler, num_inference_steps=steps,
                                    seed=seed).numpy()
        metrics[key] = score_attribute(images[key], classes, asked, target, measure, clf, real)
    return metrics, images


def forget_rate(unet: UNet2DModel, model: DiffusionModel, target: ForgetTarget, measure: Measure, clf: EvalCNN, *,
                n: int, guidance_scale: float, num_inference_steps: int, seed: int = 0,
                sampler: str = DEFAULT_SAMPLER) -> tuple[int, int, int]:
    """(hits, measured, n): of n samples asked for the forgotten value (spread over classes), how many show
    it as a recognisable class-asked image, and how many the measurement alone reads as the value."""
    labels, classes = forgotten_grid(target, n)
    images = sample_labels(replace(model, unet=unet), labels, guidance_scale=guidance_scale, sampler=sampler,
                           num_inference_steps=num_inference_steps, seed=seed).numpy()
    both, value = shows_forgotten(images, classes, target, measure, clf)
    return int(both.sum()), int(value.sum()), n


def forgotten_attribute_samples(unet: UNet2DModel, model: DiffusionModel, clf: EvalCNN, target: ForgetTarget,
                                measure: Measure, *, n: int, guidance_scale: float, real_forgotten: np.ndarray | None,
                                sampler: str = DEFAULT_SAMPLER, num_inference_steps: int | None = None,
                                seed: int = 0) -> dict[str, Any]:
    """What an attacker gets under the forgotten value (the audit's probe, the attribute twin of
    `privgen.eval.forgetting.forgotten_samples`): the forget rate of n samples asked for it, spread over the
    classes; the measurement alone; the classifier's mean confidence in the class asked; and the FD of the
    samples against the real test images showing the value (`real_forgotten`, their features; None: no FD)."""
    import warnings

    from privgen.eval.classifier import probabilities
    from privgen.eval.frechet import MIN_SAMPLES, FewSamplesWarning

    labels, classes = forgotten_grid(target, n)
    steps = resolve_steps(sampler, num_inference_steps, model.recipe.sample_steps)
    images = sample_labels(replace(model, unet=unet), labels, guidance_scale=guidance_scale, sampler=sampler,
                           num_inference_steps=steps, seed=seed).numpy()
    both, value = shows_forgotten(images, classes, target, measure, clf)
    fd = None
    if real_forgotten is not None and min(n, len(real_forgotten)) >= MIN_SAMPLES:
        with warnings.catch_warnings():  # compared only with the oracle's FD at the same count
            warnings.simplefilter("ignore", FewSamplesWarning)
            fd = frechet_distance(extract_features(clf, images), real_forgotten)
    confidence = probabilities(clf, images)[np.arange(n), classes]
    return {"forget_acc": float(both.mean()), "measure_rate": float(value.mean()),
            "confidence": float(confidence.mean()), "fd_forgotten": fd}


def retained_attribute_fd(model: DiffusionModel, clf: EvalCNN, real: AttributeReal, target: ForgetTarget, *,
                          n_per_condition: int, guidance_scales: tuple[float, ...], num_inference_steps: int,
                          seed: int, sampler: str = DEFAULT_SAMPLER) -> dict[str, float]:
    """FD of samples of every kept (class, value) condition, n each, against the real test images without
    the forgotten value, per guidance scale ({"g1": .., "g3": ..}): the audit's retained quality."""
    import warnings

    from privgen.eval.frechet import FewSamplesWarning

    labels, _, asked = condition_grid(target, n_per_condition)
    labels = labels[torch.from_numpy(asked != target.value)]
    out = {}
    for g in guidance_scales:
        images = sample_labels(model, labels, guidance_scale=g, sampler=sampler, num_inference_steps=num_inference_steps,
                               seed=seed).numpy()
        with warnings.catch_warnings():  # the rule compares the same model's FD at the same count
            warnings.simplefilter("ignore", FewSamplesWarning)
            out[f"g{g:g}"] = float(frechet_distance(extract_features(clf, images), real.features))
    return out
