"""The demo's VFL stages: the shipped VFLGAN and VertiGAN side by side on MNIST halves, a short run on Adult's
three parties, and a sound-DP run audited in one run with canaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from privgen.demo.context import DemoContext, scratch_source
from privgen.demo.story import fd_cell, vfl_quality
from privgen.report import markdown_table, save_image_grid

VFL_MODELS = {"vflgan": "vflgan-mnist5k-halves-reference", "vertigan": "vertigan-mnist5k-halves-reference"}
N_EVAL = 2000            # synthetic and real images per FD (as the VFL bench)
ADULT_ITERATIONS = 300   # the Adult run: small networks, a short run (the bench runs 1,500)
# The DP audit of docs/audit.md's bench row "sound ε=1 (correct)": Adult, 3 parties, 2,000 rows, tiny networks,
# 200 iterations, 500 input and 1,000 gradient canaries, white-box, the gradient score chosen in advance.
DP_EPSILON, DP_ROWS, DP_ITERATIONS = 1.0, 2000, 200


def provide_vfl(name: str, ctx: DemoContext) -> tuple[Path, dict[str, Any]]:
    """A verified copy of a shipped VFL model (cached), or, with --from-scratch, the model trained here by the
    command the manifest lists for it."""
    from privgen.cache import cache_path
    from privgen.checkpoints import install, provenance, spec

    if ctx.from_scratch:
        from privgen.checkpoints.build import run_command

        folder = ctx.out / "models"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        if not (path / "metrics.json").is_file():
            run_command(spec(name), folder, quiet=ctx.quiet)
        return path, scratch_source(name)
    path = install(name, cache_path("shipped", name))
    return path, provenance(name, path)


def vfl_stage(ctx: DemoContext) -> tuple[str, dict[str, Any]]:
    """VFLGAN and VertiGAN (shipped, MNIST halves) side by side; VFLGAN on Adult's three parties."""
    from privgen.runs import RunDir
    from privgen.threads import set_job_threads
    from privgen.vfl.evaluate import evaluate_run

    set_job_threads()  # a lone job by now: every core (PRIVGEN_THREADS=1 on a CPU others keep busy)
    out, quiet = ctx.out, ctx.quiet
    models, rows, labels, table = {}, [], [], []
    for label, name in VFL_MODELS.items():
        path, source = provide_vfl(name, ctx)
        metrics, x = evaluate_run(path, N_EVAL, 0, "cpu", quiet)
        iterations = RunDir.open(path, "vfl").metrics["iterations"]
        models[label] = {**{k: metrics[k] for k in ("fd", "fd_ci95", "association_error", "utility", "utility_real")},
                         "iterations": iterations, "model": source}
        assert x is not None
        rows += [np.asarray(x[i:i + 12]) for i in range(0, 36, 12)]
        labels += [label] * 3
        table.append([label, fd_cell(metrics), f"{metrics['association_error']:.3f}",
                      f"{metrics['utility']:.3f} ({metrics['utility_real']:.3f})", iterations, source["source"]])
    save_image_grid(rows, out / "vfl_samples.png", labels, title="MNIST halves: party 1 draws the top, party 2 the bottom")
    quality = vfl_quality(models["vflgan"])
    adult = _adult_run(out, quiet)
    q = ("meets" if quality["met"] else "misses") + f" the reference run's quality (FD ≤ {quality['fd_target']:g}, TSTR ≥ {quality['utility_target']:g})"
    section = (
        "## Vertical federated GANs on MNIST halves\n\nTwo parties each hold half of every 28x28 MNIST image (top / "
        "bottom); only features and feature gradients cross between them and the server. Both models use the "
        "paper's networks and the same budget, shipped (`privgen checkpoints list`).\n\n"
        "![vfl samples](vfl_samples.png)\n\n"
        + markdown_table(["model", f"FD [95% bootstrap] ({N_EVAL} vs {N_EVAL})", "cross-party association error",
                          "utility: TSTR accuracy (real-trained)", "generator iterations", "source"], table)
        + f"\nVFLGAN {q}. The association error measures whether the two halves belong together (pixel "
        "correlations across the cut, against real images'): lower is better.\n\n"
        f"### Adult, three parties ({ADULT_ITERATIONS} iterations, small networks)\n\n"
        + markdown_table(["quantity", "value"], [
            ["FD of the encoded rows", f"{adult['fd']:.2f}"],
            ["cross-party association error", f"{adult['association_error']:.3f}"],
            ["utility: TSTR accuracy of income > 50K (real-trained)", f"{adult['utility']:.3f} ({adult['utility_real']:.3f})"],
            ["ms per iteration", f"{adult['ms_per_iteration']:.0f}"]]))
    return section, {"models": models, "quality": quality, "adult": adult}


