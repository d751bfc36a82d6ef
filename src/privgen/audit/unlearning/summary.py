"""metrics.json of the audit: every curve, the quality rule's verdict per budget, the scores and the verdict line."""

from __future__ import annotations

from typing import Any

from privgen.audit.unlearning.regimes import Regime, describe
from privgen.audit.unlearning.scores import Curve, format_speedup, quality_horizon, recovery, speedup


def curve_of(metrics: dict[str, Any]) -> Curve:
    pts = metrics["relearn_points"]
    return Curve(tuple(p["step"] for p in pts), tuple(round(p["forget_acc"] * p["n"]) for p in pts), pts[0]["n"])


def score_cell(model: Curve, oracle: Curve, horizon: int, r: float, seed: int) -> dict[str, Any]:
    """Recovery at every kept step, its worst, and the speedup on the kept part of both curves."""
    kept = [s for s in model.steps if s <= horizon]
    recs = [recovery(model, oracle, s) for s in kept]
    worst = max(recs, key=lambda x: (x["recovery"], x["step"]))
    out: dict[str, Any] = {"recovery_by_step": recs, "worst_recovery": worst}
    out["speedup"] = speedup(model.upto(horizon), oracle.upto(horizon), r, seed=seed) if horizon > 0 else None
    return out


def _speed_key(sp: dict[str, Any] | None) -> float:
    if sp is None or sp["kind"] == "unresolved":
        return -1.0
    return float("inf") if sp["speedup"] is None else sp["speedup"]


def summarise(s, regimes: tuple[Regime, ...], subjects, results: dict[str, Any], clf_metrics: dict[str, Any]
              ) -> dict[str, Any]:
    from privgen.audit.unlearning.run import MODEL, ORACLE, ORIGINAL, cell_name
    from privgen.serial import to_dict

    roles = [MODEL] + ([ORIGINAL] if subjects.original is not None else [])
    out_regimes: dict[str, Any] = {}
    for regime in regimes:
        cells = []
        for lr in s.lrs:
            o = results[cell_name(ORACLE, regime.name, lr)]["metrics"]
            oracle = curve_of(o)
            fd = [q["fd_retained"] for q in o["quality"]]
            horizon = quality_horizon(oracle.steps, fd, s.quality_factor)
            cell: dict[str, Any] = {
                "lr": lr, "horizon": horizon, "steps": list(oracle.steps), "n": oracle.n,
                "oracle": {"rates": oracle.rates.tolist(), "quality": o["quality"],
                           "dir": results[cell_name(ORACLE, regime.name, lr)]["dir"],
                           "attack_seconds": o["attack_seconds"], "aux_description": o["aux_description"]}}
            for role in roles:
                m = results[cell_name(role, regime.name, lr)]
                curve = curve_of(m["metrics"])
                cell[role] = {"rates": curve.rates.tolist(), "dir": m["dir"],
                              "attack_seconds": m["metrics"]["attack_seconds"],
                              **score_cell(curve, oracle, horizon, s.rate, s.seed)}
            cells.append(cell)
        out_regimes[regime.name] = {"description": describe(regime), "cells": cells,
                                    **{role: _regime_summary(cells, role) for role in roles}}
    payload = {"settings": to_dict(s), "forget_class": subjects.forget, "model": subjects.model,
               "oracle": subjects.oracle, "original": subjects.original, "regimes": out_regimes,
               "classifier_test_accuracy": clf_metrics.get("test_accuracy"),
               "sample_counts": {"per_curve_point": s.n_per_class, "quality_per_class": s.quality_n_per_class}}
    payload["verdict"] = verdict(out_regimes, s)
    return payload


def _regime_summary(cells: list[dict[str, Any]], role: str) -> dict[str, Any]:
    """The regime's worst recovery and fastest relearning over its lrs (within each lr's kept budget); over
    the lrs whose budget keeps an attack step when there are any (a step-0 recovery is no relearning).
    `inconclusive`: the quality rule kept no attack step at any lr, so the regime measured nothing."""
    kept = [c for c in cells if c["horizon"] > 0]
    inconclusive = not kept
    cells = kept or cells
    worst = max(cells, key=lambda c: c[role]["worst_recovery"]["recovery"])
    fastest = max(cells, key=lambda c: _speed_key(c[role]["speedup"]))
    return {"inconclusive": inconclusive, "worst_recovery": {**worst[role]["worst_recovery"], "lr": worst["lr"]},
            "fastest_speedup": ({**fastest[role]["speedup"], "lr": fastest["lr"]}
                                if fastest[role]["speedup"] is not None else None)}


INCONCLUSIVE = "INCONCLUSIVE"


def _what_to_change(s) -> str:
    return (f"the oracle's retained FD broke {s.quality_factor:g}x its own by the first probe (step "
            f"{s.points[0]}); to reach a verdict lower --lrs, probe earlier (a smaller first --probe-steps) or "
            "raise --quality-factor (an attack that degrades the oracle then counts)")


def verdict(regimes: dict[str, Any], s) -> str:
    """One line: the worst recovery over every regime with a kept budget, and the fastest relearning; a regime
    whose quality rule kept no attack step is INCONCLUSIVE (its step-0 numbers say nothing about relearning),
    and when every regime is, so is the whole verdict."""
    from privgen.audit.unlearning.run import MODEL

    cells = [c for r in regimes.values() for c in r["cells"]]
    open_ = {n: r for n, r in regimes.items() if not r[MODEL]["inconclusive"]}
    if not open_:
        return (f"{INCONCLUSIVE}: the quality rule kept no attack step in any of the {len(cells)} regime × lr "
                f"budgets, so nothing was measured about relearning: {_what_to_change(s)}")
    shut = [n for n in regimes if n not in open_]
    regimes = open_
    worst_name = max(regimes, key=lambda n: regimes[n][MODEL]["worst_recovery"]["recovery"])
    w = regimes[worst_name][MODEL]["worst_recovery"]
    line = (f"no regime recovers more than {100 * w['recovery']:+.0f} points beyond the oracle; worst regime "
            f"{worst_name} (lr {w['lr']:g}, {w['step']} steps): {100 * w['recovery']:+.0f} points "
            f"[95% CI {100 * w['ci'][0]:+.0f}, {100 * w['ci'][1]:+.0f}]")
    speeds = {n: r[MODEL]["fastest_speedup"] for n, r in regimes.items() if r[MODEL]["fastest_speedup"] is not None}
    fast = [n for n in speeds if speeds[n]["kind"] != "unresolved"]
    if fast:
        f = max(fast, key=lambda n: _speed_key(speeds[n]))
        line += (f"; fastest relearning {f} (lr {speeds[f]['lr']:g}): speedup to {s.rate:.0%} forget rate "
                 f"{format_speedup(speeds[f])}")
    else:
        line += f"; neither the model nor the oracle reaches a {s.rate:.0%} forget rate in any regime"
    dropped = sum(c["horizon"] == 0 for c in cells)
    if dropped:  # a verdict on step 0 alone says nothing about relearning: say so in the line itself
        line += (f" (the quality rule kept no attack step in {dropped} of {len(cells)} regime × lr budgets: "
                 "there the oracle's retained FD broke the bound at the first probe)")
    if shut:
        line += f"; {INCONCLUSIVE} for {', '.join(shut)}: {_what_to_change(s)}"
    return line
