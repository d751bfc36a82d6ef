"""`privgen bench audit`: shadow-model training speed, 1 worker against every core; with `--dp`, the one-run
DP audit's power on planted bugs, its verdicts, and its cost against the shadow audit."""

from __future__ import annotations

from pathlib import Path

import typer

import os

from privgen.commands.options import Overwrite, Quiet, Seed


def audit(out: Path = typer.Option(..., "--out", help="Directory for bench.json."),
          models: int = typer.Option(8, "--models", help="Shadow models timed per setting (even)."),
          iterations: int = typer.Option(200, "--iterations", help="Generator iterations per model."),
          max_rows: int = typer.Option(5000, "--max-rows", help="Training rows of Adult used."),
          workers: int = typer.Option(0, "--workers", help="Workers of the parallel setting (0: every core)."),
          dp: bool = typer.Option(False, "--dp", help="Instead: the one-run DP audit's rows (planted bugs, correct "
                                  "sound mode, the paper mechanism); report.md and metrics.json in --out."),
          seeds: int = typer.Option(5, "--seeds", help="--dp: runs of each correct-mechanism row."),
          canaries: int = typer.Option(500, "--canaries", help="--dp: input canaries per audit."),
          gradient_canaries: int = typer.Option(1000, "--gradient-canaries", help="--dp: gradient canaries per audit."),
          cost: bool = typer.Option(False, "--cost", help="--dp: also time a K = 50 shadow audit against a one-run "
                                    "audit on the same data and budget (100 iterations per model)."),
          size: str = typer.Option("tiny", "--size", help="--dp: network sizes."),
          overwrite: bool = Overwrite, quiet: bool = Quiet,
          seed: int = Seed) -> None:
    """Time the same shadow models on 1 worker and on every core; write the speed-up to bench.json."""
    import json

    from privgen import checks
    from privgen.bench.audit import shadow_speed
    from privgen.errors import UserError
    from privgen.runs import atomic_write_json

    if dp:
        from privgen.bench.audit_dp import run_audit_bench

        report = run_audit_bench(out, seeds=seeds, canaries=canaries, gradient_canaries=gradient_canaries,
                                 iterations=iterations, size=size, max_rows=max_rows,
                                 workers=workers or os.cpu_count() or 1, cost=cost, overwrite=overwrite, quiet=quiet)
        print(report.read_text())
        print(f"report: {report}")
        return
    checks.positive_int("--models", models, minimum=2)
    checks.positive_int("--iterations", iterations)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory for bench.json")
    result = shadow_speed(pairs=models // 2, iterations=iterations, max_rows=max_rows, workers=workers, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "bench.json", result)
    print(json.dumps(result, indent=2))
