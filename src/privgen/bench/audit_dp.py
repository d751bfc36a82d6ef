"""`privgen bench audit --dp`: the one-run audit's power on planted bugs, its verdict on correct mechanisms and
on the published DP-VFLGAN mechanism, and its cost against the shadow-model audit.

Every row is one `run_dp_audit` (one training run) on Adult, 3 parties, the same networks and budget; the
expectation each row is held to is written beside it, and the report says whether it was met.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from joblib import Parallel, delayed

from privgen.audit.dp_audit import DpAuditSettings, run_dp_audit
from privgen.errors import UserError
from privgen.report import markdown_table, write_markdown
from privgen.runs import RunDir
from privgen.vfl.sources import data_spec

DELTA = 1e-5


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    dp: str
    epsilon: float | None
    expect: str  # "lb>=2", "refuted", "consistent", "answer" (no expectation: the question is the answer)
    planted: str | None = None
    score: str = "gradient"
    seeds: int = 1


def rows(seeds: int) -> list[Row]:
    return [
        Row("none", "no DP", "none", None, "lb>=2"),
        Row("noise", "sound ε=1, noise silently 0.1× (planted)", "sound", 1.0, "refuted", planted="noise-0.1x"),
        Row("replay", "sound ε=1, noise replayable from the seed, auditor knows it (planted)", "sound", 1.0, "refuted",
            planted="replayable"),
        Row("sound1", "sound ε=1 (correct)", "sound", 1.0, "consistent", seeds=seeds),
        Row("sound4", "sound ε=4 (correct)", "sound", 4.0, "consistent", seeds=seeds),
        Row("paper1", "paper ε=1 (DP-VFLGAN as published)", "paper", 1.0, "answer", score="all"),
        Row("paper4", "paper ε=4 (DP-VFLGAN as published)", "paper", 4.0, "answer", score="all"),
    ]


def met(row: Row, m: dict[str, Any]) -> bool | None:
    if row.expect == "lb>=2":
        return m["eps_lower_bound"] >= 2
    if row.expect == "refuted":
        return m["verdict"].startswith("claim refuted")
    if row.expect == "consistent":
        return m["verdict"] == "consistent"
    return None


def _one(spec: dict, root: Path, row: Row, seed: int, base: DpAuditSettings, quiet: bool) -> tuple[str, int, dict]:
    torch.set_num_threads(1)
    settings = replace(base, seed=seed, planted=row.planted, score=row.score,
                       gradient_canaries=0 if row.dp == "paper" else base.gradient_canaries)
    r = run_dp_audit(spec, "vflgan", row.dp, row.epsilon, None, DELTA, settings, root / f"{row.key}_seed{seed}",
                     overwrite=True, quiet=quiet)
    keep = ("eps_lower_bound", "eps_lower_bound_fdp", "eps_lower_bound_black_box", "verdict", "verdict_black_box",
            "max_certifiable_epsilon", "claimed_epsilon", "best_score", "train_seconds", "sigma")
    return row.key, seed, {k: r.metrics[k] for k in keep}


EXPECTED = {"lb>=2": "ε LB ≥ 2", "refuted": "refuted", "consistent": "consistent", "answer": "(the question)"}


def _bounds(values: list[float]) -> str:
    """Each run's bound; n equal ones as one value ×n."""
    cells = [f"{v:.2f}" for v in values]
    return f"{cells[0]} ×{len(cells)}" if len(cells) > 1 and len(set(cells)) == 1 else ", ".join(cells)


def summary_table(summary: dict[str, dict[str, Any]]) -> str:
    """One row per grid row of metrics.json's `rows` (the bench's report and docs/audit.md render the same table)."""
    table = []
    for r in summary.values():
        runs, ok = r["runs"], r["met"]
        claim = "-" if runs[0]["claimed_epsilon"] is None else f"{runs[0]['claimed_epsilon']:.3g}"
        table.append([r["label"], claim, len(runs), _bounds([m["eps_lower_bound"] for m in runs]),
                      _bounds([m["eps_lower_bound_black_box"] for m in runs]),
                      f"{runs[0]['max_certifiable_epsilon']:.2f}", "; ".join(sorted({m["verdict"] for m in runs})),
                      EXPECTED[r["expect"]], "-" if ok[0] is None else f"{sum(ok)}/{len(ok)}"])
    return markdown_table(["row", "claimed ε", "runs", "ε LB white-box", "ε LB black-box", "ceiling", "verdict",
                           "expected", "met"], table)


