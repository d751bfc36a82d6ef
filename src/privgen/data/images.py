"""The in-memory image dataset every diffusion and evaluation path works on.

Images are float32 (N, C, H, W) in [-1, 1] (the diffusion convention), labels int64 in 0..K-1, and the
class names say what each label means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from privgen.errors import UserError


@dataclass(frozen=True)
class ImageDataset:
    name: str
    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.x.ndim != 4:
            raise ValueError(f"x must be (N, C, H, W), got shape {self.x.shape}")
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} images but y has {len(self.y)} labels")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray, name: str | None = None) -> "ImageDataset":
        return ImageDataset(name or self.name, self.x[index], self.y[index], self.class_names, dict(self.meta))

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
    return ImageDataset(ds.name, resize(ds.x, size), ds.y, ds.class_names, meta)
