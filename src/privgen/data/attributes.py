"""Image attributes that a fixed function can measure: how they are painted on, and how they are read back.

Feature unlearning is scored by measuring the attribute on generated images, not by a classifier that
could guess. Each attribute therefore has a generator (applied to real images to build the dataset) and
a measurement (applied to real or generated images), kept together so the tests check one against the
other:

- ``colour`` (mnist5k-colour): the digit is painted red, green or blue (pure primaries, the stroke's
  grey level scales the colour); measured by the circular mean hue of the stroke pixels, weighted by
  saturation x value, assigned to the nearest of the three hues. An image with no stroke pixel measures
  as NULL (counts as no value asked for).
- ``thick`` (mnist5k-style): half of each class is thickened by a 3x3 grey dilation; measured by stroke
  mass over skeleton length (the mean stroke width in pixels), thick when above the class median of the
  real images' widths at the same size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from privgen.data.images import Attribute, ImageDataset
from privgen.errors import UserError

NULL = -1
COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}
HUES = {"red": 0.0, "green": 1 / 3, "blue": 2 / 3}  # hue as a fraction of the circle
STROKE = 0.25     # a pixel belongs to the stroke when its brightest channel exceeds this (in [0, 1])
BINARY = 0.5      # grey level of the binary image that is skeletonised
GENERATOR_SEED = 0


def _unit(x: np.ndarray) -> np.ndarray:
    """[-1, 1] -> [0, 1]."""
    return np.clip((np.asarray(x, dtype=np.float32) + 1.0) / 2.0, 0.0, 1.0)


def balanced_values(y: np.ndarray, n_values: int, seed: int = GENERATOR_SEED) -> np.ndarray:
    """One value per image, each value equally often within every class, in a seeded random order."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        out[idx] = rng.permutation(np.arange(len(idx)) % n_values)
    return out


# --- colour -------------------------------------------------------------------------------------------

def paint(x: np.ndarray, values: np.ndarray, palette: tuple[str, ...] = tuple(COLOURS)) -> np.ndarray:
    """Grey (N, 1, H, W) images in [-1, 1] -> RGB (N, 3, H, W): the stroke's grey level times its colour."""
    grey = _unit(x)[:, 0]
    rgb = np.asarray([COLOURS[p] for p in palette], dtype=np.float32)[values]       # (N, 3)
    return (grey[:, None] * rgb[:, :, None, None]) * 2.0 - 1.0


def measure_hue(images: np.ndarray, palette: tuple[str, ...] = tuple(COLOURS)) -> np.ndarray:
    """Value index of the nearest palette hue to each image's stroke hue; NULL where no stroke is visible."""
    from matplotlib.colors import rgb_to_hsv

    rgb = _unit(images).transpose(0, 2, 3, 1)                                        # (N, H, W, 3)
    hsv = rgb_to_hsv(rgb)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    w = np.where(v > STROKE, s * v, 0.0)
    angle = 2 * np.pi * h
    cx, cy = (w * np.cos(angle)).sum((1, 2)), (w * np.sin(angle)).sum((1, 2))
    mean = (np.arctan2(cy, cx) / (2 * np.pi)) % 1.0
    targets = np.asarray([HUES[p] for p in palette])
    dist = np.abs(mean[:, None] - targets[None])
    dist = np.minimum(dist, 1.0 - dist)
    out = dist.argmin(1).astype(np.int64)
    out[w.sum((1, 2)) <= 1e-6] = NULL
    return out


# --- stroke thickness ---------------------------------------------------------------------------------

