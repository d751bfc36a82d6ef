"""The forget-rate probe of a relearning attack: forget accuracy at points along the attack.

Shared by `privgen attack relearn --probe-every N` and the unlearning benchmark's relearning curves, so both
draw the same samples (same seed, same start noise at every point) and report the same numbers. Probing
samples with its own generator and a deterministic solver: the attacked weights are the same with or without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diffusers import UNet2DModel

from privgen.diffusion.solvers import DEFAULT_SAMPLER
from privgen.diffusion.store import DiffusionModel
from privgen.eval import EvalCNN
from privgen.eval.intervals import wilson
from privgen.report import save_rate_curves
from privgen.eval.forgetting import forget_accuracy, forgotten_samples


@dataclass
class ForgetProbe:
    """Call it with (step, unet) at each point; `points` holds step, forget_acc, its Wilson interval and n."""

    model: DiffusionModel
    classifier: EvalCNN
    forget_class: int
    n: int
    guidance_scale: float
    num_inference_steps: int
    seed: int = 0
    sampler: str = DEFAULT_SAMPLER
    real_forgotten: Any = None  # features of the real c_f test images: also record confidence and FD (the audit)
    attribute: Any = None  # (ForgetTarget, Measure) when an attribute value was forgotten: probe its samples instead
    points: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0  # time spent probing, kept apart from the attack's own time

    def __call__(self, step: int, unet: UNet2DModel) -> None:
        t0 = time.perf_counter()
        was_training = unet.training
        extra: dict[str, Any] = {}
        if self.attribute is not None:
            from privgen.unlearn.evaluate_attribute import forgotten_attribute_samples

            target, measure = self.attribute
            extra = forgotten_attribute_samples(unet, self.model, self.classifier, target, measure, n=self.n,
                                                guidance_scale=self.guidance_scale, real_forgotten=self.real_forgotten,
                                                sampler=self.sampler, num_inference_steps=self.num_inference_steps,
                                                seed=self.seed)
            acc = extra.pop("forget_acc")
        elif self.real_forgotten is None:
            acc = forget_accuracy(unet, self.model, self.classifier, forget_class=self.forget_class, n=self.n,
                                  guidance_scale=self.guidance_scale, sampler=self.sampler,
                                  num_inference_steps=self.num_inference_steps, seed=self.seed)
        else:
            extra = forgotten_samples(unet, self.model, self.classifier, forget_class=self.forget_class, n=self.n,
                                      guidance_scale=self.guidance_scale, real_forgotten=self.real_forgotten,
                                      sampler=self.sampler, num_inference_steps=self.num_inference_steps,
                                      seed=self.seed)
            acc = extra.pop("forget_acc")
        unet.train(was_training)
        hits = round(acc * self.n)
        self.points.append({"step": step, "forget_acc": acc, "forget_acc_ci": wilson(hits, self.n), "n": self.n,
                            **extra})
        self.seconds += time.perf_counter() - t0

    def curve(self) -> list[list[float]]:
        """[[step, forget_acc], ...]: the benchmark's results.json form."""
        return [[p["step"], p["forget_acc"]] for p in self.points]


def save_relearn_curve(points: list[dict[str, Any]], path: Path | str, what: str, guidance_scale: float,
                       label: str = "attacked model") -> Path:
    """relearn_curve.png: forget accuracy against attack steps with its 95% Wilson band; `what`: the class as
    `class_label` shows it."""
    n = points[0]["n"] if points else 0
    return save_rate_curves({label: ([p["step"] for p in points], [p["forget_acc"] for p in points],
                                     [p["forget_acc_ci"] for p in points])},
                            path, xlabel="attack steps", ylabel=f"forget accuracy at guidance {guidance_scale:g} (%)",
                            title=f"relearning curve, {what} ({n} samples per point, 95% Wilson band)")
