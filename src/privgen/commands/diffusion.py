"""`privgen diffusion ...`: train and sample class-conditional diffusion models."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from privgen.commands.options import Alias, Data, Device, Overwrite, Quiet, Sampler, Seed, SplitSeed, renamed
from privgen.errors import UserError

app = typer.Typer(help="Class-conditional diffusion models (train, sample).", no_args_is_help=True)

SAMPLE_SUFFIXES = (".png", ".npz")


def parse_classes(text: str) -> list[str]:
    items = [c.strip() for c in text.split(",") if c.strip()]
    if not items:
        raise UserError(f"--classes {text!r} names no class; give ids like 0,3")
    return items


@app.command("train")
def train(data: str = Data,
          image_size: Optional[int] = typer.Option(None, "--image-size", help="Image size (default: the recipe's)."),
          recipe: str = typer.Option("cpu16", "--recipe", help="Named recipe: cpu16 (default CPU), gpu28, demo16, tiny8."),
          steps: Optional[int] = typer.Option(None, "--steps", help="Total training steps (default: the recipe's)."),
          batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Images per step (default: the recipe's)."),
          seed: int = Seed, split_seed: int = SplitSeed,
          out: Path = typer.Option(..., "--out", help="Run directory; an unfinished run there is resumed."),
          device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet) -> None:
    """Pretrain on the training split; resumes from the last checkpoint in --out.

    Writes log.jsonl (losses), loss.png, a sample grid per checkpoint (samples/) and report.md. Data-parallel
    on N processes with `accelerate launch ... -m privgen diffusion train ...` (docs/scale.md).
    """
    from privgen.checks import optional_positive_int, resolve_device
    from privgen.diffusion.trainer import train as train_run

    resolve_device(device)
    optional_positive_int("--batch-size", batch_size)
    from privgen.parallel import current

    run = train_run(data, out, recipe, image_size=image_size, steps=steps, seed=seed, split_seed=split_seed,
                    device=device, overwrite=overwrite, quiet=quiet, batch_size=batch_size)
    if not current().is_main:  # under accelerate launch: one summary, from the main process
        return
    m = run.metrics
    loss = m.get("final_loss_mean_last100")
    print(f"trained {m['steps']} steps ({m['train_seconds']:.0f} s this session, loss "
          f"{'-' if loss is None else format(loss, '.4f')}); wrote {run.path} (report: {run.path / 'report.md'})")


@app.command("sample")
def sample(model: Path = typer.Option(..., "--model", help="A trained diffusion run directory."),
           classes: Optional[str] = typer.Option(None, "--classes", help="Comma-separated class names or ids "
                                                   "(default: every class of the model)."),
           n_per_class: Optional[int] = typer.Option(None, "--n-per-class",
                                                     help="Images per class, one row per class (default 16)."),
           guidance_scale: float = typer.Option(3.0, "--guidance-scale", help="CFG scale s >= 0 (1 = conditional only)."),
           num_inference_steps: Optional[int] = typer.Option(None, "--num-inference-steps",
                                                             help="Sampler steps (default: 15 for dpmpp, the "
                                                                  "recipe's 50 for ddim)."),
           sampler: str = Sampler, seed: int = Seed,
           out: Path = typer.Option(..., "--out", help="Output: a .png grid, or an .npz with x (N, C, H, W in [-1, 1]) "
                                                       "and y (class ids) plus a .png grid beside it."),
           device: str = Device, quiet: bool = Quiet,
           n_old: Optional[int] = Alias("--n", "--n-per-class"),
           steps_old: Optional[int] = Alias("--steps", "--num-inference-steps")) -> None:
    """Sample with classifier-free guidance: one row per class."""
    from privgen.diffusion.model import apply_threads
    from privgen.diffusion.sampler import check_sampling_args, sample as sample_fn
    from privgen.diffusion.solvers import describe, resolve_steps
    from privgen.diffusion.store import load_model
    from privgen.report import save_image_grid
    from privgen.checks import resolve_device

    n = renamed("--n-per-class", n_per_class, "--n", n_old, 16)
    steps = renamed("--num-inference-steps", num_inference_steps, "--steps", steps_old, None)
    names = parse_classes(classes) if classes is not None else []
    check_sampling_args(guidance_scale, steps, n, sampler)
    if out.suffix.lower() not in SAMPLE_SUFFIXES:
        raise UserError(f"--out {out} must be a .png grid or an .npz of arrays")
    if out.is_dir():
        raise UserError(f"--out {out} is a directory; give a .png or .npz file name")
    dev = resolve_device(device)
    m = load_model(model, dev)
    apply_threads(m.recipe, dev)
    ids = [m.class_id(c, "--classes") for c in names] if names else list(range(m.num_classes))
    steps = resolve_steps(sampler, steps, m.recipe.sample_steps)
    images = sample_fn(m, ids, n, guidance_scale=guidance_scale, sampler=sampler, num_inference_steps=steps, seed=seed,
                       quiet=quiet)
    rows = [images[c].numpy() for c in ids]
    title = f"guidance {guidance_scale}, {describe(sampler, steps)}"
    if out.suffix.lower() == ".npz":
        png = write_arrays(rows, ids, out, [m.class_names[c] for c in ids], title)
        print(f"wrote {out} ({len(ids)} classes x {n} images) and {png}")
        return
    save_image_grid(rows, out, [m.class_names[c] for c in ids], title=title)
    print(f"wrote {out} ({len(ids)} classes x {n} images)")


def write_arrays(rows: list, ids: list[int], out: Path, names: list[str], title: str) -> Path:
    """x (N, C, H, W) float32 in [-1, 1] and y (N,) class ids, as `vfl generate` writes images; a grid beside."""
    import numpy as np

    from privgen.report import save_image_grid
    from privgen.runs import atomic_write_npz

    x = np.concatenate(rows).astype(np.float32)
    y = np.repeat(np.asarray(ids, dtype=np.int64), [len(r) for r in rows])
    atomic_write_npz(out, x=x, y=y)
    return save_image_grid(rows, out.with_suffix(".png"), names, title=title)