def _adult_run(out: Path, quiet: bool) -> dict[str, Any]:
    from privgen.vfl.evaluate import evaluate_run
    from privgen.vfl.nets import SIZE_PRESETS
    from privgen.vfl.run import train_vfl_run
    from privgen.vfl.sources import data_spec

    run = train_vfl_run(data_spec("adult", 3), "vflgan", out / "vfl_adult", seed=0, epochs=None,
                        iterations=ADULT_ITERATIONS, sizes=SIZE_PRESETS["small"], device="cpu", overwrite=True, quiet=quiet)
    metrics, _ = evaluate_run(run.path, None, 0, "cpu", quiet)
    return {"iterations": run.metrics["iterations"], "fd": metrics["fd"], "association_error": metrics["association_error"],
            "utility": metrics["utility"], "utility_real": metrics["utility_real"],
            "ms_per_iteration": run.metrics["iteration_time_s"] * 1000}


def dp_stage(ctx: DemoContext) -> tuple[str, dict[str, Any]]:
    """A sound-DP VFLGAN on Adult (ε = 1) and the one-run canary audit's verdict on that claim."""
    from privgen.audit.dp_audit import DpAuditSettings, run_dp_audit
    from privgen.vfl.sources import data_spec

    settings = DpAuditSettings(canaries=500, access="white-box", gradient_canaries=1000, score="gradient",
                               iterations=DP_ITERATIONS, size="tiny")
    run = run_dp_audit(data_spec("adult", 3, max_rows=DP_ROWS), "vflgan", "sound", DP_EPSILON, None, 1e-5, settings,
                       ctx.out / "dp_audit", None, 1.0, True, ctx.quiet)
    m = run.metrics
    facts = {k: m[k] for k in ("verdict", "eps_lower_bound", "max_certifiable_epsilon", "claimed_epsilon", "delta",
                               "verdict_black_box", "eps_lower_bound_black_box", "adjacency", "sigma", "canaries",
                               "gradient_canaries", "train_seconds")}
    section = (
        "## Differential privacy that holds, and its audit\n\n"
        f"VFLGAN in the sound DP mode on Adult's three parties ({DP_ROWS} rows, `tiny` networks, {DP_ITERATIONS} "
        f"iterations): (ε = {m['claimed_epsilon']:.3g}, δ = {m['delta']:g})-DP for {m['adjacency']}, over everything the "
        f"run publishes (weights, synthetic data); noise multiplier σ = {m['sigma']:.3g}. Noise, sampling and the "
        "canaries' coins come from the OS CSPRNG, never from `--seed` (docs/dp.md).\n\n"
        f"The one-run audit (Steinke, Nasr, Jagielski 2023; {m['canaries']} input canaries and "
        f"{m['gradient_canaries']} gradient canaries, each in by a secret coin, one training run) reads: "
        f"**{m['verdict']}**: ε ≥ {m['eps_lower_bound']:.2f} at 95% (white-box; the most it could prove here is "
        f"{m['max_certifiable_epsilon']:.2f}); black-box, from the synthetic rows alone: {m['verdict_black_box']} "
        f"(ε ≥ {m['eps_lower_bound_black_box']:.2f}). Full report: [dp_audit/report.md](dp_audit/report.md).\n")
    return section, facts


__all__ = ["vfl_stage", "dp_stage", "VFL_MODELS"]
