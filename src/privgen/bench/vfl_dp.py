"""`privgen bench vfl --dp`: VFLGAN without DP, with the paper's mechanism and with the sound mode at
several ε (δ = 1e-5), same networks and budget; quality (FD, cross-party association error, utility) and
interleaved step time of the three modes on the same rows (so machine load hits them alike)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from joblib import Parallel, delayed

from privgen.errors import UserError
from privgen.privacy.config import DPConfig
from privgen.report import markdown_table, write_markdown
from privgen.runs import RunDir
from privgen.seeding import seed_everything
from privgen.vfl.config import GanConfig
from privgen.vfl.evaluate import evaluate_run, prepare_evaluation
from privgen.vfl.models import MODELS
from privgen.vfl.nets import SIZE_PRESETS
from privgen.vfl.run import train_vfl_run
from privgen.vfl.sources import data_spec, load_vertical
from privgen.vfl.trainer import make_schedule, run_iteration

DP_SCENARIOS = {"adult": ("adult", 3), "mnist_halves": ("mnist5k", 2)}
DELTA = 1e-5
MODES = ("paper", "sound")


def dp_step_time(spec: dict, size: str, iterations: int, seed: int, device: str) -> dict[str, Any]:
    """Median iteration time of vflgan with --dp none / paper / sound, interleaved one iteration each."""
    data = load_vertical({**spec, "schema": None})
    parts = [torch.from_numpy(np.asarray(p, dtype=np.float32)).to(device) for p in data.train]
    cfg, n = GanConfig(), data.n
    dps = {"none": DPConfig(), "paper": DPConfig("paper", 1.0, 1.5 / cfg.batch_size, cfg.batch_size / n, cfg.batch_size),
           "sound": DPConfig("sound", 1.0, 1.0, cfg.batch_size / n, cfg.batch_size)}
    models = {m: MODELS["vflgan"](parts, data.layout.spans(), SIZE_PRESETS[size], cfg, dp=d) if d.on
              else MODELS["vflgan"](parts, data.layout.spans(), SIZE_PRESETS[size], cfg) for m, d in dps.items()}
    scheds = {m: make_schedule(d, n, cfg.batch_size, seed) for m, d in dps.items()}
    times: dict[str, list[float]] = {m: [] for m in dps}
    for i in range(iterations + 2):
        for m in dps:
            t0 = time.perf_counter()
            run_iteration(models[m], scheds[m])
            if i >= 2:
                times[m].append(time.perf_counter() - t0)
    med = {m: float(np.median(v)) for m, v in times.items()}
    return {"iteration_time_s": med, "paper_over_none": med["paper"] / med["none"],
            "sound_over_none": med["sound"] / med["none"], "iterations": iterations,
            "threads": torch.get_num_threads()}


def _dp_row(spec: dict, root: Path, mode: str, eps: float | None, iterations: int, size: str, seed: int,
            device: str, quiet: bool) -> tuple[str, int, dict[str, Any]]:
    """Train and evaluate one run of the grid (in a worker process, one torch thread)."""
    torch.set_num_threads(1)
    key = mode if eps is None else f"{mode}_eps{eps:g}"
    r = train_vfl_run(spec, "vflgan", root / f"{key}_seed{seed}", seed, None, iterations, SIZE_PRESETS[size],
                      GanConfig(), device, overwrite=True, quiet=quiet, dp=mode, epsilon=eps, delta=DELTA)
    ev, _ = evaluate_run(r.path, None, seed, device, quiet)
    d = r.metrics.get("dp", {})
    return key, seed, {"mode": mode, "epsilon": d.get("epsilon"), "sigma": d.get("sigma"), "fd": ev["fd"],
                       "association_error": ev["association_error"], "utility": ev["utility"],
                       "utility_real": ev["utility_real"], "iteration_time_s": r.metrics["iteration_time_s"]}


METRICS = ("fd", "association_error", "utility", "utility_real")


def summarise(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """One grid row over its seeds: every metric's mean and sample sd (0 for a single seed), and the runs."""
    first = next(iter(runs.values()))
    out: dict[str, Any] = {"mode": first["mode"], "epsilon": first["epsilon"], "sigma": first["sigma"],
                           "seeds": sorted(runs), "runs": {str(s): r for s, r in sorted(runs.items())}}
    for k in METRICS:
        v = np.array([r[k] for r in runs.values()], dtype=float)
        out[k], out[f"{k}_sd"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return out


def _pm(row: dict[str, Any], k: str) -> str:
    """mean ± sd; the sd to 2 significant digits without an exponent (110, not 1.1e+02), rounding noise as 0."""
    if len(row["seeds"]) < 2:
        return f"{row[k]:.4g}"
    sd = row[k + "_sd"]
    sd = 0.0 if sd < 1e-9 * max(1.0, abs(row[k])) else float(f"{sd:.2g}")
    return f"{row[k]:.4g} ± {sd:g}"


def rows_table(res: dict[str, dict[str, Any]]) -> str:
    """The grid's rows as Markdown (the bench's report and docs/dp.md render the same table)."""
    rows = [[r["mode"], ADJ_SHORT[r["mode"]], "∞" if r["epsilon"] is None else f"{r['epsilon']:.3g}",
             "-" if r["sigma"] is None else f"{r['sigma']:.3g}", _pm(r, "fd"), _pm(r, "association_error"),
             _pm(r, "utility"), f"{r['utility_real']:.4g}"] for r in res.values()]
    return markdown_table(["dp", "adjacency (guarantee)", "ε", "σ", "FD", "cross-party assoc. error",
                           "utility (TSTR)", "utility (real)"], rows)


def run_dp_bench(out: Path | str, scenarios: list[str], epsilons: list[float], iterations: int, size: str = "small",
                 seed: int = 0, device: str = "cpu", overwrite: bool = False, quiet: bool = False,
                 timing_iterations: int = 20, workers: int = 1, seeds: int = 1) -> Path:
    """Every grid row is trained with `seeds` seeds (seed, seed + 1, ...) and reported as mean ± sd. The
    non-DP runs are reproducible from their seed, so `workers` processes give the numbers of a sequential
    run; the DP runs draw their noise and batches from the OS CSPRNG and differ from run to run by design.
    The step-time comparison runs afterwards, alone, interleaved."""
    unknown = [s for s in scenarios if s not in DP_SCENARIOS]
    if unknown:
        raise UserError(f"--dp-scenarios {unknown} unknown; choose from {', '.join(DP_SCENARIOS)}")
    if not epsilons or any(not e > 0 for e in epsilons):
        raise UserError(f"--dp-epsilons must be positive numbers, got {epsilons}")
    if iterations <= 0:
        raise UserError(f"--iterations must be positive, got {iterations}")
    if workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    if seeds < 1:
        raise UserError(f"--dp-seeds must be at least 1, got {seeds}")
    if size not in SIZE_PRESETS:
        raise UserError(f"--size {size!r} is unknown; choose one of {', '.join(SIZE_PRESETS)}")
    run = RunDir.create(out, "bench_vfl_dp", {"scenarios": scenarios, "epsilons": epsilons, "iterations": iterations,
                                              "size": size, "seed": seed, "seeds": seeds, "device": device},
                        overwrite=overwrite)
    seed_everything(seed)
    torch.set_num_threads(1)  # shared CPU: one intra-op thread per process (see bench/vfl.py)
    start = time.perf_counter()
    text = [f"# VFL benchmark with differential privacy (δ = {DELTA:g})\n",
            f"vflgan, `{size}` networks ({SIZE_PRESETS[size]}), batch 64, n_critic 5, {iterations} generator "
            f"iterations ({iterations * 5} critic steps) for every row; ε from the improved conversion; "
            f"{seeds} seed(s) per row (mean ± sample sd). The two modes' ε are over different adjacencies "
            "(paper: replace-one, and a claim for one layer's gradients, not a guarantee; sound: add/remove, a "
            "guarantee over the published model and data), so equal ε does not mean equal protection.\n"]
    results: dict[str, Any] = {}
    for name in scenarios:
        data_name, parties = DP_SCENARIOS[name]
        spec = data_spec(data_name, parties)
        prepare_evaluation(spec, quiet)  # a shared cached classifier is trained once, before workers fan out
        grid = [("none", None)] + [(m, e) for m in MODES for e in epsilons]
        jobs = (delayed(_dp_row)(spec, run.path / name, mode, eps, iterations, size, seed + s, device, quiet)
                for mode, eps in grid for s in range(seeds))
        by_row: dict[str, dict[int, dict[str, Any]]] = {}
        for key, s, row in Parallel(n_jobs=min(workers, len(grid) * seeds), backend="loky", return_as="generator")(jobs):
            by_row.setdefault(key, {})[s] = row
            run.log(scenario=name, row=key, seed=s, seconds=round(time.perf_counter() - start, 1))
        res = {key: summarise(by_row[key]) for key in (m if e is None else f"{m}_eps{e:g}" for m, e in grid)}
        timing = dp_step_time(spec, size, timing_iterations, seed, device)
        results[name] = {"rows": res, "step_time": timing}
        t = timing["iteration_time_s"]
        text.append(f"## {name} ({data_name}, {parties} parties)\n\n"
                    + rows_table(res)
                    + f"\nStep time (interleaved, median of {timing['iterations']} iterations, 1 thread): none "
                      f"{t['none'] * 1000:.1f} ms, paper {t['paper'] * 1000:.1f} ms ({timing['paper_over_none']:.2f}×), "
                      f"sound {t['sound'] * 1000:.1f} ms ({timing['sound_over_none']:.2f}×).\n")
        if "sound_eps10" in res:
            none, sound = res["none"], res["sound_eps10"]
            gap, spread = none["utility"] - sound["utility"], float(np.hypot(none["utility_sd"], sound["utility_sd"]))
            results[name]["utility_gap_sound_eps10"] = {"mean": gap, "sd": spread}
            text.append(f"Utility of non-DP minus sound at ε = 10: {gap:.4g} ± {spread:.2g} (goal ≤ 0.05).\n")
    wall = time.perf_counter() - start
    text.append(f"\nBench wall time: {wall / 60:.1f} min.\n")
    write_markdown(run.file("report.md"), "\n".join(text))
    run.write_metrics({"scenarios": results, "wall_seconds": wall})
    return run.file("report.md")


ADJ_SHORT = {"none": "- (no DP)", "paper": "replace-one (claim only)", "sound": "add/remove (guarantee)"}
