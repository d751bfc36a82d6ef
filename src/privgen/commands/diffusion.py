"""`privgen diffusion ...`: train and sample class-conditional diffusion models."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from privgen.commands.options import Data, Device, Overwrite, Quiet, Seed, SplitSeed
from privgen.errors import UserError

app = typer.Typer(help="Class-conditional diffusion models (train, sample).", no_args_is_help=True)


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
          seed: int = Seed, split_seed: int = SplitSeed,
          out: Path = typer.Option(..., "--out", help="Run directory; an unfinished run there is resumed."),
          device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet) -> None:
    """Pretrain on the training split; resumes from the last checkpoint in --out."""
    from privgen.checks import resolve_device
    from privgen.diffusion.trainer import train as train_run

    resolve_device(device)
    run = train_run(data, out, recipe, image_size=image_size, steps=steps, seed=seed, split_seed=split_seed,
                    device=device, overwrite=overwrite, quiet=quiet)
    m = run.metrics
    loss = m.get("final_loss_mean_last100")
    print(f"trained {m['steps']} steps ({m['train_seconds']:.0f} s this session, loss "
          f"{'-' if loss is None else format(loss, '.4f')}); wrote {run.path} (diffusers folder: {run.path / 'unet'})")


@app.command("sample")
def sample(model: Path = typer.Option(..., "--model", help="A trained diffusion run directory."),
           classes: str = typer.Option("0,1,2,3,4,5,6,7,8,9", "--classes", help="Comma-separated class ids or names."),
           n: int = typer.Option(16, "--n", help="Images per class (one row per class)."),
           guidance_scale: float = typer.Option(3.0, "--guidance-scale", help="CFG scale s >= 0 (1 = conditional only)."),
           steps: int = typer.Option(50, "--steps", help="DDIM steps."),
           seed: int = Seed, out: Path = typer.Option(..., "--out", help="Output PNG grid."),
           device: str = Device, quiet: bool = Quiet) -> None:
    """Sample a grid with classifier-free guidance: one row per class."""
    from privgen.diffusion.sampler import check_sampling_args, sample as sample_fn
    from privgen.diffusion.store import load_model
    from privgen.report import save_image_grid
    from privgen.seeding import resolve_device

    names = parse_classes(classes)
    check_sampling_args(guidance_scale, steps, n)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out} must be a .png file")
    if out.is_dir():
        raise UserError(f"--out {out} is a directory; give a .png file name")
    m = load_model(model, resolve_device(device))
    ids = [m.class_id(c) for c in names]
    images = sample_fn(m, ids, n, guidance_scale, steps, seed, quiet=quiet)
    rows = [images[c].numpy() for c in ids]
    save_image_grid(rows, out, [m.class_names[c] for c in ids], title=f"guidance {guidance_scale}, {steps} DDIM steps")
    print(f"wrote {out} ({len(ids)} classes x {n} images)")
