"""What the audited model forgot, as the audit needs it: a class, or one value of one attribute.

Everything that differs between the two lives here: the key in the cache, the attacker's data request, the
probe (a class is read by the evaluation classifier; an attribute value is measured on the image and counts
only on a recognisable digit, `privgen.unlearn.evaluate_attribute`), the real images an attacker's samples
are compared with, and the retained quality the rule reads. The rest of the audit (regimes, scores,
verdicts, report) sees curves and never asks which it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from privgen.data.class_names import class_label


@dataclass(frozen=True)
class Forgotten:
    """A class id, or an attribute value NAME=VALUE (exactly one of the two)."""

    forget_class: int | None = None
    attribute: str | None = None

    def __post_init__(self) -> None:
        if (self.forget_class is None) == (self.attribute is None):
            raise ValueError("a Forgotten is a class or an attribute value, exactly one")

    @property
    def key(self) -> int | str:
        """Its part of every cache key: the class id alone for a class, so class entries keep their keys."""
        return self.attribute if self.attribute is not None else self.forget_class

    def label(self, class_names: list[str] | tuple[str, ...] | None) -> str:
        return self.attribute if self.attribute is not None else class_label(self.forget_class, class_names)

    def target(self, model):
        from privgen.unlearn.target import ForgetTarget

        if self.attribute is not None:
            return ForgetTarget.of_attribute(model.conditions, self.attribute)
        return ForgetTarget.of_class(model.conditions, self.forget_class)

    def count_in(self, model, ds) -> int:
        return int(self.target(model).mask(ds).sum())

    def aux_request(self, model, *, seed: int, k: int | None, source: str, clf):
        """The attacker's data request: the owner's deletion record (`retain`, `public-without`) and, for
        k-shot, the k images showing what was forgotten."""
        from privgen.attacks.aux import AuxRequest

        if self.attribute is not None:
            return AuxRequest(model, seed=seed, k=k or 10, deleted_attribute=self.attribute, classifier=clf)
        return AuxRequest(model, seed=seed, k=k or 10, kshot_class=self.forget_class if source == "kshot" else None,
                          deleted_class=self.forget_class, classifier=clf)

    def real_forgotten(self, clf, model) -> np.ndarray:
        """Classifier features of the real test images that show it: what an attacker's samples are compared with."""
        from privgen.diffusion.store import model_split
        from privgen.eval.classifier import extract_features

        test = model_split(model).test
        return extract_features(clf, test.x[self.target(model).mask(test)])

    def real_retained(self, clf, model):
        """Features of the real test images without it (the retained quality's reference)."""
        from privgen.diffusion.store import model_split

        test = model_split(model).test
        if self.attribute is not None:
            from privgen.unlearn.evaluate_attribute import AttributeReal

            return AttributeReal.of(clf, test, self.target(model))
        from privgen.eval.forgetting import RealFeatures

        return RealFeatures.of(clf, test, self.forget_class)

    def probe(self, model, clf, probe, real_forgotten: np.ndarray):
        """The forget-rate probe of one attack (`privgen.attacks.probe.ForgetProbe`)."""
        from privgen.attacks.probe import ForgetProbe

        attribute = None
        if self.attribute is not None:
            from privgen.data.attributes import measure_for
            from privgen.diffusion.store import model_split

            target = self.target(model)
            attribute = (target, measure_for(model_split(model).train, target.attribute_name))
        return ForgetProbe(model, clf, self.forget_class if self.forget_class is not None else -1, probe.n,
                           probe.guidance_scale, probe.num_inference_steps, probe.seed, sampler=probe.sampler,
                           real_forgotten=real_forgotten, attribute=attribute)

    def retained_quality(self, model, clf, real, quality) -> dict[str, float]:
        """Retained FD per guidance scale, the quality rule's measure. For an attribute: samples of every kept
        (class, value) condition, as many in all as the class audit's per class × classes, rounded up."""
        if self.attribute is None:
            from privgen.audit.unlearning.battery import measure_quality

            return measure_quality(model, clf, real, quality)
        from privgen.unlearn.evaluate_attribute import retained_attribute_fd

        target = self.target(model)
        kept_values = len(target.space.attributes[target.attribute].values) - 1
        return retained_attribute_fd(model, clf, real, target, n_per_condition=-(-quality.n_per_class // kept_values),
                                     guidance_scales=quality.guidance_scales,
                                     num_inference_steps=quality.num_inference_steps, seed=quality.seed,
                                     sampler=quality.sampler)

    def summary(self) -> dict[str, Any]:
        """The audit's config and metrics fields."""
        return {"forget_class": self.forget_class, "forget_attribute": self.attribute}
