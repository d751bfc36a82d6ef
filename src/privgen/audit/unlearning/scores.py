"""The audit's two scores, with their intervals: recovery beyond the oracle and relearning speedup.

Maths only (curves in, numbers out), so each rule is tested on hand-made curves. A curve is the forget-rate
probe along one attack: steps, hits and samples per point.

- Recovery at a budget (lr, steps) = the model's forget rate after the attack minus the oracle's after the
  same attack; its interval is Newcombe's hybrid score interval for a difference of two independent
  proportions (built from the two Wilson intervals), which stays sensible at 0% and 100%.
- Relearning speedup = steps the oracle needs to reach a forget rate r ÷ steps the model needs, each read on
  its curve by linear interpolation between probe points. A curve that never reaches r within the budget is
  censored at the budget's last step, so the ratio becomes a bound ("≥" when only the oracle never gets
  there, "≤" when only the model never does); a model already at r before the attack never forgot (∞).
  Its interval is a percentile bootstrap: every point's hits are redrawn Binomial(n, hits/n) and both
  crossings recomputed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from privgen.eval.intervals import wilson

BOOTSTRAP = 2000


@dataclass(frozen=True)
class Curve:
    """Forget-rate probes along one attack: hits of `n` samples at each step (step 0 = before the attack)."""

    steps: tuple[int, ...]
    hits: tuple[int, ...]
    n: int

    @property
    def rates(self) -> np.ndarray:
        return np.asarray(self.hits, dtype=float) / self.n

    def upto(self, last_step: int) -> "Curve":
        keep = [i for i, s in enumerate(self.steps) if s <= last_step]
        return Curve(tuple(self.steps[i] for i in keep), tuple(self.hits[i] for i in keep), self.n)

    def hits_at(self, step: int) -> int:
        return self.hits[self.steps.index(step)]


def crossing_step(steps: Sequence[float], rates: Sequence[float], r: float) -> float | None:
    """First step at which the curve reaches r, interpolated linearly between the probe points around it;
    None when it never does."""
    for i, (s, p) in enumerate(zip(steps, rates)):
        if p >= r:
            if i == 0:
                return float(s)
            s0, p0 = steps[i - 1], rates[i - 1]
            return float(s0 + (r - p0) / (p - p0) * (s - s0))
    return None


def difference_ci(k1: int, n1: int, k2: int, n2: int, level: float = 0.95) -> list[float]:
    """Newcombe's hybrid score interval (his method 10) for k1/n1 − k2/n2."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, level)
    l2, u2 = wilson(k2, n2, level)
    d = p1 - p2
    return [d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)]


def recovery(model: Curve, oracle: Curve, step: int) -> dict[str, float | list[float] | int]:
    """Forget rate of the model minus the oracle's after `step` attack steps, with its 95% interval."""
    k1, k2 = model.hits_at(step), oracle.hits_at(step)
    return {"step": step, "recovery": k1 / model.n - k2 / oracle.n,
            "ci": difference_ci(k1, model.n, k2, oracle.n), "model_rate": k1 / model.n, "oracle_rate": k2 / oracle.n}


def _ratio(t_model: float | None, t_oracle: float | None, horizon: float) -> float:
    """Oracle steps ÷ model steps, a censored crossing counted at the horizon (∞ when the model is at r at step 0)."""
    t_m = horizon if t_model is None else t_model
    t_o = horizon if t_oracle is None else t_oracle
    if t_m == 0:
        return 1.0 if t_o == 0 else math.inf
    return t_o / t_m


def _kind(t_model: float | None, t_oracle: float | None) -> str:
    if t_model == 0 and t_oracle != 0:
        return "never_forgot"
    if t_model is None and t_oracle is None:
        return "unresolved"
    if t_oracle is None:
        return "at_least"
    if t_model is None:
        return "at_most"
    return "measured"


def speedup(model: Curve, oracle: Curve, r: float = 0.5, n_boot: int = BOOTSTRAP, seed: int = 0,
            level: float = 0.95) -> dict[str, object]:
    """Relearning speedup at forget rate r on two curves probed at the same steps (see the module doc)."""
    if model.steps != oracle.steps:
        raise ValueError("the model's and the oracle's curves must be probed at the same steps")
    steps, horizon = model.steps, float(model.steps[-1])
    t_m, t_o = crossing_step(steps, model.rates, r), crossing_step(steps, oracle.rates, r)
    rng = np.random.default_rng(seed)
    boot_m = rng.binomial(model.n, model.rates, size=(n_boot, len(steps))) / model.n
    boot_o = rng.binomial(oracle.n, oracle.rates, size=(n_boot, len(steps))) / oracle.n
    ratios = np.array([_ratio(crossing_step(steps, bm, r), crossing_step(steps, bo, r), horizon)
                       for bm, bo in zip(boot_m, boot_o)])
    tail = (1 - level) / 2
    lo, hi = (float(np.quantile(ratios, q, method="inverted_cdf")) for q in (tail, 1 - tail))
    value = _ratio(t_m, t_o, horizon)
    return {"r": r, "speedup": _finite(value), "ci": [_finite(lo), _finite(hi)], "kind": _kind(t_m, t_o),
            "model_steps_to_r": t_m, "oracle_steps_to_r": t_o, "horizon": horizon, "n_bootstrap": n_boot}


def _finite(x: float) -> float | None:
    """JSON has no ∞: None stands for it (the `kind` says why)."""
    return None if math.isinf(x) else x


def quality_horizon(steps: Sequence[int], fd: Sequence[dict[str, float]], factor: float) -> int:
    """The last probe step up to which the oracle's retained FD stayed within `factor` × its own before the
    attack (steps[0] = 0) at every guidance scale measured; the budget stops at the first step that breaks it."""
    base = fd[0]
    last = steps[0]
    for s, q in zip(steps[1:], fd[1:]):
        if any(q[g] > factor * base[g] for g in base):
            break
        last = s
    return last


def format_speedup(s: dict[str, object]) -> str:
    """'3.2× [1.5, 8.0]', '≥ 4×', '∞ (never forgot)', 'n/a' for a table cell."""
    kind, v, ci = s["kind"], s["speedup"], s["ci"]
    if kind == "never_forgot":
        return "∞ (at r before the attack)"
    if kind == "unresolved":
        return f"n/a (neither reaches {s['r']:.0%} in {s['horizon']:g} steps)"

    def num(x: float | None) -> str:
        return "∞" if x is None else f"{x:.2g}"

    prefix = {"at_least": "≥ ", "at_most": "≤ ", "measured": ""}[kind]
    return f"{prefix}{num(v)}× [{num(ci[0])}, {num(ci[1])}]"
