"""`privgen eval ...`: evaluate generated images."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from privgen.commands.options import Device, Overwrite, Quiet, Seed

app = typer.Typer(help="Evaluate generative models.", no_args_is_help=True)


@app.command("generation")
def generation(model: Path = typer.Option(..., "--model", help="A trained diffusion run directory."),
               n_per_class: int = typer.Option(100, "--n-per-class", help="Generated images per class (>= 10)."),
               guidance_scale: float = typer.Option(3.0, "--guidance-scale", help="CFG scale s >= 0."),
               steps: Optional[int] = typer.Option(None, "--steps", help="DDIM steps (default: the recipe's)."),
               classifier: Optional[Path] = typer.Option(None, "--classifier", help="Evaluation classifier run "
                                                         "(default: trained once and cached)."),
               seed: int = Seed, out: Path = typer.Option(..., "--out", help="Output run directory."),
               device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet) -> None:
    """Class accuracy and Fréchet distance (vs real test images), per class and overall -> metrics.json."""
    from privgen.diffusion.evaluate import evaluate_generation

    run = evaluate_generation(model, out, n_per_class, guidance_scale, steps, seed, classifier, device, overwrite, quiet)
    m = run.metrics
    print(f"mean class accuracy {m['class_accuracy']['mean']:.4f}, FD (all classes) {m['fd']['all']:.3f} "
          f"({n_per_class} images per class, guidance {guidance_scale}); wrote {run.path}")
