"""Datasets: embedded defaults, user files, resizing and deterministic splits."""

from __future__ import annotations

from pathlib import Path

from privgen.data.embedded import REGISTRY, EmbeddedDataset
from privgen.data.files import load_image_file
from privgen.data.images import ImageDataset, resize, with_size
from privgen.data import tables as _tables  # noqa: F401  (registers the embedded tables)
from privgen.data.splits import RetainForget, TrainTest, class_index, retain_forget, train_test_split
from privgen import checks
from privgen.errors import UserError

__all__ = ["ImageDataset", "EmbeddedDataset", "REGISTRY", "load_images", "resize", "with_size",
           "train_test_split", "retain_forget", "class_index", "TrainTest", "RetainForget", "image_dataset_names"]


def image_dataset_names() -> list[str]:
    return [n for n, e in REGISTRY.items() if e.kind == "image"]


def load_images(source: str | Path, image_size: int | None = None) -> ImageDataset:
    """An embedded dataset by name, or a user file/folder by path; resized to `image_size` when given."""
    checks.image_size(image_size)
    key = str(source)
    entry = REGISTRY.get(key)
    if entry is not None:
        if entry.kind != "image":
            raise UserError(f"{key} is a {entry.kind} dataset, not an image dataset; image datasets: {', '.join(image_dataset_names())}")
        ds = entry.loader()
    elif Path(key).exists() or "/" in key or "." in key:
        ds = load_image_file(Path(key))
    else:
        raise UserError(f"unknown dataset {key!r}; embedded: {', '.join(sorted(REGISTRY))} (see `privgen data list`), "
                        "or pass a path to a .npz, IDX files or a class folder")
    return with_size(ds, image_size)
