"""`privgen bench vfl`: VFLGAN vs VertiGAN vs the centralized reference, equal budget, two scenarios.

Each scenario trains every registered model with the same networks, batch and number of iterations,
evaluates them with the same metrics, and times vflgan against centralized *interleaved* (one iteration
each, alternating) so that load from other processes hits both alike. `step_time_only` runs just that
timing (with the arithmetic and op counts that explain it) in about a minute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from privgen.data.tabular import Span
from privgen.errors import UserError
from privgen.report import markdown_table, save_curves, save_image_grid, write_markdown
from privgen.runs import RunDir
from privgen.seeding import seed_everything
from privgen.vfl.config import GanConfig
from privgen.vfl.evaluate import evaluate_run
from privgen.vfl.models import MODELS, VflModel
from privgen.vfl.nets import SIZE_PRESETS, NetSizes
from privgen.vfl.run import expected_bytes, train_vfl_run
from privgen.vfl.sources import data_spec, load_vertical
from privgen.vfl.trainer import Schedule, run_iteration

aten = torch.ops.aten


@dataclass(frozen=True)
class Scenario:
    name: str
    data: str
    parties: int
    iterations: int
    n_eval: int
    size: str = "small"  # the CPU budget: the reference sizes scaled down, identically for every model
    probe_every: int = 0  # FD of fresh samples every so many iterations (the FD curve); 0: none


# `--size small`: both scenarios at the CPU budget. `--size reference`: the authors' MNIST network sizes
# (docs/vfl.md) at >= 4000 generator iterations with an FD curve, so a model that degrades with training shows.
SCENARIO_SETS = {
    "small": [Scenario("mnist_halves", "mnist5k", 2, 1500, 2000), Scenario("adult", "adult", 3, 1500, 3000)],
    "reference": [Scenario("mnist_halves_reference", "mnist5k", 2, 4000, 2000, "reference", probe_every=250)],
}
SCENARIOS = SCENARIO_SETS["small"]
QUICK_ITERATIONS = 8


TIMED = ("vflgan", "centralized", "vertigan")  # vflgan's step time is judged against both others
STEP_TIME_ITERATIONS = 30
STEP_TIME_WARMUP = 2


class WorkCounter(TorchDispatchMode):
    """Counts aten ops and matmul multiply-adds below autograd (so backward and double backward count too).

    The two numbers explain a step-time ratio independently of machine load: arithmetic (MACs; every
    network here is made of Linear layers) and per-op overhead (ops), which dominates at these small sizes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0
        self.macs = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        if func is aten.mm.default:
            self.macs += args[0].shape[0] * args[0].shape[1] * args[1].shape[1]
        elif func is aten.addmm.default:
            self.macs += args[1].shape[0] * args[1].shape[1] * args[2].shape[1]
        return func(*args, **(kwargs or {}))


def _interleave(models: dict[str, VflModel], scheds: dict[str, Schedule], iterations: int) -> dict[str, float]:
    """Median iteration time of each model, one iteration each in turn, so load from other processes
    hits every model alike; the first STEP_TIME_WARMUP rounds are left out (allocations, first calls)."""
    times: dict[str, list[float]] = {n: [] for n in models}
    for it in range(iterations + STEP_TIME_WARMUP):
        for n, model in models.items():
            t0 = time.perf_counter()
            run_iteration(model, scheds[n])
            if it >= STEP_TIME_WARMUP:
                times[n].append(time.perf_counter() - t0)
    return {n: float(np.median(t)) for n, t in times.items()}


def _data_bytes(model: VflModel) -> int:
    return model.transport.bytes_by_kind["features"] + model.transport.bytes_by_kind["feature_grad"]


def _work(model: VflModel, sched: Schedule) -> dict[str, int]:
    """Ops, MACs and transport bytes of one iteration (run apart from the timed ones: counting slows it)."""
    before = _data_bytes(model)
    with WorkCounter() as counter:
        run_iteration(model, sched)
    return {"aten_ops": counter.ops, "matmul_macs": counter.macs, "bytes_sent": _data_bytes(model) - before}


