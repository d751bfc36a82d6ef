"""User images with binary attributes: a folder of images plus a CSV in CelebA's `list_attr` layout.

The CSV's header names the file column and then one column per attribute; each row is a file name and
one value per attribute: +1 / 1 (present) or -1 / 0 (absent), as CelebA writes them. Images may sit in
the folder itself (one class, named after the folder) or in one sub-folder per class; rows match images
by file name. Keep only the attribute columns to condition on: the model embeds every combination.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from privgen.data.files import IMAGE_SUFFIXES, read_images
from privgen.data.images import Attribute, ImageDataset
from privgen.errors import UserError

CSV_NAMES = ("attributes.csv", "list_attr.csv", "list_attr_celeba.csv")
VALUES = {"1": 1, "+1": 1, "-1": 0, "0": 0}


def attribute_csv(folder: Path) -> Path | None:
    """The folder's attribute table, when it has one (attributes.csv or list_attr*.csv)."""
    found = [folder / n for n in CSV_NAMES if (folder / n).is_file()]
    return found[0] if found else None


def _image_files(folder: Path) -> tuple[list[Path], list[int], tuple[str, ...]]:
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        return files, [0] * len(files), (folder.name,)
    files, labels = [], []
    for label, cdir in enumerate(classes):
        found = sorted(p for p in cdir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [label] * len(found)
    return files, labels, tuple(c.name for c in classes)


def read_attribute_table(table: Path) -> tuple[list[str], dict[str, list[int]]]:
    """(attribute names, {file name: [0/1 per attribute]}); every malformed cell is a one-line refusal."""
    with open(table, newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        raise UserError(f"{table} is empty; its first row names the file column and the attributes")
    header = [c.strip() for c in rows[0]]
    names = header[1:]
    if not names:
        raise UserError(f"{table}: the header names no attribute column (after the file column); add one "
                        "column per attribute with +1/-1 values")
    if len(set(names)) != len(names):
        raise UserError(f"{table}: attribute columns repeat a name; give each column its own name")
    values: dict[str, list[int]] = {}
    for line, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row]
        if len(cells) != len(header):
            raise UserError(f"{table} line {line}: {len(cells) - 1} attribute values but the header names "
                            f"{len(names)} attributes ({', '.join(names)}); a column is missing")
        bad = [(n, c) for n, c in zip(names, cells[1:]) if c not in VALUES]
        if bad:
            raise UserError(f"{table} line {line}: {bad[0][0]}={bad[0][1]!r}; attribute values must be +1/-1 "
                            "(CelebA) or 1/0")
        values[Path(cells[0]).name] = [VALUES[c] for c in cells[1:]]
    return names, values


def load_attribute_folder(folder: Path, table: Path) -> ImageDataset:
    names, values = read_attribute_table(table)
    files, labels, classes = _image_files(folder)
    if not files:
        raise UserError(f"{folder}: no images next to {table.name} ({', '.join(sorted(IMAGE_SUFFIXES))})")
    matched = [f.name in values for f in files]
    if not all(matched) or len(values) != len(files):
        raise UserError(f"{table.name} and the images of {folder} do not match: {sum(matched)} of {len(files)} "
                        f"images have a row ({len(values)} rows); give every image exactly one row, by file name")
    attrs = np.asarray([values[f.name] for f in files], dtype=np.int64)
    return ImageDataset(folder.name, read_images(files, folder), np.asarray(labels, dtype=np.int64), classes,
                        {"source": str(folder), "attributes_csv": str(table)},
                        tuple(Attribute(n, ("0", "1")) for n in names), attrs)
