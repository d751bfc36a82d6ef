"""`privgen demo`: the README's main job."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Quiet


def demo(out: Path = typer.Option(Path("runs/demo"), "--out", help="Where the demo writes report.md, results.json (every number the report shows) and images."),
         quiet: bool = Quiet) -> None:
    """Run every pipeline on the embedded data (cached models are reused) and write report.md."""
    from privgen.demo import run_demo

    report = run_demo(out, quiet)
    print(report.read_text())
    print(f"report: {report}")
