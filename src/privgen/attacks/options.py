"""What `attack relearn --probe-every` measures: the forget-rate probe's options, checked before any work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from privgen import checks
from privgen.diffusion.solvers import DEFAULT_SAMPLER, get_solver, resolve_steps
from privgen.diffusion.store import DiffusionModel
from privgen.errors import UserError


@dataclass(frozen=True)
class ProbeOptions:
    """Probe every `every` steps with `n_per_class` samples of the forgotten class.

    The class is the evaluator's, not the attacker's: it comes from the model's deletion record, or
    `forget_class` for a model privgen did not unlearn (the attack itself never sees it)."""

    every: int
    n_per_class: int = 50
    guidance_scale: float = 3.0
    num_inference_steps: int | None = None
    forget_class: str | None = None
    sampler: str = DEFAULT_SAMPLER

    def check(self, steps: int) -> None:
        checks.positive_int("--probe-every", self.every)
        if self.every > steps:
            raise UserError(f"--probe-every {self.every} is more than --steps {steps}; the curve would have no "
                            "point inside the attack")
        checks.positive_int("--n-per-class", self.n_per_class)
        checks.finite_nonnegative("--guidance-scale", self.guidance_scale)
        get_solver(self.sampler)
        if self.num_inference_steps is not None:
            checks.ddim_steps("--num-inference-steps", self.num_inference_steps)

    def resolve(self, model: DiffusionModel):
        """What the probe measures (`privgen.audit.unlearning.forgotten.Forgotten`): --probe-class, else the
        deletion record, a class or an attribute value."""
        from privgen.attacks.aux import deleted_attribute, deletion_record
        from privgen.audit.unlearning.forgotten import Forgotten

        if self.forget_class is None and deleted_attribute(model.config):
            return Forgotten(attribute=deleted_attribute(model.config))
        c = self.forget_class if self.forget_class is not None else deletion_record(model.config)
        if c is None:
            raise UserError("--probe-every measures the forgotten class, but this model has no deletion record "
                            "(it was not unlearned by privgen); pass --probe-class")
        return Forgotten(forget_class=model.class_id(c, "--probe-class"))

    def steps_for(self, model: DiffusionModel) -> int:
        return resolve_steps(self.sampler, self.num_inference_steps, model.recipe.sample_steps)

    def as_config(self, model: DiffusionModel) -> dict[str, Any]:
        return {"every": self.every, "n_per_class": self.n_per_class, "guidance_scale": self.guidance_scale,
                "sampler": self.sampler, "num_inference_steps": self.steps_for(model)}


def probed_label(probe_config: dict[str, Any], class_names) -> str:
    """What a recorded probe measured, for reports: `colour=red`, or the class as `class_label` shows it."""
    from privgen.data.class_names import class_label

    return probe_config.get("forget_attribute") or class_label(probe_config["forget_class"], class_names)