def run_audit_bench(out: Path | str, seeds: int = 5, canaries: int = 500, gradient_canaries: int = 1000,
                    iterations: int = 200, size: str = "tiny", max_rows: int = 2000, workers: int = 1,
                    cost: bool = False, cost_iterations: int = 100, cost_pairs: int = 50, overwrite: bool = False,
                    quiet: bool = False) -> Path:
    if seeds < 1 or workers < 1:
        raise UserError(f"--seeds and --workers must be at least 1, got {seeds}, {workers}")
    base = DpAuditSettings(canaries=canaries, gradient_canaries=gradient_canaries, iterations=iterations, size=size)
    base.validate()
    spec = data_spec("adult", 3, max_rows=max_rows)
    grid = rows(seeds)
    run = RunDir.create(out, "bench_audit_dp", {"seeds": seeds, "canaries": canaries, "gradient_canaries":
                                                gradient_canaries, "iterations": iterations, "size": size,
                                                "max_rows": max_rows, "cost": cost}, overwrite=overwrite)
    start = time.perf_counter()
    jobs = (delayed(_one)(spec, run.path / "audits", r, s, base, quiet) for r in grid for s in range(r.seeds))
    results: dict[str, dict[int, dict]] = {}
    for key, s, m in Parallel(n_jobs=workers, backend="loky", return_as="generator")(jobs):
        results.setdefault(key, {})[s] = m
        run.log(row=key, seed=s, seconds=round(time.perf_counter() - start, 1))
    summary = {}
    for r in grid:
        runs = [results[r.key][s] for s in sorted(results[r.key])]
        summary[r.key] = {"label": r.label, "expect": r.expect, "runs": runs, "met": [met(r, m) for m in runs]}
    text = [f"# One-run DP audit: power and verdicts (Adult, 3 parties, {max_rows} rows)\n",
            f"vflgan, `{size}` networks, {iterations} generator iterations per run; {canaries} input canaries and, "
            f"except for the paper mode, {gradient_canaries} gradient canaries, each in by a secret fair coin; "
            f"white-box score chosen in advance: the gradient canaries (paper mode: every score, the confidence "
            f"split); 95% confidence, δ = {DELTA:g}.\n",
            summary_table(summary)]
    metrics: dict[str, Any] = {"rows": summary, "wall_seconds": round(time.perf_counter() - start, 1)}
    if cost:
        metrics["cost"] = audit_cost(spec, base, cost_iterations, cost_pairs, run.path / "cost", quiet)
        c = metrics["cost"]
        text.append(f"\n## Cost, measured one after the other on the same data and budget ({cost_iterations} "
                    f"iterations per model, --dp sound ε=1)\n\nShadow-model audit, K = {cost_pairs} pairs "
                    f"({2 * cost_pairs} models, every core): {c['shadow_seconds']:.0f} s. One-run audit: "
                    f"{c['one_run_seconds']:.0f} s. Ratio: {c['ratio']:.3f} (goal ≤ 0.05).\n")
    write_markdown(run.file("report.md"), "\n".join(text))
    run.write_metrics(metrics)
    return run.file("report.md")


def audit_cost(spec: dict, base: DpAuditSettings, iterations: int, pairs: int, root: Path, quiet: bool) -> dict:
    """Wall time of the shadow audit (K pairs) and of one one-run audit, same data, model, DP mode, budget."""
    from privgen.audit.generators import GeneratorSpec
    from privgen.audit.run import AuditSettings, run_audit
    from privgen.privacy.schema import schema_ref
    from privgen.vfl.sources import load_vertical

    sound = {**spec, "schema": schema_ref("adult")}
    vd = load_vertical(sound)
    gen = GeneratorSpec("vfl", {"model": "vflgan", "groups": vd.layout.party_columns(), "target": vd.layout.target,
                                "size": base.size, "iterations": iterations, "dp": "sound", "epsilon": 1.0,
                                "delta": DELTA, "schema": sound["schema"], "n_public": len(vd.raw_train)})
    t0 = time.perf_counter()
    run_audit(vd.raw_train, vd.layout, gen, AuditSettings(pairs=pairs), root / "shadow", claimed_epsilon=1.0,
              overwrite=True, quiet=quiet)
    shadow = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_dp_audit(spec, "vflgan", "sound", 1.0, None, DELTA, replace(base, iterations=iterations), root / "one_run",
                 overwrite=True, quiet=quiet)
    one = time.perf_counter() - t0
    return {"shadow_seconds": shadow, "one_run_seconds": one, "ratio": one / shadow, "iterations": iterations,
            "pairs": pairs}
