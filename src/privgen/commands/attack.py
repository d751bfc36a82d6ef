"""`privgen attack relearn`: the DiMRA relearning attack on one model."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from privgen.commands.options import Device, Overwrite, Quiet, Sampler, Seed

app = typer.Typer(help="Attacks on unlearned models (DiMRA relearning).", no_args_is_help=True)


@app.command("relearn")
def relearn(model: Path = typer.Option(..., "--model", help="Diffusion model directory to attack (e.g. an unlearned one)."),
            aux: str = typer.Option(..., "--aux", help="Attacker data: retain, generated, public, "
                                          "public-without (public minus the deleted class) or kshot."),
            steps: int = typer.Option(..., "--steps", help="Fine-tuning steps (the attack budget)."),
            out: Path = typer.Option(..., "--out", help="Output model directory (with checkpoints/step-N/)."),
            lr: float = typer.Option(1e-4, "--lr", help="Learning rate (constant)."),
            batch_size: int = typer.Option(64, "--batch-size", help="Batch size."),
            k: int = typer.Option(10, "--k", help="kshot: number of labelled images of the class."),
            kshot_class: str = typer.Option(None, "--kshot-class",
                                            help="kshot: their class (default: the model's deletion record)."),
            checkpoint_every: int = typer.Option(None, "--checkpoint-every",
                                                 help="Save a checkpoint every N steps (default: only the end)."),
            probe_every: Optional[int] = typer.Option(None, "--probe-every",
                                                      help="Measure the forget rate every N steps (and at 0 and the "
                                                           "end): relearn_curve.png and the curve in metrics.json."),
            probe_class: Optional[str] = typer.Option(None, "--probe-class",
                                                      help="Probe: the forgotten class (default: the model's deletion "
                                                           "record; the attack itself never sees it)."),
            n_per_class: int = typer.Option(50, "--n-per-class", help="Probe: samples of the class per point."),
            guidance_scale: float = typer.Option(3.0, "--guidance-scale", help="Probe: CFG scale of its samples."),
            num_inference_steps: Optional[int] = typer.Option(None, "--num-inference-steps",
                                                              help="Probe: sampler steps (default: the sampler's)."),
            sampler: str = Sampler,
            classifier: Path = typer.Option(None, "--classifier",
                                            help="generated / probe: classifier run that judges the samples "
                                                 "(default: cached)."),
            seed: int = Seed, device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet) -> None:
    """Fine-tune a released model on auxiliary data, without being told which class was forgotten."""
    from privgen.attacks import relearn_run
    from privgen.attacks.options import ProbeOptions

    probe = None if probe_every is None else ProbeOptions(probe_every, n_per_class, guidance_scale,
                                                          num_inference_steps, probe_class, sampler)
    run = relearn_run(model, aux, out, steps=steps, lr=lr, batch_size=batch_size, seed=seed, k=k,
                      kshot_class=kshot_class, checkpoint_every=checkpoint_every, classifier=classifier, probe=probe,
                      device=device, overwrite=overwrite, quiet=quiet)
    from privgen.parallel import current

    if not current().is_main:  # under accelerate launch: one summary, from the main process
        return
    m = run.metrics
    curve = ""
    if "relearn_curve" in m:
        first, last = m["relearn_curve"][0], m["relearn_curve"][-1]
        from privgen.attacks.options import probed_label

        what = probed_label(run.config["attack"]["probe"], run.config.get("class_names"))
        curve = f"; forget rate of {what} {first['forget_acc']:.0%} -> {last['forget_acc']:.0%}"
    print(f"relearn ({aux}, {m['n_aux']} images): {steps} steps in {m['attack_seconds']:.0f} s; aux loss "
          f"{m['aux_loss_before']:.4f} -> {m['aux_loss_after']:.4f}{curve}; wrote {run.path} (report: "
          f"{run.path / 'report.md'})")
