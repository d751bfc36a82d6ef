"""`privgen bench ...`: performance benchmarks."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Device, Quiet, Seed

app = typer.Typer(help="Performance benchmarks.", no_args_is_help=True)


@app.command("diffusion")
def diffusion(out: Path = typer.Option(..., "--out", help="Output directory for bench.json."),
              recipe: str = typer.Option("cpu16", "--recipe", help="Model recipe to measure."),
              quick: bool = typer.Option(False, "--quick", help="Fewer repeats (a smoke test)."),
              seed: int = Seed, device: str = Device, quiet: bool = Quiet) -> None:
    """Training images/s, FLOP rate vs fp32 matmul, batched-CFG vs two-pass sampling -> bench.json."""
    import json

    import torch

    from privgen.bench.diffusion import run_benchmark
    from privgen.diffusion.model import get_recipe
    from privgen.runs import atomic_write_json
    from privgen.seeding import resolve_device

    get_recipe(recipe)
    dev = resolve_device(device)
    torch.manual_seed(seed)
    result = run_benchmark(recipe, dev, quick)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "bench.json", result)
    t = result["training"]
    print(json.dumps({"training_images_per_second": round(t["images_per_second"], 1),
                      "flop_rate_fraction_of_matmul": round(t["flop_rate_fraction_of_matmul"], 3),
                      "sampling_speedup": {k: round(v["speedup_batched_vs_two_pass"], 2)
                                           for k, v in result["sampling"].items()}}))
    print(f"wrote {out / 'bench.json'}")
