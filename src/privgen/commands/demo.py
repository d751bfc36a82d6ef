"""`privgen demo`: the README's main job."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Quiet


def demo(out: Path = typer.Option(Path("runs/demo"), "--out", help="Where the demo writes report.md, results.json (every number the report shows) and images."),
         from_scratch: bool = typer.Option(False, "--from-scratch", help="Use no shipped checkpoint: train the "
                                           "diffusion model, its oracle and both GANs here (2,800 s of one-thread training "
                                           "when the shipped ones were made), with the cache in OUT/cache."),
         quiet: bool = Quiet) -> None:
    """Unlearning and its reversal, VFL synthetic data, DP and its audit, from shipped models; writes report.md."""
    from privgen.demo import run_demo

    report = run_demo(out, quiet, from_scratch)
    print(report.read_text())
    print(f"report: {report}")
