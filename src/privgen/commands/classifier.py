"""`privgen classifier ...`: the evaluation classifier."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Data, Device, ImageSize, Overwrite, Quiet, Seed, SplitSeed
from privgen.errors import UserError
from privgen.eval.classifier_run import train_classifier_run
from privgen.eval.train_classifier import ClassifierRecipe

app = typer.Typer(help="The evaluation classifier (judge of generated images, feature space for FD).",
                  no_args_is_help=True)


@app.command("train")
def train(data: str = Data, image_size: int = ImageSize, seed: int = Seed, split_seed: int = SplitSeed,
          out: Path = typer.Option(..., "--out", help="Output run directory."),
          epochs: int = typer.Option(ClassifierRecipe.epochs, "--epochs", help="Training epochs."),
          device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet) -> None:
    """Train the evaluation CNN on the real training split; metrics.json gets test_accuracy."""
    if epochs <= 0:
        raise UserError(f"--epochs must be positive, got {epochs}")
    run = train_classifier_run(data, image_size, seed, out, split_seed=split_seed,
                               recipe=ClassifierRecipe(epochs=epochs), device=device, overwrite=overwrite, quiet=quiet)
    m = run.metrics
    print(f"test accuracy {m['test_accuracy']:.4f} on {m['n_test']} images "
          f"({m['train_seconds']:.0f} s); wrote {run.path}")