def step_time(parts: list[torch.Tensor], spans: list[list[Span]], sizes: NetSizes, cfg: GanConfig,
              iterations: int = STEP_TIME_ITERATIONS, seed: int = 0) -> dict[str, Any]:
    """Every model on the same rows, in one process: interleaved median iteration time (5 critic + 1
    generator steps), the work behind it, and vflgan's bytes per iteration as counted by the transport next
    to the bytes implied by the agreed shapes.

    vflgan is judged against arithmetic: for each other model, `overhead` = (time ratio) / (multiply-add
    ratio); 1.0 means vflgan is slower exactly by the extra arithmetic its architecture does.
    """
    models = {n: MODELS[n](parts, spans, sizes, cfg) for n in TIMED}
    scheds = {n: Schedule(len(parts[0]), cfg.batch_size, seed) for n in TIMED}
    times = _interleave(models, scheds, iterations)
    work = {n: _work(models[n], scheds[n]) for n in TIMED}
    against = {}
    for other in TIMED[1:]:
        t_ratio = times["vflgan"] / times[other]
        m_ratio = work["vflgan"]["matmul_macs"] / work[other]["matmul_macs"]
        against[other] = {"time_ratio": t_ratio, "macs_ratio": m_ratio, "overhead": t_ratio / m_ratio,
                          "ops_ratio": work["vflgan"]["aten_ops"] / work[other]["aten_ops"]}
    return {
        "iterations": iterations, "threads": torch.get_num_threads(), "iteration_time_s": times,
        "ratio_vflgan_over_centralized": against["centralized"]["time_ratio"],
        "macs_ratio": against["centralized"]["macs_ratio"], "ops_ratio": against["centralized"]["ops_ratio"],
        "vflgan_against": against,
        "work_per_iteration": work,
        "vflgan_bytes_per_iteration": work["vflgan"]["bytes_sent"],
        "vflgan_bytes_per_iteration_from_shapes":
            expected_bytes("vflgan", [p.shape[1] for p in parts], sizes, cfg)["iteration"],
    }


def scenario_step_time(sc: Scenario, spec: dict, seed: int, device: str, iterations: int) -> dict[str, Any]:
    data = load_vertical(spec)
    parts = [torch.from_numpy(np.asarray(p, dtype=np.float32)).to(device) for p in data.train]
    return step_time(parts, data.layout.spans(), SIZE_PRESETS[sc.size], GanConfig(), iterations, seed)


