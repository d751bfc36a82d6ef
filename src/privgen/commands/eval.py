"""`privgen eval ...`: evaluate generated images."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from privgen.commands.options import Alias, Device, Overwrite, Quiet, Sampler, Seed, renamed

app = typer.Typer(help="Evaluate generative models.", no_args_is_help=True)


@app.command("generation")
def generation(model: Path = typer.Option(..., "--model", help="A trained diffusion run directory."),
               n_per_class: int = typer.Option(100, "--n-per-class", help="Generated images per class (>= 10)."),
               guidance_scale: float = typer.Option(3.0, "--guidance-scale", help="CFG scale s >= 0."),
               num_inference_steps: Optional[int] = typer.Option(None, "--num-inference-steps",
                                                                 help="Sampler steps (default: 15 for dpmpp, the "
                                                                      "recipe's 50 for ddim)."),
               sampler: str = Sampler,
               classifier: Optional[Path] = typer.Option(None, "--classifier", help="Evaluation classifier run "
                                                         "(default: trained once and cached)."),
               seed: int = Seed, out: Path = typer.Option(..., "--out", help="Output run directory."),
               device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet,
               steps_old: Optional[int] = Alias("--steps", "--num-inference-steps")) -> None:
    """Class accuracy (with 95% Wilson intervals) and Fréchet distance (vs real test images), per class and
    overall -> metrics.json, samples.png, report.md."""
    from privgen.data.class_names import classes_label
    from privgen.eval.generation import evaluate_generation

    steps = renamed("--num-inference-steps", num_inference_steps, "--steps", steps_old, None)
    run = evaluate_generation(model, out, n_per_class=n_per_class, guidance_scale=guidance_scale,
                              sampler=sampler, num_inference_steps=steps, seed=seed, classifier=classifier, device=device,
                              overwrite=overwrite, quiet=quiet)
    m = run.metrics
    lo, hi = m["class_accuracy"]["ci"]
    print(f"mean class accuracy {m['class_accuracy']['mean']:.4f} [95% CI {lo:.3f}, {hi:.3f}], FD (all classes) "
          f"{m['fd']['all']:.3f} ({n_per_class} images per class, guidance {guidance_scale}, {m['steps']} {m['sampler']} "
          f"steps); wrote {run.path}")
    if "forgotten" in m:
        f, r = m["forgotten"], m["retained"]
        print(f"forgotten {classes_label(f['class_ids'], list(m['class_accuracy']['per_class']))}: forget accuracy "
              f"{f['forget_accuracy']:.3f} [95% CI {f['forget_accuracy_ci'][0]:.3f}, {f['forget_accuracy_ci'][1]:.3f}]; "
              f"retained classes: class accuracy {r['class_accuracy']:.3f} [95% CI {r['class_accuracy_ci'][0]:.3f}, "
              f"{r['class_accuracy_ci'][1]:.3f}], FD {r['fd']:.3f}")
