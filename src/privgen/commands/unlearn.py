"""`privgen unlearn`: make a diffusion model forget a class; `privgen unlearn list`: the methods."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from privgen.commands.options import Device, Overwrite, Quiet, Seed
from privgen import checks
from privgen.errors import UserError

app = typer.Typer(help="Unlearning: make a conditional diffusion model unable to generate a class.",
                  invoke_without_command=True)


def _coerce(method: str, key: str, raw: str):
    from privgen.unlearn import get_method

    types = {f.name: f.type for f in fields(get_method(method).Options)}
    kind = types.get(key, "str")
    try:
        value = {"float": float, "int": int}.get(str(kind), str)(raw)
    except ValueError:
        raise UserError(f"--option {key}={raw}: expected a {kind}") from None
    if isinstance(value, float):
        checks.finite(f"--option {key}", value)
    return value


@app.callback()
def unlearn(ctx: typer.Context,
            model: Path = typer.Option(None, "--model", help="Diffusion model directory to unlearn from."),
            method: str = typer.Option(None, "--method", help="Method name (privgen unlearn list)."),
            forget: str = typer.Option(None, "--forget", help="Class to forget (id or name)."),
            out: Path = typer.Option(None, "--out", help="Output model directory."),
            steps: int = typer.Option(None, "--steps", help="Fine-tuning steps (default 100; retrain: the pretraining steps)."),
            lr: float = typer.Option(None, "--lr", help="Learning rate (default 2e-4)."),
            batch_size: int = typer.Option(None, "--batch-size", help="Batch size (default 64)."),
            alt: str = typer.Option(None, "--alt", help="dimum: alternative data: other-class, generated or noise."),
            alt_class: str = typer.Option(None, "--alt-class", help="dimum: class of the alternative data: an id, next ((forgotten+1) mod C, the default) or random."),
            option: list[str] = typer.Option([], "--option", help="Any other method option as KEY=VALUE (repeatable)."),
            seed: int = Seed, device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet) -> None:
    """Unlearn one class: privgen unlearn --model DIR --method dimum --forget 3 --out DIR2."""
    if ctx.invoked_subcommand is not None:
        return
    missing = [f for f, v in (("--model", model), ("--method", method), ("--forget", forget), ("--out", out)) if v is None]
    if missing:
        raise UserError(f"missing {', '.join(missing)}; e.g. privgen unlearn --model DIR --method dimum --forget 3 --out DIR2")
    from privgen.unlearn import unlearn as run_unlearn

    checks.resolve_device(device)
    if lr is not None:
        checks.finite_positive("--lr", lr)

    opts: dict[str, object] = {"alt": alt, "alt_class": alt_class}
    for item in option:
        key, sep, raw = item.partition("=")
        if not sep:
            raise UserError(f"--option {item!r} must look like KEY=VALUE")
        opts[key.replace("-", "_")] = _coerce(method, key.replace("-", "_"), raw)
    run = run_unlearn(model, method, forget, out, seed=seed, steps=steps, lr=lr, batch_size=batch_size,
                      options=opts, device=device, overwrite=overwrite, quiet=quiet)
    m = run.metrics
    print(f"{m['method']}: forgot class {m['forget_class']} in {m['steps']} steps ({m['unlearn_seconds']:.0f} s); "
          f"wrote {run.path}")


@app.command("list")
def list_methods() -> None:
    """The unlearning methods with a one-line description and their options."""
    from privgen.unlearn import METHODS

    table = Table("method", "what it minimises", "options (defaults)")
    for name, cls in METHODS.items():
        opts = ", ".join(f"{f.name}={f.default}" for f in fields(cls.Options)) or "-"
        table.add_row(name, cls.summary, opts)
    Console().print(table)
