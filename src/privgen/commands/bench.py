"""`privgen bench ...`: the performance benchmark (diffusion) and the research benchmarks (unlearning; VFL)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from privgen.commands.options import Alias, Device, Quiet, Sampler, Seed, renamed
from privgen.errors import UserError

app = typer.Typer(help="Benchmarks: performance (diffusion) and research benchmarks that write a report "
                       "(unlearning methods under the DiMRA attack; VFL models).", no_args_is_help=True)


@app.command("diffusion")
def diffusion(out: Path = typer.Option(..., "--out", help="Output directory for bench.json."),
              recipe: str = typer.Option("cpu16", "--recipe", help="Model recipe to measure."),
              quick: bool = typer.Option(False, "--quick", help="Fewer repeats (a smoke test)."),
              compile_check: bool = typer.Option(True, "--compile/--no-compile",
                                                 help="Also time torch.compile against eager (compile time included)."),
              seed: int = Seed, device: str = Device, quiet: bool = Quiet) -> None:
    """Training and sampling images/s per solver, FLOP rate vs fp32 matmul, threads, torch.compile -> bench.json."""
    import json

    import torch

    from privgen.bench.diffusion import run_benchmark
    from privgen.diffusion.model import get_recipe
    from privgen.runs import atomic_write_json
    from privgen.checks import resolve_device

    get_recipe(recipe)
    dev = resolve_device(device)
    if out.exists() and not out.is_dir():  # checked before the minutes of measuring, not after
        raise UserError(f"--out {out} is a file; give a directory for bench.json")
    torch.manual_seed(seed)
    result = run_benchmark(recipe, dev, quick, compile_check)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create --out {out}: {e.strerror or e}") from None
    atomic_write_json(out / "bench.json", result)
    t = result["training"]
    summary = {"training_images_per_second": round(t["images_per_second"], 1),
               "training_fraction_of_matmul": round(t["fraction_of_matmul"], 3),
               "sampling_images_per_second": {k: round(v["images_per_second"], 1) for k, v in result["sampling"].items()},
               "unet_forward_flops_per_image": result["unet_forward_flops_per_image"]}
    if "threads_lone_job" in result:
        summary["threads_speedup_all_cores_vs_one"] = round(result["threads_lone_job"]["speedup_all_cores_vs_one"], 2)
    tc = result.get("torch_compile", {})
    if "training" in tc:
        summary["compile_training_end_to_end_speedup"] = round(tc["training"]["end_to_end_speedup_for_recipe"], 2)
    print(json.dumps(summary))
    print(f"wrote {out / 'bench.json'}")


@app.command("unlearning")
def unlearning(out: Path = typer.Option(..., "--out", help="Output directory (results.json, results.csv, report.md, PNGs)."),
               data: str = typer.Option("mnist5k", "--data", help="Image dataset (privgen data list) or a path."),
               forget: Optional[str] = typer.Option(None, "--forget", help="Class to forget (id or name; default 3)."),
               forget_attribute: Optional[str] = typer.Option(None, "--forget-attribute",
                                                              help="Attribute value to forget instead, NAME=VALUE "
                                                                   "(e.g. colour=red with --data mnist5k-colour)."),
               methods: str = typer.Option("all", "--methods",
                                           help="Comma list of all / name / name:key=value, e.g. all,dimum:alt=noise "
                                                "(the retrain oracle and the original model are always included)."),
               aux: str = typer.Option("retain", "--aux", help="Attacker data: retain, generated or public."),
               recipe: str = typer.Option("cpu16", "--recipe", help="Pretraining recipe (cpu16, demo16, gpu28)."),
               unlearn_steps: int = typer.Option(None, "--unlearn-steps", help="Unlearning steps (default: the method runner's)."),
               unlearn_lr: float = typer.Option(None, "--unlearn-lr", help="Unlearning learning rate (default: the runner's)."),
               attack_steps: int = typer.Option(1000, "--attack-steps", help="DiMRA fine-tuning steps (same for every model)."),
               attack_lr: float = typer.Option(1e-4, "--attack-lr", help="DiMRA learning rate."),
               attack_batch_size: Optional[int] = typer.Option(None, "--attack-batch-size",
                                                               help="DiMRA batch size (default 64)."),
               curve_points: int = typer.Option(5, "--curve-points", help="Points on each relearning curve."),
               n_per_class: int = typer.Option(50, "--n-per-class", help="Generated images per class per evaluation."),
               curve_n_per_class: Optional[int] = typer.Option(None, "--curve-n-per-class",
                                                               help="Samples of the forgotten class per curve point (default 50)."),
               num_inference_steps: Optional[int] = typer.Option(None, "--num-inference-steps",
                                                                 help="Sampler steps for every evaluation (default: "
                                                                      "15 for dpmpp, 25 for ddim)."),
               sampler: str = Sampler,
               guidance_scale: Optional[float] = typer.Option(None, "--guidance-scale",
                                                              help="Guidance of the headline numbers and curves, any "
                                                                   "positive scale (default 3); 1 and 3 are evaluated too."),
               headline_only: bool = typer.Option(False, "--headline-only", help="Evaluate at --guidance-scale only, "
                                                  "not also at 1 and 3 (half the sampling)."),
               workers: int = typer.Option(2, "--workers", help="Worker processes (1 torch thread each); with "
                                                                "--executor ray and no --address, the local Ray "
                                                                "instance's CPUs."),
               executor: str = typer.Option("local", "--executor",
                                            help="Where the tasks run: local (this machine's process pool) or ray "
                                                 "(Ray tasks; needs privgen[ray]). Same numbers, same cache."),
               address: Optional[str] = typer.Option(None, "--address",
                                                     help="--executor ray: join this Ray cluster (auto or HOST:PORT) "
                                                          "instead of starting a local one."),
               seed: int = Seed, device: str = Device,
               overwrite: bool = typer.Option(False, "--overwrite", help="Replace results of different options at --out."),
               quiet: bool = Quiet,
               attack_batch_old: Optional[int] = Alias("--attack-batch", "--attack-batch-size"),
               curve_n_old: Optional[int] = Alias("--curve-n", "--curve-n-per-class"),
               eval_steps_old: Optional[int] = Alias("--eval-steps", "--num-inference-steps"),
               guidance_old: Optional[float] = Alias("--guidance", "--guidance-scale")) -> None:
    """Unlearn one class with every method, attack every model (and the oracle) with DiMRA, report."""
    from privgen.bench.unlearning import run_benchmark
    from privgen.bench.unlearning_tasks import BenchSettings, bench_eval_steps
    from privgen.checks import resolve_device

    if forget is not None and forget_attribute is not None:
        raise UserError("give --forget (a class) or --forget-attribute (NAME=VALUE), not both")
    if forget is None and forget_attribute is None:
        forget = "3"
    s = BenchSettings(data=data, forget=forget, seed=seed, recipe=recipe, aux=aux, unlearn_steps=unlearn_steps,
                      unlearn_lr=unlearn_lr, attack_steps=attack_steps, attack_lr=attack_lr,
                      attack_batch=renamed("--attack-batch-size", attack_batch_size, "--attack-batch", attack_batch_old, 64),
                      curve_points=curve_points, n_per_class=n_per_class,
                      curve_n=renamed("--curve-n-per-class", curve_n_per_class, "--curve-n", curve_n_old, 50),
                      eval_steps=bench_eval_steps(sampler, renamed("--num-inference-steps", num_inference_steps,
                                                                   "--eval-steps", eval_steps_old, None)),
                      sampler=sampler,
                      guidance=renamed("--guidance-scale", guidance_scale, "--guidance", guidance_old, 3.0),
                      device=str(resolve_device(device)),  # "auto" resolved: the settings record the real device
                      forget_attribute=forget_attribute, headline_only=headline_only)
    run = run_benchmark(s, methods, out, workers, overwrite, quiet, executor, address)
    print((run.path / "report.md").read_text().split("\n## ")[0])
    print(f"wrote {run.path / 'results.json'}, {run.path / 'results.csv'} and {run.path / 'report.md'}")
