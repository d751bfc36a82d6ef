"""Confidence intervals for the shares privgen reports (forget accuracy, class accuracy, probe points)."""

from __future__ import annotations

from scipy.stats import binomtest


def wilson(k: int, n: int, level: float = 0.95) -> list[float]:
    """Wilson score interval of a proportion k/n: unlike the normal approximation it stays inside [0, 1]
    and is not zero-width at 0% or 100%, which is where forget accuracies sit."""
    ci = binomtest(int(k), int(n)).proportion_ci(level, method="wilson")
    return [float(ci.low), float(ci.high)]
