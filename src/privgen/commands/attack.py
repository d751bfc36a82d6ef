"""`privgen attack relearn`: the DiMRA relearning attack on one model."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Device, Overwrite, Quiet, Seed

app = typer.Typer(help="Attacks on unlearned models (DiMRA relearning).", no_args_is_help=True)


@app.command("relearn")
def relearn(model: Path = typer.Option(..., "--model", help="Diffusion model directory to attack (e.g. an unlearned one)."),
            aux: str = typer.Option(..., "--aux", help="Attacker data: retain, generated, public or kshot."),
            steps: int = typer.Option(..., "--steps", help="Fine-tuning steps (the attack budget)."),
            out: Path = typer.Option(..., "--out", help="Output model directory (with checkpoints/step-N/)."),
            lr: float = typer.Option(1e-4, "--lr", help="Learning rate (constant)."),
            batch_size: int = typer.Option(64, "--batch-size", help="Batch size."),
            k: int = typer.Option(10, "--k", help="kshot: number of labelled images of the class."),
            kshot_class: str = typer.Option(None, "--kshot-class",
                                            help="kshot: their class (default: the model's deletion record)."),
            checkpoint_every: int = typer.Option(None, "--checkpoint-every",
                                                 help="Save a checkpoint every N steps (default: only the end)."),
            classifier: Path = typer.Option(None, "--classifier",
                                            help="generated: classifier run that judges the samples (default: cached)."),
            seed: int = Seed, device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet) -> None:
    """Fine-tune a released model on auxiliary data, without being told which class was forgotten."""
    from privgen.attacks import relearn_run

    run = relearn_run(model, aux, out, steps, lr, batch_size, seed, k, kshot_class, checkpoint_every, classifier,
                      device, overwrite, quiet)
    m = run.metrics
    print(f"relearn ({aux}, {m['n_aux']} images): {steps} steps in {m['attack_seconds']:.0f} s; aux loss "
          f"{m['aux_loss_before']:.4f} -> {m['aux_loss_after']:.4f}; wrote {run.path}")
