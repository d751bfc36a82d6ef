"""Option declarations shared by every command, so names, defaults and help read the same everywhere.

The vocabulary follows diffusers and opacus where they have a word: `--num-inference-steps` for sampler
steps (training and fine-tuning keep `--steps`), `--guidance-scale`, `--batch-size` (`--attack-batch-size`
where two batches meet), `--n-per-class` for generated images per class, `--device auto`. Options renamed
to fit keep their old spelling as a hidden alias for one release (`Alias` + `renamed`), with a warning.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TypeVar

import typer

from privgen.errors import UserError

T = TypeVar("T")

Seed = typer.Option(0, "--seed", help="Random seed (data order, initial weights, sampling noise); reruns can differ in float rounding.")
SplitSeed = typer.Option(0, "--split-seed", help="Seed of the train/test split (shared by every model on the data).")
Device = typer.Option("auto", "--device", help="auto (CUDA when present), cpu, or cuda[:N].")
Quiet = typer.Option(False, "--quiet", "-q", help="No progress output (bars or heartbeat lines).")
IdColumn = typer.Option(None, "--id-column", help="Column linking the parties' rows (with --party-file): once for "
                        "every file, or once per --party-file in the same order when the files name it differently.")
PartyFile = typer.Option(None, "--party-file", help="One CSV/Parquet per party (repeat); joined on --id-column "
                        "as `vfl train` joins them.")
Columns = typer.Option(None, "--columns", help="Comma-separated columns of one party (repeat per party), with --data.")
Overwrite = typer.Option(False, "--overwrite", help="Replace an existing run directory at --out.")
ImageSize = typer.Option(16, "--image-size", help="Square size the images are resized to (e.g. 8, 16, 28).")
Data = typer.Option("mnist5k", "--data", help="Embedded dataset name (privgen data list) or a path: .npz (x, y), "
                                               "MNIST IDX files, or a folder with one sub-folder per class.")

Sampler = typer.Option("dpmpp", "--sampler", help="Sampler: dpmpp (DPM-Solver++, the default, 15 steps) or ddim "
                                                   "(the recipe's steps); both clip the predicted x0.")

# The release after which the hidden aliases go.
ALIASES_UNTIL = "0.2"


def out_dir(help: str = "Output run directory.") -> Path:
    return typer.Option(..., "--out", help=help)


def Alias(old: str, new: str) -> Any:
    """A hidden option keeping a renamed option's old spelling working (see `renamed`)."""
    return typer.Option(None, old, hidden=True, help=f"Deprecated spelling of {new}.")


def warn_deprecated(old: str, new: str) -> None:
    """One line on stderr: scripts keep working, and their log says what to change."""
    print(f"warning: {old} is deprecated and goes in privgen {ALIASES_UNTIL}; use {new}", file=sys.stderr, flush=True)


def renamed(new: str, new_value: T | None, old: str, old_value: T | None, default: T) -> T:
    """The value of a renamed option: the new spelling, else the old one (with a warning), else `default`."""
    if old_value is None:
        return default if new_value is None else new_value
    if new_value is not None:
        raise UserError(f"{old} is the old spelling of {new}; give only {new}")
    warn_deprecated(old, new)
    return old_value
