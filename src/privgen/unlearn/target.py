"""What is forgotten: a class, or one value of one attribute (feature unlearning).

A target splits the training data into D_f (the images that show it) and D_r (the rest), and names the
condition rows of the model's embedding table that ask for it (`forgotten_rows`) and the full conditions
that stay (`kept_rows`: class and every attribute specified). Methods only see these, so one
implementation serves classes and attributes. For a class-only model and a class target the rows are
[c_f] and every other class, so nothing changes for class unlearning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from privgen.data.images import ImageDataset
from privgen.data.class_names import class_label
from privgen.data.splits import RetainForget
from privgen.diffusion.condition import NULL, ConditionSpace
from privgen.errors import UserError


@dataclass(frozen=True)
class ForgetTarget:
    space: ConditionSpace
    forget_class: int | None = None
    attribute: int | None = None    # attribute index k
    value: int | None = None        # value index of attribute k

    @classmethod
    def of_class(cls, space: ConditionSpace, c: int) -> "ForgetTarget":
        return cls(space, forget_class=c)

    @classmethod
    def of_attribute(cls, space: ConditionSpace, assignment: str) -> "ForgetTarget":
        if not space.attributes:
            raise UserError(f"--forget-attribute {assignment}: the model is conditioned on classes only, it has no "
                            "attribute to forget; train it on data with attributes (e.g. --data mnist5k-colour) or "
                            "use --forget CLASS")
        k, v = space.parse(assignment)
        return cls(space, attribute=k, value=v)

    @property
    def is_attribute(self) -> bool:
        return self.attribute is not None

    @property
    def attribute_name(self) -> str:
        return self.space.attributes[self.attribute].name

    @property
    def value_name(self) -> str:
        return self.space.attributes[self.attribute].values[self.value]

    def describe(self, class_names: tuple[str, ...] | None = None) -> str:
        """`colour=red`, or the class as `class_label` shows it (`class 3 "nine"`)."""
        return f"{self.attribute_name}={self.value_name}" if self.is_attribute else class_label(self.forget_class,
                                                                                                class_names)

    def record(self) -> dict:
        """The deletion record written to an unlearned model's config (`unlearning`)."""
        if self.is_attribute:
            return {"forget_attribute": {"name": self.attribute_name, "value": self.value_name}}
        return {"forget_class": self.forget_class}

    def mask(self, ds: ImageDataset) -> np.ndarray:
        """Which images of `ds` show the forgotten class or attribute value."""
        if self.is_attribute:
            return ds.attrs[:, self.attribute] == self.value
        return ds.y == self.forget_class

    def split(self, ds: ImageDataset) -> RetainForget:
        m = self.mask(ds)
        return RetainForget(ds.subset(np.flatnonzero(~m), f"{ds.name}-retain"),
                            ds.subset(np.flatnonzero(m), f"{ds.name}-forget"),
                            -1 if self.forget_class is None else self.forget_class)

    def _rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = np.arange(self.space.num_embeds)
        classes, attrs = self.space.decode(rows)
        full = (classes < self.space.num_classes) & np.all([a != NULL for a in attrs], axis=0)
        forgotten = attrs[self.attribute] == self.value if self.is_attribute else classes == self.forget_class
        return rows, full, forgotten

    def forgotten_rows(self) -> torch.Tensor:
        """Every condition that asks for the target (with other components specified or null)."""
        rows, _, forgotten = self._rows()
        return torch.from_numpy(rows[forgotten])

    def kept_rows(self) -> torch.Tensor:
        """Full conditions (class and every attribute given) that do not ask for the target."""
        rows, full, forgotten = self._rows()
        return torch.from_numpy(rows[full & ~forgotten])

    def full_rows(self) -> torch.Tensor:
        """Every full condition, forgotten or kept (what SA replays and weighs its Fisher on)."""
        rows, full, _ = self._rows()
        return torch.from_numpy(rows[full])
