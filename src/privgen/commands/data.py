"""`privgen data ...`: list the embedded datasets and look at images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from privgen import checks
from privgen.commands.options import Alias, Seed, renamed
from privgen.data import REGISTRY, load_images
from privgen.data.class_names import class_list
from privgen.errors import UserError
from privgen.report import save_image_grid

app = typer.Typer(help="Datasets: the embedded ones and your own files.", no_args_is_help=True)


@app.command("list")
def list_datasets() -> None:
    """Name, kind, size, shape and classes of every embedded dataset."""
    table = Table("name", "kind", "size", "shape", "classes", "source")
    for entry in REGISTRY.values():
        try:
            info = describe(entry.loader())
        except UserError as e:  # e.g. the package that ships it is not installed: list it, say why
            table.add_row(entry.name, entry.kind, "-", "-", f"unavailable: {e}", entry.source)
            continue
        table.add_row(entry.name, entry.kind, f"{info['size']:,}", info["shape"], info["classes"], entry.source)
    Console().print(table)


def describe(ds: object) -> dict[str, str | int]:
    """A one-row summary of an image dataset or a table (tables bring their own `describe`)."""
    if hasattr(ds, "describe"):
        return ds.describe()  # type: ignore[no-any-return]
    names = ds.class_names  # type: ignore[attr-defined]
    classes = f"{len(names)}: {class_list(names)}" if len(names) <= 12 else f"{len(names)}"
    return {"size": len(ds), "shape": "x".join(map(str, ds.shape)), "classes": classes}  # type: ignore[arg-type]


@app.command("show")
def show(name: str = typer.Argument(..., help="Embedded dataset name or path to image data."),
         out: Path = typer.Option(..., "--out", help="PNG file to write."),
         n_per_class: int = typer.Option(None, "--n-per-class", help="Images per class, one row each (default 10)."),
         image_size: int = typer.Option(None, "--image-size", help="Resize to this square size first."),
         seed: int = Seed, per_class_old: int = Alias("--per-class", "--n-per-class")) -> None:
    """Write an image grid, one row per class."""
    per_class = checks.positive_int("--n-per-class", renamed("--n-per-class", n_per_class, "--per-class",
                                                             per_class_old, 10))
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out} must end in .png")
    ds = load_images(name, image_size)
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for c in range(ds.num_classes):
        idx = np.flatnonzero(ds.y == c)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False)
        rows.append(ds.x[np.sort(pick)])
        labels.append(ds.class_names[c])
    save_image_grid(rows, out, labels, title=f"{ds.name} ({len(ds)} images, {ds.shape[1]}x{ds.shape[2]})")
    print(f"wrote {out}")
