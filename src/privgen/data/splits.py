"""Deterministic, seeded splits: train/test (stratified) and retain/forget for one class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privgen.data.images import ImageDataset
from privgen.data.class_names import resolve_class
from privgen.errors import UserError


@dataclass(frozen=True)
class TrainTest:
    train: ImageDataset
    test: ImageDataset


@dataclass(frozen=True)
class RetainForget:
    """D_r (every class but the forgotten one) and D_f (the forgotten class only)."""

    retain: ImageDataset
    forget: ImageDataset
    forget_class: int


def train_test_split(ds: ImageDataset, test_fraction: float = 0.2, seed: int = 0) -> TrainTest:
    """Stratified split: each class contributes the same share to the test set, chosen by `seed`."""
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for c in range(ds.num_classes):
        idx = np.flatnonzero(ds.y == c)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_fraction))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    tr = np.sort(np.concatenate(train_idx))
    te = np.sort(np.concatenate(test_idx))
    return TrainTest(ds.subset(tr, f"{ds.name}-train"), ds.subset(te, f"{ds.name}-test"))


def class_index(ds: ImageDataset, cls: int | str) -> int:
    return resolve_class(cls, ds.class_names, ds.name)


def retain_forget(ds: ImageDataset, forget_class: int | str) -> RetainForget:
    c = class_index(ds, forget_class)
    mask = ds.y == c
    return RetainForget(ds.subset(np.flatnonzero(~mask), f"{ds.name}-retain"),
                        ds.subset(np.flatnonzero(mask), f"{ds.name}-forget"), c)