def run_scenario(sc: Scenario, root: Path, iterations: int, seed: int, device: str, quiet: bool) -> dict[str, Any]:
    spec = data_spec(sc.data, sc.parties)
    results: dict[str, Any] = {}
    images = {}
    probe_every = min(sc.probe_every, max(1, iterations // 2)) if sc.probe_every else 0
    for name in MODELS:
        run = train_vfl_run(spec, name, root / sc.name / name, seed, None, iterations, SIZE_PRESETS[sc.size],
                            GanConfig(), device, overwrite=True, quiet=quiet, probe_every=probe_every,
                            probe_rows=sc.n_eval)
        metrics, x = evaluate_run(run.path, sc.n_eval, seed, device, quiet)
        results[name] = {**run.metrics, **metrics, "health": f"{sc.name}/{name}/loss.png"}
        if x is not None:
            images[name] = x[:10]
    timing = scenario_step_time(sc, spec, seed, device, STEP_TIME_ITERATIONS if iterations > QUICK_ITERATIONS else 3)
    out: dict[str, Any] = {"models": results, "step_time": timing, "size": sc.size,
                           "fd_ratio_vertigan_over_vflgan": results["vertigan"]["fd"] / max(results["vflgan"]["fd"], 1e-12),
                           "iterations": iterations}
    if probe_every:
        curves = {n: m["curve"] for n, m in results.items()}
        out["fd_ratio_curve"] = [{"iteration": a["iteration"], "vertigan_over_vflgan": b["fd"] / max(a["fd"], 1e-12)}
                                 for a, b in zip(curves["vflgan"], curves["vertigan"])]
        save_curves([("FD (fresh samples)", {n: ([p["iteration"] for p in c], [p["fd"] for p in c])
                                               for n, c in curves.items()}, True)],
                    root / f"{sc.name}_fd_curve.png", title=f"{sc.name}: FD over training ({sc.n_eval} samples)")
        out["fd_curve_plot"] = f"{sc.name}_fd_curve.png"
    if images:
        data = load_vertical(spec)
        real = np.asarray(data.raw_train)[np.random.default_rng(seed).permutation(data.n)[:10]]
        rows = [np.asarray(real)] + [images[n] for n in MODELS]
        save_image_grid(rows, root / f"{sc.name}.png", ["real", *MODELS], title=f"{sc.name}: {iterations} iterations each")
        out["grid"] = f"{sc.name}.png"
    return out


def _fd_cell(m: dict[str, Any]) -> str:
    lo, hi = m.get("fd_ci95", (None, None))
    return f"{m['fd']:.4g} [{lo:.4g}, {hi:.4g}]" if lo is not None else f"{m['fd']:.4g}"


def report_section(sc: Scenario, res: dict[str, Any]) -> str:
    rows = []
    for name, m in res["models"].items():
        exp = m["expected_bytes"]["iteration"]
        rows.append([name, _fd_cell(m), m["association_error"], m["utility"], m["utility_real"],
                     m["iteration_time_s"], int(m["bytes_per_iteration"]), exp])
    table = markdown_table(["model", "FD [95% bootstrap]", "cross-party assoc. error", "utility (TSTR)", "utility (real)",
                            "iteration s (own run)", "bytes/iteration (sent)", "bytes/iteration (from shapes)"], rows)
    first = next(iter(res["models"].values()))
    text = (f"## {sc.name} ({sc.data}, {sc.parties} parties, `{sc.size}` networks, {res['iterations']} generator "
            f"iterations each)\n\n{table}\n"
            f"FD space: {first['fd_space']}; utility: {first['utility_task']}.\n\n"
            f"- FD(vertigan) / FD(vflgan) = **{res['fd_ratio_vertigan_over_vflgan']:.3g}** (paper, MNIST: 3.2)\n"
            + step_time_lines(res["step_time"]))
    if "fd_ratio_curve" in res:
        curve = ", ".join(f"{p['iteration']}: {p['vertigan_over_vflgan']:.2f}" for p in res["fd_ratio_curve"])
        text += f"- FD(vertigan) / FD(vflgan) over iterations: {curve}\n\n![FD curves]({res['fd_curve_plot']})\n"
        fd_rows = [[c["iteration"], *(res["models"][n]["curve"][i]["fd"] for n in res["models"])]
                   for i, c in enumerate(first["curve"])]
        text += "\n" + markdown_table(["iteration", *(f"FD {n}" for n in res["models"])], fd_rows)
    text += "\nTraining health (Wasserstein gap, critic gradient norms): " + ", ".join(
        f"[{n}]({m['health']})" for n, m in res["models"].items()) + "\n"
    if "grid" in res:
        text += f"\n![{sc.name}]({res['grid']})\n"
    return text + "\n"


def step_time_lines(st: dict[str, Any]) -> str:
    t, w = st["iteration_time_s"], st["work_per_iteration"]
    lines = [f"- step time (interleaved, median of {st['iterations']} iterations of 5 critic + 1 generator steps, "
             f"{st['threads']} thread): " + ", ".join(f"{n} {v * 1000:.1f} ms" for n, v in t.items())]
    for other, r in st["vflgan_against"].items():
        lines.append(f"- vflgan / {other}: time {r['time_ratio']:.3g}, matmul multiply-adds {r['macs_ratio']:.3g} "
                     f"({w['vflgan']['matmul_macs']:,} vs {w[other]['matmul_macs']:,}), aten ops {r['ops_ratio']:.3g}; "
                     f"**overhead (time ÷ arithmetic) {r['overhead']:.3g}** (goal <= 1.10)")
    lines.append(f"- vflgan bytes per iteration: {st['vflgan_bytes_per_iteration']:,} sent, "
                 f"{st['vflgan_bytes_per_iteration_from_shapes']:,} from the agreed shapes")
    return "\n".join(lines) + "\n"


def step_time_section(sc: Scenario, st: dict[str, Any]) -> str:
    return f"## {sc.name} ({sc.data}, {sc.parties} parties, `{sc.size}` networks): step time only\n\n{step_time_lines(st)}\n"


def run_bench(out: Path | str, seed: int = 0, device: str = "cpu", iterations: int | None = None, quick: bool = False,
              overwrite: bool = False, quiet: bool = False, step_time_only: bool = False, size: str = "small") -> Path:
    """The whole bench, or with `step_time_only` just the interleaved step timing (about a minute).

    `size` picks the scenario set: "small" (MNIST halves and Adult at the CPU budget) or "reference" (MNIST
    halves with the authors' network sizes, >= 4000 iterations, FD curves)."""
    if size not in SCENARIO_SETS:
        raise UserError(f"--size {size!r} is unknown; choose one of {', '.join(SCENARIO_SETS)}")
    scenarios = SCENARIO_SETS[size]
    n_iter = QUICK_ITERATIONS if quick else iterations
    run = RunDir.create(out, "bench_vfl", {"seed": seed, "device": device, "iterations": n_iter, "quick": quick,
                                           "size": size, "step_time_only": step_time_only}, overwrite=overwrite)
    seed_everything(seed)
    # One intra-op thread: these networks are small, and on a shared 2-core machine two OpenMP threads
    # per process oversubscribe the cores (measured: 30-60x slower per iteration under load).
    torch.set_num_threads(1)
    start = time.perf_counter()
    presets = sorted({sc.size for sc in scenarios})
    results, text = {}, ["# VFL benchmark: vflgan vs vertigan vs centralized (equal budget)\n",
                         "Networks: " + "; ".join(f"`{p}` preset ({SIZE_PRESETS[p]})" for p in presets)
                         + ", batch 64, n_critic 5, λ_gp 40, Adam(2e-4, 0.5, 0.999).\n"]
    for sc in scenarios:
        if step_time_only:
            spec = data_spec(sc.data, sc.parties)
            res = {"step_time": scenario_step_time(sc, spec, seed, device, n_iter or STEP_TIME_ITERATIONS)}
            text.append(step_time_section(sc, res["step_time"]))
        else:
            res = run_scenario(sc, run.path, n_iter or sc.iterations, seed, device, quiet)
            text.append(report_section(sc, res))
        results[sc.name] = res
        run.log(scenario=sc.name, seconds=round(time.perf_counter() - start, 1))
    wall = time.perf_counter() - start
    text.append(f"Bench wall time: {wall / 60:.1f} min on {torch.get_num_threads()} threads.\n")
    write_markdown(run.file("report.md"), "\n".join(text))
    run.write_metrics({"scenarios": results, "wall_seconds": wall})
    return run.file("report.md")
