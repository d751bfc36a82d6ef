"""`privgen bench ...`: performance benchmarks."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Device, Quiet, Seed
from privgen.errors import UserError

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
    if out.exists() and not out.is_dir():  # checked before the minutes of measuring, not after
        raise UserError(f"--out {out} is a file; give a directory for bench.json")
    torch.manual_seed(seed)
    result = run_benchmark(recipe, dev, quick)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create --out {out}: {e.strerror or e}") from None
    atomic_write_json(out / "bench.json", result)
    t = result["training"]
    print(json.dumps({"training_images_per_second": round(t["images_per_second"], 1),
                      "flop_rate_fraction_of_matmul": round(t["flop_rate_fraction_of_matmul"], 3),
                      "sampling_speedup": {k: round(v["speedup_batched_vs_two_pass"], 2)
                                           for k, v in result["sampling"].items()}}))
    print(f"wrote {out / 'bench.json'}")


@app.command("unlearning")
def unlearning(out: Path = typer.Option(..., "--out", help="Output directory (results.json, report.md, PNGs)."),
               data: str = typer.Option("mnist5k", "--data", help="Image dataset (privgen data list) or a path."),
               forget: str = typer.Option("3", "--forget", help="Class to forget (id or name)."),
               methods: str = typer.Option("all", "--methods",
                                           help="Comma list of all / name / name:key=value, e.g. all,dimum:alt=noise "
                                                "(the retrain oracle and the original model are always included)."),
               aux: str = typer.Option("retain", "--aux", help="Attacker data: retain, generated or public."),
               recipe: str = typer.Option("cpu16", "--recipe", help="Pretraining recipe (cpu16, demo16, gpu28)."),
               unlearn_steps: int = typer.Option(None, "--unlearn-steps", help="Unlearning steps (default: the method runner's)."),
               unlearn_lr: float = typer.Option(None, "--unlearn-lr", help="Unlearning learning rate (default: the runner's)."),
               attack_steps: int = typer.Option(1000, "--attack-steps", help="DiMRA fine-tuning steps (same for every model)."),
               attack_lr: float = typer.Option(1e-4, "--attack-lr", help="DiMRA learning rate."),
               attack_batch: int = typer.Option(64, "--attack-batch", help="DiMRA batch size."),
               curve_points: int = typer.Option(5, "--curve-points", help="Points on each relearning curve."),
               n_per_class: int = typer.Option(50, "--n-per-class", help="Generated images per class per evaluation."),
               curve_n: int = typer.Option(50, "--curve-n", help="Samples of the forgotten class per curve point."),
               eval_steps: int = typer.Option(25, "--eval-steps", help="DDIM steps for every evaluation."),
               guidance: float = typer.Option(3.0, "--guidance", help="Guidance of the headline numbers and curves (1 or 3); both are evaluated."),
               workers: int = typer.Option(2, "--workers", help="Worker processes (1 torch thread each)."),
               seed: int = Seed, device: str = typer.Option("cpu", "--device", help="cpu or cuda[:N]."),
               overwrite: bool = typer.Option(False, "--overwrite", help="Replace results of different options at --out."),
               quiet: bool = Quiet) -> None:
    """Unlearn one class with every method, attack every model (and the oracle) with DiMRA, report."""
    from privgen.bench.unlearning import run_benchmark
    from privgen.bench.unlearning_tasks import BenchSettings

    s = BenchSettings(data=data, forget=forget, seed=seed, recipe=recipe, aux=aux, unlearn_steps=unlearn_steps,
                      unlearn_lr=unlearn_lr, attack_steps=attack_steps, attack_lr=attack_lr, attack_batch=attack_batch,
                      curve_points=curve_points, n_per_class=n_per_class, curve_n=curve_n, eval_steps=eval_steps,
                      guidance=guidance, device=device)
    run = run_benchmark(s, methods, out, workers, overwrite, quiet)
    print((run.path / "report.md").read_text().split("\n## ")[0])
    print(f"wrote {run.path / 'results.json'} and {run.path / 'report.md'}")
