"""Samplers by name: diffusers schedulers that turn guided noise predictions into images.

Both keep the predicted x0 inside [-1, 1] and take the next step from that clipped x0, the property that made
guidance work (docs/diffusion.md, "What mattered"):

- ``ddim``: deterministic DDIM with ``clip_sample`` and the noise re-derived from the clipped x0.
- ``dpmpp``: DPM-Solver++ (2nd-order multistep, diffusers' ``DPMSolverMultistepScheduler``). It works in the
  data (x0) prediction, so the update uses the clipped x0 directly; diffusers' thresholding with
  ``sample_max_value=1`` is exactly a clip to [-1, 1] (the dynamic quantile is clamped to 1).

A multistep solver keeps the last model outputs as state, so a fresh scheduler is made for every batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from diffusers import DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from privgen import checks
from privgen.diffusion.schedule import BETA_END, BETA_START, TRAIN_TIMESTEPS, ddim_step, sampling_scheduler
from privgen.errors import UserError


def dpmpp_scheduler(steps: int) -> DPMSolverMultistepScheduler:
    """DPM-Solver++(2M) on the training schedule, x0 clipped to [-1, 1], first-order last steps (stable at
    few steps), ending at sigma 0 like DDIM's last step."""
    s = DPMSolverMultistepScheduler(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule="linear",
                                    beta_start=BETA_START, beta_end=BETA_END, prediction_type="epsilon",
                                    algorithm_type="dpmsolver++", solver_order=2, thresholding=True,
                                    sample_max_value=1.0, lower_order_final=True, final_sigmas_type="zero",
                                    timestep_spacing="trailing")
    s.set_timesteps(steps)
    return s


def _plain_step(sched: SchedulerMixin, eps: torch.Tensor, t: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
    return sched.step(eps, t, x).prev_sample


@dataclass(frozen=True)
class Solver:
    name: str
    label: str                                  # how reports name it: "15 DPM-Solver++ steps"
    make: Callable[[int], SchedulerMixin]       # steps -> a scheduler with its timesteps set
    step: Callable[..., torch.Tensor]           # (scheduler, eps, t, x) -> x at the next timestep
    default_steps: int | None                   # None: the recipe's sample_steps (what DDIM was tuned with)


# dpmpp's default steps: the fewest whose class accuracy and FD matched DDIM-50 on cpu16 (docs/diffusion.md).
DPMPP_STEPS = 15
SOLVERS: dict[str, Solver] = {
    "ddim": Solver("ddim", "DDIM", sampling_scheduler, ddim_step, None),
    "dpmpp": Solver("dpmpp", "DPM-Solver++", dpmpp_scheduler, _plain_step, DPMPP_STEPS),
}
DEFAULT_SAMPLER = "dpmpp"


def get_solver(name: str) -> Solver:
    if name not in SOLVERS:
        raise UserError(f"--sampler {name!r} is not a sampler; choose one of {', '.join(SOLVERS)}")
    return SOLVERS[name]


def resolve_steps(sampler: str, num_inference_steps: int | None, recipe_steps: int) -> int:
    """The steps a sampler runs with: the given number, else the solver's measured default, else the recipe's."""
    solver = get_solver(sampler)
    steps = num_inference_steps if num_inference_steps is not None else (solver.default_steps or recipe_steps)
    return checks.ddim_steps("--num-inference-steps (sampler steps)", steps)


def describe(sampler: str, steps: int) -> str:
    """`15 DPM-Solver++ steps`: the words every report and grid title uses for a sampling setting."""
    return f"{steps} {get_solver(sampler).label} steps"
