"""The in-memory image dataset every diffusion and evaluation path works on.

Images are float32 (N, C, H, W) in [-1, 1] (the diffusion convention), labels int64 in 0..K-1, and the
class names say what each label means. A dataset may also carry attributes (colour, thickness, CelebA's
binary columns): `attributes` names each one and its values, `attrs` holds one value index per image and
attribute, (N, K) int64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from privgen.errors import UserError


@dataclass(frozen=True)
class Attribute:
    """One attribute of an image and the values it can take (a binary one: ("0", "1"))."""

    name: str
    values: tuple[str, ...]

    def value_id(self, value: str) -> int:
        """A value by name (binary attributes also accept CelebA's -1/+1); anything else names the valid ones."""
        v = {"-1": "0", "+1": "1"}.get(value, value) if self.values == ("0", "1") else value
        if v not in self.values:
            raise UserError(f"attribute {self.name} has no value {value!r}; its values: {', '.join(self.values)}")
        return self.values.index(v)


@dataclass(frozen=True)
class ImageDataset:
    name: str
    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    meta: dict = field(default_factory=dict, compare=False)
    attributes: tuple[Attribute, ...] = ()
    attrs: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.x.ndim != 4:
            raise ValueError(f"x must be (N, C, H, W), got shape {self.x.shape}")
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} images but y has {len(self.y)} labels")
        if self.attributes and (self.attrs is None or self.attrs.shape != (len(self.y), len(self.attributes))):
            shape = None if self.attrs is None else self.attrs.shape
            raise ValueError(f"attrs must be ({len(self.y)}, {len(self.attributes)}), got {shape}")

    def attribute_index(self, name: str) -> int:
        """The column of attribute `name`; an unknown name lists the dataset's attributes."""
        names = [a.name for a in self.attributes]
        if name not in names:
            have = ", ".join(names) if names else "none (it is conditioned on classes only)"
            raise UserError(f"unknown attribute {name!r} in {self.name}; its attributes: {have}")
        return names.index(name)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray, name: str | None = None) -> "ImageDataset":
        attrs = None if self.attrs is None else self.attrs[index]
        return ImageDataset(name or self.name, self.x[index], self.y[index], self.class_names, dict(self.meta),
                            self.attributes, attrs)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.y, minlength=self.num_classes)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.x), torch.from_numpy(self.y)


def to_unit_range(x: np.ndarray, max_value: float) -> np.ndarray:
    """Scale raw pixel values in [0, max_value] to [-1, 1] as float32."""
    return (np.asarray(x, dtype=np.float32) / float(max_value)) * 2.0 - 1.0


def resize(x: np.ndarray, size: int) -> np.ndarray:
    """Resize (N, C, H, W) images to size x size; antialiased so downsampling keeps strokes, clipped to [-1, 1]."""
    if size <= 0:
        raise UserError(f"image size must be a positive integer, got {size}; try 16 or 28")
    if x.shape[-2:] == (size, size):
        return x.astype(np.float32, copy=False)
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    out = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp_(-1.0, 1.0).numpy()


def with_size(ds: ImageDataset, size: int | None) -> ImageDataset:
    if size is None:
        return ds
    meta = {**ds.meta, "image_size": size}
    return ImageDataset(ds.name, resize(ds.x, size), ds.y, ds.class_names, meta, ds.attributes, ds.attrs)
