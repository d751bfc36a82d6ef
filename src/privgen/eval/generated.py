"""The one evaluator of generated images: sample every condition once per guidance scale, then let the
classifier label and featurise them once; class accuracy, forget rate and FD are all read off that set.

`eval generation`, the unlearning benchmark and the attack's forget-rate probe all go through `generate`,
so they see the same images (same seed ⇒ same start noise) and score them the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from privgen.diffusion.sampler import sample_labels
from privgen.diffusion.solvers import DEFAULT_SAMPLER, resolve_steps
from privgen.diffusion.store import DiffusionModel
from privgen.eval.classifier import EvalCNN, extract_features, predict
from privgen.eval.intervals import wilson


@dataclass(frozen=True)
class GeneratedSet:
    """Images generated under `labels` with the classifier's verdict and features, and how they were made."""

    images: np.ndarray     # (N, C, H, W) in [-1, 1], label-major
    labels: np.ndarray     # (N,) the condition each image was generated under
    pred: np.ndarray       # (N,) the classifier's label
    features: np.ndarray   # (N, D) the classifier's penultimate features (FD space)
    guidance_scale: float
    sampler: str
    steps: int
    sampling_seconds: float = 0.0  # wall time of the sampling alone (contended on a shared machine)

    def setting(self) -> dict[str, Any]:
        """What every metrics.json records next to the numbers."""
        return {"guidance_scale": self.guidance_scale, "sampler": self.sampler, "steps": self.steps,
                "sampling_seconds": round(self.sampling_seconds, 2)}

    def hits(self, c: int) -> tuple[int, int]:
        """(images of condition c labelled c, images of condition c)."""
        mine = self.labels == c
        return int((self.pred[mine] == c).sum()), int(mine.sum())

    def class_accuracy(self, c: int) -> float:
        hits, n = self.hits(c)
        return hits / max(n, 1)

    def class_accuracy_ci(self, c: int) -> list[float]:
        return wilson(*self.hits(c))


def generate(model: DiffusionModel, clf: EvalCNN, labels: torch.Tensor | np.ndarray, *, guidance_scale: float,
             sampler: str = DEFAULT_SAMPLER, num_inference_steps: int | None = None, seed: int = 0,
             quiet: bool = True) -> GeneratedSet:
    """Sample one image per label, then classify and featurise every image once."""
    labels_t = torch.as_tensor(labels, dtype=torch.long)
    steps = resolve_steps(sampler, num_inference_steps, model.recipe.sample_steps)
    t0 = time.perf_counter()
    images = sample_labels(model, labels_t, guidance_scale=guidance_scale, sampler=sampler,
                           num_inference_steps=steps, seed=seed, quiet=quiet).numpy()
    return GeneratedSet(images, labels_t.numpy(), predict(clf, images), extract_features(clf, images),
                        float(guidance_scale), sampler, steps, time.perf_counter() - t0)


def class_labels(num_classes: int, n_per_class: int) -> torch.Tensor:
    """0,0,...,1,1,...: n_per_class of every class, label-major (the order every evaluation uses)."""
    return torch.arange(num_classes).repeat_interleave(n_per_class)
