"""metrics.json of the audit: every curve, the scores with the quality rule and without, and the verdicts
(`verdict.py`) per budget, regime and model in both tables; the headline is the threat model's table."""

from __future__ import annotations

from typing import Any

from privgen.audit.unlearning.regimes import Regime, describe
from privgen.audit.unlearning.scores import Curve, quality_horizon, recovery, speedup
from privgen.audit.unlearning.verdict import TABLES, THREATS, WORDS, budget_verdict, combine, rule_text


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


def forgotten_quality(metrics: dict[str, Any]) -> list[dict[str, Any]] | None:
    """What the attacker gets at each probe: confidence in c_f and FD of the c_f samples; None for an attack
    probed before the audit recorded them."""
    pts = metrics["relearn_points"]
    if "confidence" not in pts[0]:
        return None
    return [{"step": p["step"], "confidence": p["confidence"], "fd_forgotten": p["fd_forgotten"]} for p in pts]


def summarise(s, regimes: tuple[Regime, ...], subjects, results: dict[str, Any], clf_metrics: dict[str, Any]
              ) -> dict[str, Any]:
    from privgen.audit.unlearning.run import MODEL, ORACLE, ORIGINAL, cell_name
    from privgen.serial import to_dict

    roles = [MODEL] + ([ORIGINAL] if subjects.original is not None else [])
    margins = s.margins()
    out_regimes: dict[str, Any] = {}
    for regime in regimes:
        cells = []
        for lr in s.lrs:
            o = results[cell_name(ORACLE, regime.name, lr)]["metrics"]
            oracle = curve_of(o)
            fd = [q["fd_retained"] for q in o["quality"]]
            horizon = quality_horizon(oracle.steps, fd, s.quality_factor)
            last = oracle.steps[-1]
            cell: dict[str, Any] = {
                "lr": lr, "horizon": horizon, "steps": list(oracle.steps), "n": oracle.n,
                "oracle": {"rates": oracle.rates.tolist(), "quality": o["quality"],
                           "forgotten_quality": forgotten_quality(o),
                           "dir": results[cell_name(ORACLE, regime.name, lr)]["dir"],
                           "attack_seconds": o["attack_seconds"], "aux_description": o["aux_description"]}}
            for role in roles:
                m = results[cell_name(role, regime.name, lr)]
                curve = curve_of(m["metrics"])
                on = score_cell(curve, oracle, horizon, s.rate, s.seed)
                off = on if horizon == last else score_cell(curve, oracle, last, s.rate, s.seed)
                cell[role] = {"rates": curve.rates.tolist(), "dir": m["dir"],
                              "attack_seconds": m["metrics"]["attack_seconds"],
                              "forgotten_quality": forgotten_quality(m["metrics"]), **on, "rule_off": off,
                              "verdict": {
                                  "rule_on": budget_verdict(on["recovery_by_step"], on["speedup"], oracle.n,
                                                            horizon, last, margins),
                                  "rule_off": budget_verdict(off["recovery_by_step"], off["speedup"], oracle.n,
                                                             last, last, margins)}}
            cells.append(cell)
        out_regimes[regime.name] = {"description": describe(regime), "cells": cells,
                                    **{role: {**_regime_summary(cells, role),
                                              "verdict": {t: combine([c[role]["verdict"][t]["verdict"] for c in cells])
                                                          for t in TABLES}}
                                       for role in roles}}
    payload = {"settings": to_dict(s), **subjects.forgotten.summary(), "model": subjects.model,
               "oracle": subjects.oracle, "original": subjects.original, "regimes": out_regimes,
               "classifier_test_accuracy": clf_metrics.get("test_accuracy"),
               "sample_counts": {"per_curve_point": s.n_per_class, "quality_per_class": s.quality_n_per_class}}
    payload["verdicts"] = {role: {t: {"overall": combine([r[role]["verdict"][t] for r in out_regimes.values()]),
                                      "regimes": {n: r[role]["verdict"][t] for n, r in out_regimes.items()}}
                                  for t in TABLES} for role in roles}
    payload["headline"] = {"threat": s.threat, "table": THREATS[s.threat].table}
    payload["verdict_rule"] = rule_text(margins)
    payload["verdict"] = verdict(payload, MODEL)
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


def verdict(payload: dict[str, Any], role: str) -> str:
    """The headline: the word of the threat model's table, and each regime's word in it (the reasons per
    regime × lr are in the report's table)."""
    table = payload["headline"]["table"]
    v = payload["verdicts"][role][table]
    by_word = {w: [n for n, x in v["regimes"].items() if x == w] for w in WORDS}
    parts = "; ".join(f"{w} in {', '.join(names)}" for w, names in by_word.items() if names)
    return f"{v['overall'].upper()} under the {payload['headline']['threat']} threat, {TABLES[table]}: {parts}"
