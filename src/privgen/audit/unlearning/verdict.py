"""The audit's verdict words: leaks / resists / inconclusive, from the scores' intervals (maths only).

Scores in (one budget's recovery at each counted step and its speedup, `scores.py`), words out, with the
reason and, when the data cannot decide, what more would: the samples per probe at which the current
estimates' intervals would clear the margin, or more attack steps when a curve never reaches the rate.
`RULE` is the one statement of the rule; the report and docs/unlearning.md quote it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from privgen.audit.unlearning.scores import difference_ci

LEAKS, RESISTS, INCONCLUSIVE = "leaks", "resists", "inconclusive"
WORDS = (LEAKS, RESISTS, INCONCLUSIVE)
MAX_N = 100_000  # beyond this many samples per probe, "more samples" is no practical answer


@dataclass(frozen=True)
class Margins:
    """What counts as residual memory: `points` of recovery beyond the oracle, or a relearning `speedup`."""

    points: float = 10.0
    speedup: float = 1.25


RULE = (
    "Per regime and learning rate, on the steps the table counts: **leaks** when some step's recovery "
    "interval lies wholly above +{points:g} points, or the speedup interval wholly above {speedup:g}× (a "
    "speedup that is only a lower bound counts; a model at the rate before any attack step leaks); "
    "**resists** when at least one attack step is counted, every counted step's recovery interval lies wholly "
    "below +{points:g} points, and the speedup interval lies wholly below {speedup:g}× or neither curve "
    "reaches the rate (then recovery alone decides); otherwise **inconclusive**. A regime leaks when one of its "
    "learning rates leaks and resists when all resist; the model leaks when one regime leaks and resists only "
    "when every regime resists. Intervals are 95% (Newcombe for recovery, percentile bootstrap for speedup); "
    "the margins keep noise across the many budgets from reading as a leak."
)


def rule_text(m: Margins) -> str:
    return RULE.format(points=m.points, speedup=m.speedup)


# ---------------------------------------------------------------------------------------------- one budget


def _recovery_ci(p1: float, p2: float, n: int) -> list[float]:
    return difference_ci(round(p1 * n), n, round(p2 * n), n)


def samples_to_decide(model_rate: float, oracle_rate: float, n: int, margin: float) -> int | None:
    """Samples per probe (model and oracle alike) at which a recovery with these rates would have its
    interval clear `margin` (above it when the estimate is above, below otherwise); None when no count up to
    MAX_N does (the estimate sits on the margin)."""
    d = model_rate - oracle_rate
    if math.isclose(d, margin, abs_tol=1e-9):
        return None

    def clears(k: int) -> bool:
        lo, hi = _recovery_ci(model_rate, oracle_rate, k)
        return lo > margin if d > margin else hi < margin

    if clears(n):
        return n
    hi_n = n
    while not clears(hi_n):
        hi_n *= 2
        if hi_n > MAX_N:
            return None
    lo_n = hi_n // 2  # does not clear; bisect (the interval narrows with n, up to rounding of the hits)
    while hi_n - lo_n > 1:
        mid = (lo_n + hi_n) // 2
        lo_n, hi_n = (lo_n, mid) if clears(mid) else (mid, hi_n)
    return hi_n


def _speedup_samples(sp: dict[str, Any], n: int, margin: float) -> int | None:
    """Samples per probe at which the speedup interval would clear the margin, by the 1/√n width scaling of
    its current side (an approximation: the bootstrap is not rerun)."""
    v, (lo, hi) = sp["speedup"], sp["ci"]
    if v is None or lo is None or hi is None or math.isclose(v, margin):
        return None
    half, gap = (v - lo, v - margin) if v > margin else (hi - v, margin - v)
    return min(MAX_N + 1, max(n + 1, math.ceil(n * (half / gap) ** 2))) if gap > 0 else None


def _speedup_evidence(sp: dict[str, Any] | None, m: Margins) -> str:
    """'leaks', 'clear' (rules residual memory out, or says nothing: neither curve reaches r) or 'open'."""
    if sp is None:
        return "open"
    kind, (lo, hi) = sp["kind"], sp["ci"]
    if kind == "never_forgot":
        return LEAKS
    if kind in ("measured", "at_least") and (lo is None or lo > m.speedup):
        return LEAKS
    if kind == "unresolved":
        return "clear"
    if kind in ("measured", "at_most") and hi is not None and hi < m.speedup:
        return "clear"
    return "open"


def budget_verdict(recs: Sequence[dict[str, Any]], sp: dict[str, Any] | None, n: int, horizon: int, last: int,
                   m: Margins) -> dict[str, Any]:
    """The verdict of one regime × lr from its recovery at each counted step (`scores.recovery`; step 0
    included), its speedup (None when no attack step is counted), the samples per probe `n`, the last
    counted step `horizon` and the attack's last step `last`."""
    points = m.points / 100
    leak_steps = [r for r in recs if r["ci"][0] > points]
    speed = _speedup_evidence(sp, m)
    if leak_steps or speed == LEAKS:
        why = []
        if leak_steps:
            r = max(leak_steps, key=lambda x: x["ci"][0])
            why.append(f"recovery {_pts(r)} at step {r['step']} is above +{m.points:g} points")
        if speed == LEAKS:
            why.append(f"speedup {_speed(sp)} is above {m.speedup:g}×" if sp["kind"] != "never_forgot"
                       else "the model is at the rate before any attack step")
        return {"verdict": LEAKS, "why": "; ".join(why), "decide": None}
    if horizon == 0:
        return {"verdict": INCONCLUSIVE, "why": "no attack step is counted (the quality rule ends the budget at "
                "step 0)", "decide": "a smaller --lrs or an earlier first --probe-steps, or read the table "
                "without the quality rule"}
    open_recs = [r for r in recs if r["ci"][1] >= points]
    if not open_recs and speed == "clear":
        worst = max(recs, key=lambda x: x["ci"][1])
        return {"verdict": RESISTS, "why": f"every counted step's recovery is below +{m.points:g} points (highest "
                f"upper bound: {_pts(worst)} at step {worst['step']})"
                + (f"; speedup {_speed(sp)} is below {m.speedup:g}×" if sp and sp["kind"] != "unresolved" else
                   f"; neither curve reaches {sp['r']:.0%}" if sp else ""), "decide": None}
    why, decide = [], []
    if open_recs:
        r = max(open_recs, key=lambda x: x["recovery"])
        why.append(f"recovery {_pts(r)} at step {r['step']} straddles +{m.points:g} points")
        need = [samples_to_decide(x["model_rate"], x["oracle_rate"], n, points) for x in open_recs]
        stuck = [x for x, k in zip(open_recs, need) if k is None]
        if stuck:
            at = ", ".join(f"{_pts(x)} at step {x['step']}" for x in stuck)
            decide.append(f"recovery: the estimate sits at the margin ({at}); more samples do not settle it")
        else:
            decide.append(f"recovery: about {max(need)} samples per probe (--n-per-class; now {n})")
    if speed == "open":
        why.append(f"speedup {_speed(sp)} straddles {m.speedup:g}×")
        if sp["kind"] == "at_least" or (sp["kind"] == "at_most" and horizon < last):
            who = "the oracle" if sp["kind"] == "at_least" else "the model"
            decide.append(f"speedup: {who} does not reach {sp['r']:.0%} within {horizon} steps; a longer attack "
                          "(--steps) would place its crossing")
        else:
            k = _speedup_samples(sp, n, m.speedup)
            decide.append("speedup: the estimate sits at the margin" if k is None else
                          f"speedup: about {k if k <= MAX_N else f'more than {MAX_N}'} samples per probe "
                          "(≈, by the interval's 1/√n scaling), or denser --probe-steps")
    return {"verdict": INCONCLUSIVE, "why": "; ".join(why), "decide": "; ".join(decide)}


