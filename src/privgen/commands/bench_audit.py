"""`privgen bench audit`: shadow-model training speed, 1 worker against every core."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Seed


def audit(out: Path = typer.Option(..., "--out", help="Directory for bench.json."),
          models: int = typer.Option(8, "--models", help="Shadow models timed per setting (even)."),
          iterations: int = typer.Option(200, "--iterations", help="Generator iterations per model."),
          max_rows: int = typer.Option(5000, "--max-rows", help="Training rows of Adult used."),
          workers: int = typer.Option(0, "--workers", help="Workers of the parallel setting (0: every core)."),
          seed: int = Seed) -> None:
    """Time the same shadow models on 1 worker and on every core; write the speed-up to bench.json."""
    import json

    from privgen import checks
    from privgen.bench.audit import shadow_speed
    from privgen.errors import UserError
    from privgen.runs import atomic_write_json

    checks.positive_int("--models", models, minimum=2)
    checks.positive_int("--iterations", iterations)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory for bench.json")
    result = shadow_speed(pairs=models // 2, iterations=iterations, max_rows=max_rows, workers=workers, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "bench.json", result)
    print(json.dumps(result, indent=2))
