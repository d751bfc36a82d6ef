"""Option declarations shared by every command, so names, defaults and help read the same everywhere."""

from __future__ import annotations

from pathlib import Path

import typer

Seed = typer.Option(0, "--seed", help="Random seed; same seed + same device gives the same numbers.")
SplitSeed = typer.Option(0, "--split-seed", help="Seed of the train/test split (shared by every model on the data).")
Device = typer.Option("auto", "--device", help="auto (CUDA when present), cpu, or cuda[:N].")
Quiet = typer.Option(False, "--quiet", "-q", help="No progress bars.")
Overwrite = typer.Option(False, "--overwrite", help="Replace an existing run directory at --out.")
ImageSize = typer.Option(16, "--image-size", help="Square size the images are resized to (e.g. 8, 16, 28).")
Data = typer.Option("mnist5k", "--data", help="Embedded dataset name (privgen data list) or a path: .npz (x, y), "
                                               "MNIST IDX files, or a folder with one sub-folder per class.")


def out_dir(help: str = "Output run directory.") -> Path:
    return typer.Option(..., "--out", help=help)