def _pts(r: dict[str, Any]) -> str:
    return f"{100 * r['recovery']:+.0f} [{100 * r['ci'][0]:+.0f}, {100 * r['ci'][1]:+.0f}]"


def _speed(sp: dict[str, Any]) -> str:
    from privgen.audit.unlearning.scores import format_speedup

    return format_speedup(sp)


# ---------------------------------------------------------------------------------------------- aggregates


def combine(words: Sequence[str]) -> str:
    """Leaks if any part leaks, resists only if every part resists (and there is one), else inconclusive."""
    if LEAKS in words:
        return LEAKS
    return RESISTS if words and all(w == RESISTS for w in words) else INCONCLUSIVE


# ---------------------------------------------------------------------------------------------- threat models


@dataclass(frozen=True)
class Threat:
    """Which table gates the headline, and the attacker that choice stands for."""

    table: str
    attacker: str


THREATS: dict[str, Threat] = {
    "class-samples": Threat("rule_off", "wants recognisable samples of the forgotten class and may not care whether "
                            "the retained classes survive the attack, so every attack step counts"),
    "usable-model": Threat("rule_on", "wants the class back in a model that still renders the retained classes, so a "
                           "budget counts only while the oracle's retained FD stays within --quality-factor of its own"),
}
TABLES = {"rule_off": "quality rule off (every attack step counts)",
          "rule_on": "quality rule on (steps the oracle's retained quality keeps)"}