def thicken(x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Grey dilation (3x3) of the images whose value is 1 (thick); the others are left as they are."""
    out = np.array(x, dtype=np.float32, copy=True)
    for i in np.flatnonzero(values == 1):
        out[i, 0] = ndimage.grey_dilation(out[i, 0], size=(3, 3))
    return out


def _zhang_suen_pass(img: np.ndarray, first: bool) -> np.ndarray:
    """Pixels one Zhang-Suen sub-iteration deletes, for a batch of binary (N, H, W) images."""
    p = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    H, W = img.shape[1:]

    def nb(dy: int, dx: int) -> np.ndarray:
        return p[:, 1 + dy:1 + dy + H, 1 + dx:1 + dx + W]

    # P2..P9 clockwise from north
    ring = [nb(-1, 0), nb(-1, 1), nb(0, 1), nb(1, 1), nb(1, 0), nb(1, -1), nb(0, -1), nb(-1, -1)]
    b = sum(r.astype(np.int32) for r in ring)
    a = sum(((ring[i] == 0) & (ring[(i + 1) % 8] == 1)).astype(np.int32) for i in range(8))
    p2, p4, p6, p8 = ring[0], ring[2], ring[4], ring[6]
    if first:
        c1, c2 = p2 * p4 * p6, p4 * p6 * p8
    else:
        c1, c2 = p2 * p4 * p8, p2 * p6 * p8
    return (img == 1) & (b >= 2) & (b <= 6) & (a == 1) & (c1 == 0) & (c2 == 0)


def skeleton(binary: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of binary (N, H, W) images to one-pixel-wide skeletons."""
    img = np.asarray(binary, dtype=np.uint8).copy()
    while True:
        changed = False
        for first in (True, False):
            kill = _zhang_suen_pass(img, first)
            if kill.any():
                img[kill] = 0
                changed = True
        if not changed:
            return img


def stroke_width(images: np.ndarray) -> np.ndarray:
    """Mean stroke width in pixels: stroke mass (sum of grey levels) over skeleton length (pixels)."""
    grey = _unit(images).max(axis=1)                                                 # (N, H, W)
    length = skeleton(grey > BINARY).sum((1, 2))
    return grey.sum((1, 2)) / np.maximum(length, 1)


# --- measurement registry ---------------------------------------------------------------------------

@dataclass
class Measure:
    """Reads one attribute off images. `fit` sees the real training images (thresholds that depend on the
    data live here); `__call__` returns one value index (or NULL) per image, given the class asked for."""

    attribute: Attribute
    state: dict = field(default_factory=dict)

    def fit(self, ds: ImageDataset) -> "Measure":
        return self

    def __call__(self, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class HueMeasure(Measure):
    def __call__(self, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
        return measure_hue(images, self.attribute.values)


class ThicknessMeasure(Measure):
    def fit(self, ds: ImageDataset) -> "Measure":
        widths = stroke_width(ds.x)
        self.state["median"] = {int(c): float(np.median(widths[ds.y == c])) for c in np.unique(ds.y)}
        return self

    def __call__(self, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
        medians = np.asarray([self.state["median"][int(c)] for c in classes])
        return (stroke_width(images) > medians).astype(np.int64)


MEASURES: dict[str, type[Measure]] = {"hue": HueMeasure, "stroke-width": ThicknessMeasure}


def measure_for(ds: ImageDataset, name: str) -> Measure:
    """The fixed measurement of attribute `name` of dataset `ds`, fitted on `ds` (its real images)."""
    k = ds.attribute_index(name)
    kind = ds.meta.get("measures", {}).get(name)
    if kind is None:
        raise UserError(f"attribute {name!r} of {ds.name} has no fixed measurement (measured attributes: "
                        f"{', '.join(ds.meta.get('measures', {})) or 'none'}); the attribute benchmark needs one "
                        "(use mnist5k-colour or mnist5k-style)")
    return MEASURES[kind](ds.attributes[k]).fit(ds)


# --- the embedded attribute datasets ------------------------------------------------------------------

def colour_dataset(base: ImageDataset) -> ImageDataset:
    """mnist5k-colour: each digit painted one of three colours, balanced within every class."""
    values = balanced_values(base.y, len(COLOURS))
    attr = Attribute("colour", tuple(COLOURS))
    return ImageDataset(f"{base.name}-colour", paint(base.x, values).astype(np.float32), base.y, base.class_names,
                        {**base.meta, "measures": {"colour": "hue"}}, (attr,), values[:, None])


def style_dataset(base: ImageDataset) -> ImageDataset:
    """mnist5k-style: attribute `thick` (half of every class thickened by a 3x3 grey dilation)."""
    values = balanced_values(base.y, 2, seed=GENERATOR_SEED + 1)
    attr = Attribute("thick", ("0", "1"))
    return ImageDataset(f"{base.name}-style", thicken(base.x, values), base.y, base.class_names,
                        {**base.meta, "measures": {"thick": "stroke-width"}}, (attr,), values[:, None])


# The generator of each embedded attribute dataset, by its attribute names: what the audit applies to public
# digits so an attacker's public data carry the model's attributes (balanced within every class).
GENERATORS = {("colour",): colour_dataset, ("thick",): style_dataset}
