"""Whether a demo run shows what the project claims, read from its numbers (never assumed).

The unlearning claim: fine-tuning baselines look unlearned but come back under DiMRA, DiMUM stays like the
retrain oracle. The VFL claim: VFLGAN's data is as good as the reference run's. Each check returns its
numbers and a yes/no, and the report prints the sentence that the numbers support.
"""

from __future__ import annotations

from typing import Any

RECOVERY_MARGIN = 0.30   # a baseline "comes back": ≥ 30 points over the oracle after the attack ...
OURS_TOLERANCE = 0.05    # ... and DiMUM "stays": within 5 points of the oracle
VFL_FD_TARGET = 45.0     # the reference run's quality on MNIST halves (docs/vfl.md): FD ≤ 45 ...
VFL_UTILITY_TARGET = 0.5  # ... and TSTR accuracy ≥ 0.5


def _after(payload: dict[str, Any], label: str) -> tuple[float, list[float]]:
    g = f"g{payload['config']['guidance']:g}"
    after = payload["methods"][label]["by_guidance"][g]["after"]
    return float(after["forget_acc"]), [float(v) for v in after["forget_acc_ci"]]


def reversal(payload: dict[str, Any], baselines: tuple[str, ...], ours: str = "dimum",
             oracle: str = "retrain") -> dict[str, Any]:
    """Per baseline: recovery over the oracle and whether its 95% interval clears the oracle's; for `ours`:
    the distance to the oracle. `shown` when every baseline comes back and ours stays."""
    ref, ref_ci = _after(payload, oracle)
    rows = {}
    for label in baselines:
        acc, ci = _after(payload, label)
        rows[label] = {"after": acc, "ci95": ci, "recovery_vs_oracle": acc - ref,
                       "separated": ci[0] > ref_ci[1], "comes_back": acc - ref >= RECOVERY_MARGIN and ci[0] > ref_ci[1]}
    acc, ci = _after(payload, ours)
    mine = {"after": acc, "ci95": ci, "recovery_vs_oracle": acc - ref, "stays": abs(acc - ref) <= OURS_TOLERANCE}
    return {"oracle": {"after": ref, "ci95": ref_ci}, "baselines": rows, "ours": {ours: mine},
            "margin": RECOVERY_MARGIN, "tolerance": OURS_TOLERANCE,
            "shown": all(r["comes_back"] for r in rows.values()) and mine["stays"]}


def reversal_sentence(check: dict[str, Any]) -> str:
    def pct(v: float) -> str:
        return f"{100 * v:.0f}%"

    def band(ci: list[float]) -> str:
        return f"[{pct(ci[0])}, {pct(ci[1])}]"

    o = check["oracle"]
    parts = [f"{label} {pct(r['after'])} {band(r['ci95'])} ({100 * r['recovery_vs_oracle']:+.0f} points, "
             + ("interval clear of the oracle's" if r["separated"] else "interval overlapping the oracle's") + ")"
             for label, r in check["baselines"].items()]
    (name, mine), = check["ours"].items()
    verdict = ("**The reversal is shown**" if check["shown"] else
               "**The reversal is not shown in this run**")
    return (f"{verdict} (rule: every baseline ≥ {100 * check['margin']:.0f} points over the oracle with 95% "
            f"intervals apart, {name} within {100 * check['tolerance']:.0f} points of it): after the attack the "
            f"oracle is at {pct(o['after'])} {band(o['ci95'])}; " + "; ".join(parts)
            + f"; {name} {pct(mine['after'])} {band(mine['ci95'])} ({100 * mine['recovery_vs_oracle']:+.0f} points).")


def fd_cell(m: dict[str, Any]) -> str:
    """FD with its 95% bootstrap interval, as the demo's report and the README print it."""
    lo, hi = m["fd_ci95"]
    return f"{m['fd']:.1f} [{lo:.1f}, {hi:.1f}]"


def vfl_quality(metrics: dict[str, Any]) -> dict[str, Any]:
    """VFLGAN against the reference run's targets (FD ≤ 45, TSTR ≥ 0.5)."""
    fd_ok, util_ok = metrics["fd"] <= VFL_FD_TARGET, metrics["utility"] >= VFL_UTILITY_TARGET
    return {"fd_target": VFL_FD_TARGET, "utility_target": VFL_UTILITY_TARGET, "fd_met": fd_ok,
            "utility_met": util_ok, "met": fd_ok and util_ok}


__all__ = ["fd_cell", "reversal", "reversal_sentence", "vfl_quality", "RECOVERY_MARGIN", "OURS_TOLERANCE"]
