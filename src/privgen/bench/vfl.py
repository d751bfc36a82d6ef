"""`privgen bench vfl`: VFLGAN vs VertiGAN vs the centralized reference, equal budget, two scenarios.

Each scenario trains every registered model with the same networks, batch and number of iterations,
evaluates them with the same metrics, and times vflgan against centralized *interleaved* (one iteration
each, alternating) so that load from other processes hits both alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from privgen.report import markdown_table, save_image_grid, write_markdown
from privgen.runs import RunDir
from privgen.seeding import seed_everything
from privgen.vfl.config import GanConfig
from privgen.vfl.evaluate import evaluate_run
from privgen.vfl.models import MODELS
from privgen.vfl.nets import SIZE_PRESETS
from privgen.vfl.run import train_vfl_run
from privgen.vfl.sources import data_spec, load_vertical
from privgen.vfl.store import build_model
from privgen.vfl.trainer import Schedule, run_iteration


@dataclass(frozen=True)
class Scenario:
    name: str
    data: str
    parties: int
    iterations: int
    n_eval: int


SCENARIOS = [Scenario("mnist_halves", "mnist5k", 2, 1500, 2000), Scenario("adult", "adult", 2, 1500, 3000)]
SIZE = "small"  # the CPU budget: the reference sizes scaled down, identically for every model
QUICK_ITERATIONS = 8


def interleaved_times(spec: dict, names: list[str], iterations: int, seed: int, device: str) -> dict[str, float]:
    """Mean iteration time of each model, measured alternately (one iteration each, in turn)."""
    data = load_vertical(spec)
    parts = [torch.from_numpy(np.asarray(p, dtype=np.float32)).to(device) for p in data.train]
    models = {n: build_model(n, data.layout.dims(), data.layout, SIZE_PRESETS[SIZE], GanConfig(), parts, device)
              for n in names}
    scheds = {n: Schedule(data.n, GanConfig().batch_size, seed) for n in names}
    times: dict[str, list[float]] = {n: [] for n in names}
    for it in range(iterations + 2):
        for n in names:
            t0 = time.perf_counter()
            run_iteration(models[n], scheds[n])
            if it >= 2:  # warm-up
                times[n].append(time.perf_counter() - t0)
    return {n: float(np.median(t)) for n, t in times.items()}


def run_scenario(sc: Scenario, root: Path, iterations: int, seed: int, device: str, quiet: bool) -> dict[str, Any]:
    spec = data_spec(sc.data, sc.parties)
    results: dict[str, Any] = {}
    images = {}
    for name in MODELS:
        run = train_vfl_run(spec, name, root / sc.name / name, seed, None, iterations, SIZE_PRESETS[SIZE],
                            GanConfig(), device, overwrite=True, quiet=quiet)
        metrics, x = evaluate_run(run.path, sc.n_eval, seed, device, quiet)
        results[name] = {**run.metrics, **metrics}
        if x is not None:
            images[name] = x[:10]
    timing = interleaved_times(spec, ["vflgan", "centralized"], 30 if iterations > QUICK_ITERATIONS else 3, seed, device)
    out: dict[str, Any] = {"models": results, "interleaved_iteration_time_s": timing,
                           "step_time_ratio_vflgan_over_centralized": timing["vflgan"] / timing["centralized"],
                           "fd_ratio_vertigan_over_vflgan": results["vertigan"]["fd"] / max(results["vflgan"]["fd"], 1e-12),
                           "iterations": iterations}
    if images:
        data = load_vertical(spec)
        real = np.asarray(data.raw_train)[np.random.default_rng(seed).permutation(data.n)[:10]]
        rows = [np.asarray(real)] + [images[n] for n in MODELS]
        save_image_grid(rows, root / f"{sc.name}.png", ["real", *MODELS], title=f"{sc.name}: {iterations} iterations each")
        out["grid"] = f"{sc.name}.png"
    return out


def report_section(sc: Scenario, res: dict[str, Any]) -> str:
    rows = []
    for name, m in res["models"].items():
        exp = m["expected_bytes"]["iteration"]
        rows.append([name, m["fd"], m["association_error"], m["utility"], m["utility_real"],
                     m["iteration_time_s"], int(m["bytes_per_iteration"]), exp])
    table = markdown_table(["model", "FD", "cross-party assoc. error", "utility (TSTR)", "utility (real)",
                            "iteration s (own run)", "bytes/iteration (sent)", "bytes/iteration (from shapes)"], rows)
    t = res["interleaved_iteration_time_s"]
    text = (f"## {sc.name} ({sc.data}, {sc.parties} parties, {res['iterations']} generator iterations each)\n\n{table}\n"
            f"FD space: {next(iter(res['models'].values()))['fd_space']}; utility: "
            f"{next(iter(res['models'].values()))['utility_task']}.\n\n"
            f"- FD(vertigan) / FD(vflgan) = **{res['fd_ratio_vertigan_over_vflgan']:.3g}** (paper, MNIST: 3.2)\n"
            f"- interleaved iteration time: vflgan {t['vflgan'] * 1000:.1f} ms, centralized {t['centralized'] * 1000:.1f} ms, "
            f"ratio **{res['step_time_ratio_vflgan_over_centralized']:.3g}** (target <= 1.25)\n")
    if "grid" in res:
        text += f"\n![{sc.name}]({res['grid']})\n"
    return text + "\n"


def run_bench(out: Path | str, seed: int = 0, device: str = "cpu", iterations: int | None = None, quick: bool = False,
              overwrite: bool = False, quiet: bool = False) -> Path:
    n_iter = QUICK_ITERATIONS if quick else iterations
    run = RunDir.create(out, "bench_vfl", {"seed": seed, "device": device, "iterations": n_iter, "quick": quick,
                                           "size": SIZE}, overwrite=overwrite)
    seed_everything(seed)
    # One intra-op thread: these networks are small, and on a shared 2-core machine two OpenMP threads
    # per process oversubscribe the cores (measured: 30-60x slower per iteration under load).
    torch.set_num_threads(1)
    start = time.perf_counter()
    results, text = {}, ["# VFL benchmark: vflgan vs vertigan vs centralized (equal budget)\n",
                         f"Networks: `{SIZE}` preset ({SIZE_PRESETS[SIZE]}), batch 64, n_critic 5, λ_gp 40, Adam(2e-4, 0.5, 0.999).\n"]
    for sc in SCENARIOS:
        res = run_scenario(sc, run.path, n_iter or sc.iterations, seed, device, quiet)
        results[sc.name] = res
        text.append(report_section(sc, res))
        run.log(scenario=sc.name, seconds=round(time.perf_counter() - start, 1))
    wall = time.perf_counter() - start
    text.append(f"Bench wall time: {wall / 60:.1f} min on {torch.get_num_threads()} threads.\n")
    write_markdown(run.file("report.md"), "\n".join(text))
    run.write_metrics({"scenarios": results, "wall_seconds": wall})
    return run.file("report.md")
