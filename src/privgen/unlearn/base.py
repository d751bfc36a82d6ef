"""What every unlearning method sees, and the interface it implements.

A method is a small class: its options (a dataclass with the published defaults), an optional `prepare`
(saliency mask, Fisher, replay samples: work done once before fine-tuning) and `step`, which computes its
loss on one draw of data and calls backward. The shared loop (`loop.py`) owns the optimiser, masking,
clipping and logging, so no method re-implements training.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch
from diffusers import DDPMScheduler, UNet2DModel

from privgen.diffusion.condition import ConditionSpace
from privgen.diffusion.loss import denoising_loss


@dataclass
class UnlearnContext:
    """The model being unlearned (θ), the frozen pretrained copy (θ0), and the data split for c_f.

    For feature unlearning (an attribute model) labels are rows of the joint condition table
    (`privgen.diffusion.condition`), `forget_y` holds each forgotten image's own condition and `target`
    says which rows ask for what is forgotten; for a class-only model these are left unset."""

    unet: UNet2DModel
    teacher: UNet2DModel
    retain_x: torch.Tensor
    retain_y: torch.Tensor
    forget_x: torch.Tensor
    forget_class: int
    num_classes: int
    scheduler: DDPMScheduler
    generator: torch.Generator
    batch_size: int
    p_uncond: float
    grad_mask: dict[str, torch.Tensor] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    forget_y: torch.Tensor | None = None
    target: Any = None                       # privgen.unlearn.target.ForgetTarget, for an attribute model
    conditions: ConditionSpace | None = None

    @property
    def null_class(self) -> int:
        return self.num_classes

    def forgotten_rows(self) -> torch.Tensor:
        """Condition rows that ask for what is forgotten ([c_f] for a class-only model)."""
        if self.target is None:
            return torch.tensor([self.forget_class])
        return self.target.forgotten_rows()

    def kept_rows(self) -> torch.Tensor:
        """Full conditions that stay (every class but c_f for a class-only model), ascending."""
        if self.target is None:
            return torch.tensor([c for c in range(self.num_classes) if c != self.forget_class])
        return self.target.kept_rows()

    def full_rows(self) -> torch.Tensor:
        if self.target is None:
            return torch.arange(self.num_classes)
        return self.target.full_rows()

    def forget_labels(self, n: int) -> torch.Tensor:
        """n conditions that ask for what is forgotten: c_f itself when there is one such row (no random
        draw, as for classes), else rows drawn uniformly."""
        rows = self.forgotten_rows()
        if len(rows) == 1:
            return torch.full((n,), int(rows[0]), dtype=torch.long, device=self.device)
        return rows[torch.randint(0, len(rows), (n,), generator=self.generator)].to(self.device)

    @property
    def device(self) -> torch.device:
        return self.retain_x.device

    def draw(self, x: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """Indices of a batch drawn with replacement, from the context's generator (seeded, resumable)."""
        return torch.randint(0, len(x), (n or self.batch_size,), generator=self.generator).to(x.device)

    def retain_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        i = self.draw(self.retain_x)
        return self.retain_x[i], self.retain_y[i]

    def forget_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        i = self.draw(self.forget_x)
        if self.forget_y is not None:
            return self.forget_x[i], self.forget_y[i]
        return self.forget_x[i], torch.full((len(i),), self.forget_class, dtype=torch.long, device=self.device)

    def loss(self, unet: UNet2DModel, x: torch.Tensor, y: torch.Tensor, p_uncond: float | None = None) -> torch.Tensor:
        """The ordinary denoising loss L(x, y), with condition dropout unless told otherwise."""
        p = self.p_uncond if p_uncond is None else p_uncond
        return denoising_loss(unet, x, y, self.scheduler, self.generator, p, self.null_class,
                              conditions=self.conditions)

    def retain_loss(self) -> torch.Tensor:
        """L(D_r): keeps the retained classes (and, with condition dropout, the unconditional branch)."""
        return self.loss(self.unet, *self.retain_batch())


class Method(ABC):
    """Base class: subclasses set name/summary/Options and implement `step` (and `validate` when some
    option values only make sense for a given forgotten class)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Options: ClassVar[type]
    finetunes: ClassVar[bool] = True  # False only for the retrain oracle

    def __init__(self, options: Any) -> None:
        self.opt = options

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in fields(cls.Options)]

    def validate(self, forget_class: int, num_classes: int) -> None:
        """Refuse option values that cannot work for this class (a UserError), before anything is written.
        Default: every value the Options accept works."""

    def validate_attribute(self, target: Any) -> None:
        """The same check for an attribute target (`privgen.unlearn.target.ForgetTarget`). Default: nothing."""

    def prepare(self, ctx: UnlearnContext) -> None:
        """Work done once before fine-tuning (default: nothing)."""

    @abstractmethod
    def step(self, ctx: UnlearnContext) -> dict[str, float]:
        """Compute this method's loss on one draw of data, call backward, return the logged parts."""
