"""`privgen bench vfl`: VFLGAN vs VertiGAN vs centralized at an equal budget, on MNIST halves and Adult."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Device, Overwrite, Quiet, Seed


def vfl(out: Path = typer.Option(..., "--out", help="Benchmark directory (report.md, metrics.json, grids)."),
        iterations: int = typer.Option(None, "--iterations", help="Generator iterations per model (default: the bench budget)."),
        quick: bool = typer.Option(False, "--quick", help="A tiny budget to check the pipeline (minutes)."),
        step_time: bool = typer.Option(False, "--step-time", help="Only time vflgan against centralized, interleaved "
                                       "(--iterations timed iterations, default 30; about a minute)."),
        size: str = typer.Option("small", "--size", help="small: MNIST halves and Adult at the CPU budget; reference: "
                                 "MNIST halves with the authors' network sizes, 4000 iterations, FD curves."),
        dp: bool = typer.Option(False, "--dp", help="DP rows instead: vflgan with --dp none, paper and sound at "
                                "each --dp-epsilons (δ 1e-5), same budget, and the three modes' step times."),
        dp_epsilons: str = typer.Option("1,3,10", "--dp-epsilons", help="Comma-separated ε of the DP rows."),
        dp_scenarios: str = typer.Option("adult,mnist_halves", "--dp-scenarios", help="adult (3 parties), mnist_halves."),
        dp_seeds: int = typer.Option(1, "--dp-seeds", help="Seeds per DP-grid row (mean ± sd over them)."),
        workers: int = typer.Option(1, "--workers", help="--dp: grid rows trained side by side in this many processes "
                                    "(one torch thread each; same numbers as one process)."),
        transport: str = typer.Option("inprocess", "--transport", help="ray: instead, time vflgan with every party a Ray "
                                      "actor against in-process (adult, mnist_halves), and PSI alignment (--psi-sizes)."),
        psi_sizes: str = typer.Option("10000,100000", "--psi-sizes", help="IDs per party of the PSI timings (with --transport ray; "
                                      "empty: none)."),
        psi_parties: str = typer.Option("2,3", "--psi-parties", help="Party counts of the PSI timings."),
        ray_scenarios: str = typer.Option("adult,mnist_halves", "--ray-scenarios", help="Step-time scenarios with --transport "
                                          "ray (empty: PSI only)."),
        seed: int = Seed, device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet) -> None:
    """Train and evaluate every VFL model on each scenario; write report.md with the comparison table."""
    from privgen.errors import UserError

    if transport == "ray":
        from privgen.bench.vfl_ray import run_ray_bench
        from privgen.checks import optional_positive_int

        optional_positive_int("--iterations", iterations)

        def ints(opt: str, v: str) -> list[int]:
            try:
                out = [int(x) for x in v.split(",") if x.strip()]
            except ValueError:
                raise UserError(f"{opt} must be comma-separated integers, got {v!r}") from None
            if any(x < 2 for x in out):
                raise UserError(f"{opt} values must be at least 2, got {v!r}")
            return out

        names = [s.strip() for s in ray_scenarios.split(",") if s.strip()]
        unknown = sorted(set(names) - {"adult", "mnist_halves"})
        if unknown:
            raise UserError(f"--ray-scenarios {', '.join(unknown)}: choose from adult, mnist_halves")
        if size not in ("tiny", "small", "reference"):
            raise UserError(f"--size {size!r} is unknown; choose tiny, small or reference")
        report = run_ray_bench(out, seed, iterations or (3 if quick else 30), size, ints("--psi-sizes", psi_sizes),
                               ints("--psi-parties", psi_parties), names, overwrite, quiet)
        print(report.read_text())
        print(f"report: {report}")
        return
    if transport != "inprocess":
        raise UserError(f"--transport {transport!r} is unknown; choose inprocess or ray")
    if dp:
        from privgen.bench.vfl_dp import run_dp_bench

        if size not in ("tiny", "small"):
            raise UserError(f"--dp rows run at --size small or tiny (per-example gradients on CPU), got {size!r}")

        try:
            eps = [float(e) for e in dp_epsilons.split(",") if e.strip()]
        except ValueError:
            raise UserError(f"--dp-epsilons must be comma-separated numbers, got {dp_epsilons!r}") from None
        report = run_dp_bench(out, [s.strip() for s in dp_scenarios.split(",") if s.strip()], eps,
                              iterations or (8 if quick else 1500), size,
                              seed, "cpu" if device == "auto" else device, overwrite, quiet, workers=workers,
                              seeds=dp_seeds)
        print(report.read_text())
        print(f"report: {report}")
        return
    from privgen.bench.vfl import run_bench
    from privgen.checks import optional_positive_int, resolve_device

    optional_positive_int("--iterations", iterations)
    # One resolver for every command: the bench passes the device on to torch, which knows no "auto".
    report = run_bench(out, seed=seed, device=str(resolve_device(device)), iterations=iterations, quick=quick, overwrite=overwrite,
                       quiet=quiet, step_time_only=step_time, size=size)
    print(report.read_text())
    print(f"report: {report}")
