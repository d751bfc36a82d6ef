"""The condition of a diffusion model: a class plus K attributes, each with its own null value.

The UNet keeps ONE class-embedding table (``num_class_embeds``), so the model stays a plain diffusers
``UNet2DModel``. A condition (class c, attribute values a_1..a_K) is one row of that table, indexed in
mixed radix with the class as the lowest digit:

    index = c + (C + 1) * (d_1 + (V_1 + 1) * (d_2 + ...)),   d_k = a_k + 1, or 0 when attribute k is null

and c = C when the class is null. So index c < C is "class c, every attribute null" and index C is "no
condition" for EVERY model: with K = 0 this is exactly the class-only model, and every path that asks
for a class by its id (previews, `eval generation`, the class benchmark) asks an attribute model for
that class with any attribute value. Every component can be null on its own (condition dropout per
component in training), so a model can be asked for a class with any colour, a colour in any class, or
nothing (index C, which classifier-free guidance uses as the unconditional prediction).
A joint table grows as (C+1)·Π(V_k+1); `MAX_EMBEDS` bounds it (pick the attributes that matter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from privgen.data.images import Attribute, ImageDataset
from privgen.errors import UserError

MAX_EMBEDS = 4096
NULL = -1  # an attribute value index meaning "not specified"


@dataclass(frozen=True)
class ConditionSpace:
    num_classes: int
    attributes: tuple[Attribute, ...] = ()

    def __post_init__(self) -> None:
        if self.num_embeds > MAX_EMBEDS:
            raise UserError(f"{self.num_classes} classes and {len(self.attributes)} attributes need "
                            f"{self.num_embeds} condition embeddings (more than {MAX_EMBEDS}); condition on fewer "
                            "attributes (--attributes NAME,NAME)")

    @property
    def radices(self) -> tuple[int, ...]:
        """Size of each component including its null: (C+1, V_1+1, ..., V_K+1)."""
        return (self.num_classes + 1, *(len(a.values) + 1 for a in self.attributes))

    @property
    def num_embeds(self) -> int:
        return math.prod(self.radices)

    @property
    def null(self) -> int:
        """Every component null: the unconditional row (C, as for a class-only model)."""
        return self.num_classes

    def attribute(self, name: str) -> int:
        names = [a.name for a in self.attributes]
        if name not in names:
            have = ", ".join(names) if names else "none: it is conditioned on classes only"
            raise UserError(f"the model has no attribute {name!r} (attributes: {have})")
        return names.index(name)

    def parse(self, assignment: str) -> tuple[int, int]:
        """'colour=red' -> (attribute index, value index); a malformed, unknown attribute or value is refused."""
        name, sep, value = assignment.partition("=")
        if not sep or not name or not value:
            raise UserError(f"--forget-attribute {assignment!r} must look like NAME=VALUE, e.g. colour=red")
        k = self.attribute(name.strip())
        return k, self.attributes[k].value_id(value.strip())

    def encode(self, classes, attrs=None):
        """Joint row index of classes (N,) (C = null) and attribute value indices (N, K) (NULL = -1)
        (numpy arrays or torch tensors)."""
        index = classes
        scale = self.num_classes + 1
        for k, a in enumerate(self.attributes):
            index = index + scale * (attrs[:, k] + 1)
            scale *= len(a.values) + 1
        return index

    def decode(self, index):
        """(classes, [a_1, ..., a_K]) of joint row indices (C / NULL where a component is null)."""
        classes = index % (self.num_classes + 1)
        index = index // (self.num_classes + 1)
        attrs = []
        for r in self.radices[1:]:
            attrs.append(index % r - 1)
            index = index // r
        return classes, attrs

    def labels_of(self, ds: ImageDataset) -> np.ndarray:
        """Each image's full condition (class and every attribute) as a row index."""
        if not self.attributes:
            return ds.y
        return self.encode(ds.y, ds.attrs).astype(np.int64)

    def with_attribute(self, y, k: int, value: int):
        """Rows `y` with attribute k set to `value` (a value index, or NULL), the other components unchanged."""
        scale = math.prod(self.radices[:k + 1])
        digit = (y // scale) % self.radices[k + 1]
        return y + scale * ((value + 1) - digit)

    def drop(self, y: torch.Tensor, p_uncond: float, generator: torch.Generator,
             keep: tuple[int, ...] = ()) -> torch.Tensor:
        """Condition dropout per component: each of class and attributes becomes its null with probability
        p_uncond, independently (components listed in `keep`, 0 = class, k+1 = attribute k, never). With
        K = 0 this draws exactly what dropping the class label draws."""
        draws = torch.rand((len(self.radices), *y.shape), generator=generator, device=generator.device) < p_uncond
        draws = draws.to(y.device)
        for k in keep:
            draws[k] = False
        out, scale = torch.zeros_like(y), 1
        for k, r in enumerate(self.radices):
            digit = (y // scale) % r
            null_digit = r - 1 if k == 0 else 0
            out = out + scale * torch.where(draws[k], torch.full_like(digit, null_digit), digit)
            scale *= r
        return out

    def name(self, row: int, class_names: tuple[str, ...] | list[str]) -> str:
        """A row in words, e.g. '3 colour=red' ('any' for a null class; null attributes are left out)."""
        c, attrs = self.decode(int(row))
        parts = [class_names[c] if c < self.num_classes else "any"]
        parts += [f"{a.name}={a.values[v]}" for a, v in zip(self.attributes, attrs) if v != NULL]
        return " ".join(parts)

    def to_config(self) -> list[dict]:
        return [{"name": a.name, "values": list(a.values)} for a in self.attributes]


def attributes_from_config(items) -> tuple[Attribute, ...]:
    return tuple(Attribute(str(d["name"]), tuple(str(v) for v in d["values"])) for d in (items or []))
