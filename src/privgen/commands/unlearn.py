"""`privgen unlearn run`: make a diffusion model forget a class; `privgen unlearn list`: the methods.

A bare `privgen unlearn` shows help, as every other group does. The old form `privgen unlearn --model ...`
(options on the group itself) still runs, hidden and with a deprecation warning, for one release.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from privgen import checks
from privgen.commands.options import Device, Overwrite, Quiet, Seed, warn_deprecated
from privgen.errors import UserError

app = typer.Typer(help="Unlearning: make a conditional diffusion model unable to generate a class.",
                  no_args_is_help=True, invoke_without_command=True)

EXAMPLE = "privgen unlearn run --model DIR --method dimum --forget 3 --out DIR2"
HELP = {
    "model": "Diffusion model directory to unlearn from.",
    "method": "Method name (privgen unlearn list).",
    "forget": "Class to forget (id or name).",
    "forget_attribute": "Attribute value to forget instead of a class, NAME=VALUE (e.g. colour=red).",
    "out": "Output model directory.",
    "steps": "Fine-tuning steps (default 100; retrain: the pretraining steps).",
    "lr": "Learning rate (default 2e-4).",
    "batch_size": "Batch size (default 64).",
    "alt": "dimum: alternative data: other-class, generated or noise.",
    "alt_class": "dimum: class of the alternative data: an id, next ((forgotten+1) mod C, the default) or random "
                 "(with --forget-attribute: the alternative value of that attribute, same words).",
    "option": "Any other method option as KEY=VALUE (repeatable).",
}


def _opt(name: str, flag: str, hidden: bool, default: object = None) -> typer.models.OptionInfo:
    return typer.Option(default, flag, help=HELP[name], hidden=hidden)


def _run(model: Optional[Path], method: Optional[str], forget: Optional[str], out: Optional[Path],
         steps: Optional[int], lr: Optional[float], batch_size: Optional[int], alt: Optional[str],
         alt_class: Optional[str], option: list[str], seed: int, device: str, overwrite: bool, quiet: bool,
         forget_attribute: Optional[str] = None) -> None:
    if forget is not None and forget_attribute is not None:
        raise UserError("give --forget (a class) or --forget-attribute (NAME=VALUE), not both")
    what = forget if forget is not None else forget_attribute
    missing = [f for f, v in (("--model", model), ("--method", method), ("--forget", what), ("--out", out)) if v is None]
    if missing:
        raise UserError(f"missing {', '.join(missing)}; e.g. {EXAMPLE}")
    from privgen.unlearn import unlearn as run_unlearn
    from privgen.unlearn.registry import coerce_options
    from privgen.unlearn.report import forgotten_words

    checks.resolve_device(device)
    if lr is not None:
        checks.finite_positive("--lr", lr)
    pairs = []
    for item in option:
        key, sep, raw = item.partition("=")
        if not sep:
            raise UserError(f"--option {item!r} must look like KEY=VALUE")
        pairs.append((key, raw))
    opts: dict[str, object] = {"alt": alt, "alt_class": alt_class, **coerce_options(method, pairs)}
    run = run_unlearn(model, method, forget, out, seed=seed, steps=steps, lr=lr, batch_size=batch_size,
                      options=opts, device=device, overwrite=overwrite, quiet=quiet, forget_attribute=forget_attribute)
    from privgen.parallel import current

    if not current().is_main:  # under accelerate launch: one summary, from the main process
        return
    m = run.metrics
    print(f"{m['method']}: forgot {forgotten_words(m, run.config.get('class_names'))} in {m['steps']} steps ({m['unlearn_seconds']:.0f} s); "
          f"wrote {run.path} (report: {run.path / 'report.md'})")


@app.callback()
def legacy(ctx: typer.Context,
           model: Optional[Path] = _opt("model", "--model", True), method: Optional[str] = _opt("method", "--method", True),
           forget: Optional[str] = _opt("forget", "--forget", True), out: Optional[Path] = _opt("out", "--out", True),
           forget_attribute: Optional[str] = _opt("forget_attribute", "--forget-attribute", True),
           steps: Optional[int] = _opt("steps", "--steps", True), lr: Optional[float] = _opt("lr", "--lr", True),
           batch_size: Optional[int] = _opt("batch_size", "--batch-size", True),
           alt: Optional[str] = _opt("alt", "--alt", True), alt_class: Optional[str] = _opt("alt_class", "--alt-class", True),
           option: list[str] = _opt("option", "--option", True, []),
           seed: int = typer.Option(0, "--seed", hidden=True), device: str = typer.Option("auto", "--device", hidden=True),
           overwrite: bool = typer.Option(False, "--overwrite", hidden=True),
           quiet: bool = typer.Option(False, "--quiet", "-q", hidden=True)) -> None:
    """Unlearning: make a conditional diffusion model unable to generate a class."""
    if ctx.invoked_subcommand is not None:
        return
    warn_deprecated("privgen unlearn --model ...", "privgen unlearn run --model ...")
    _run(model, method, forget, out, steps, lr, batch_size, alt, alt_class, option, seed, device, overwrite, quiet,
         forget_attribute)


@app.command("run")
def run(model: Optional[Path] = _opt("model", "--model", False), method: Optional[str] = _opt("method", "--method", False),
        forget: Optional[str] = _opt("forget", "--forget", False), out: Optional[Path] = _opt("out", "--out", False),
        forget_attribute: Optional[str] = _opt("forget_attribute", "--forget-attribute", False),
        steps: Optional[int] = _opt("steps", "--steps", False), lr: Optional[float] = _opt("lr", "--lr", False),
        batch_size: Optional[int] = _opt("batch_size", "--batch-size", False),
        alt: Optional[str] = _opt("alt", "--alt", False), alt_class: Optional[str] = _opt("alt_class", "--alt-class", False),
        option: list[str] = _opt("option", "--option", False, []),
        seed: int = Seed, device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet) -> None:
    """Unlearn one class (--forget 3) or attribute value (--forget-attribute colour=red): --model DIR --method dimum --out DIR2.

    The output is a model directory like any other, with log.jsonl, loss.png, a before/after grid and report.md.
    """
    _run(model, method, forget, out, steps, lr, batch_size, alt, alt_class, option, seed, device, overwrite, quiet,
         forget_attribute)


@app.command("list")
def list_methods() -> None:
    """The unlearning methods with a one-line description and their options."""
    from privgen.unlearn import METHODS

    table = Table("method", "what it minimises", "options (defaults)")
    for name, cls in METHODS.items():
        opts = ", ".join(f"{f.name}={f.default}" for f in fields(cls.Options)) or "-"
        table.add_row(name, cls.summary, opts)
    Console().print(table)
