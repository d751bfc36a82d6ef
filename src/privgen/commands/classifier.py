"""`privgen classifier ...`: the evaluation classifier."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen import checks
from privgen.commands.options import Data, Device, ImageSize, Overwrite, Quiet, Seed, SplitSeed
from privgen.eval.classifier_run import train_classifier_run
from privgen.eval.train_classifier import ClassifierRecipe

app = typer.Typer(help="The evaluation classifier (judge of generated images, feature space for FD).",
                  no_args_is_help=True)


@app.command("train")
def train(data: str = Data, image_size: int = ImageSize, seed: int = Seed, split_seed: int = SplitSeed,
          out: Path = typer.Option(..., "--out", help="Output run directory."),
          epochs: int = typer.Option(ClassifierRecipe.epochs, "--epochs", help="Training epochs."),
          batch_size: int = typer.Option(ClassifierRecipe.batch_size, "--batch-size", help="Images per step."),
          device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet) -> None:
    """Train the evaluation CNN on the real training split; metrics.json gets test_accuracy.

    The run directory also gets log.jsonl (losses), loss.png and report.md.
    """
    checks.positive_int("--epochs", epochs)
    checks.positive_int("--batch-size", batch_size)
    checks.resolve_device(device)
    run = train_classifier_run(data, image_size, seed, out, split_seed=split_seed,
                               recipe=ClassifierRecipe(epochs=epochs, batch_size=batch_size), device=device,
                               overwrite=overwrite, quiet=quiet)
    m = run.metrics
    print(f"test accuracy {m['test_accuracy']:.4f} on {m['n_test']} images "
          f"({m['train_seconds']:.0f} s); wrote {run.path}")
