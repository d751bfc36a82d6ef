"""Empirical ε lower bounds from an attack's confusion counts (one-sided Clopper-Pearson).

An (ε, δ)-DP mechanism forces every membership test to satisfy TPR ≤ e^ε·FPR + δ and
TNR ≤ e^ε·FNR + δ. Bounding TPR from below and FPR, FNR from above with exact binomial intervals
(α/2 each, so both hold together with confidence 1 − α) turns measured counts into a lower bound on ε
that holds whatever the attack: ε ≥ max(ln((TPR_lo − δ)/FPR_hi), ln((1 − FPR_hi − δ)/FNR_hi)).
"""

from __future__ import annotations

import math

from scipy.stats import beta


def cp_upper(k: int, n: int, alpha: float) -> float:
    """One-sided upper (1 − alpha) Clopper-Pearson bound on a binomial rate from k successes in n."""
    return 1.0 if k >= n else float(beta.ppf(1.0 - alpha, k + 1, n - k))


def cp_lower(k: int, n: int, alpha: float) -> float:
    """One-sided lower (1 − alpha) Clopper-Pearson bound on a binomial rate from k successes in n."""
    return 0.0 if k <= 0 else float(beta.ppf(alpha, k, n - k + 1))


def epsilon_lower_bound(tp: int, fn: int, fp: int, tn: int, alpha: float = 0.05, delta: float = 0.0) -> float:
    """ε that the counts prove with confidence 1 − alpha (0 when they prove nothing)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    pos, neg = tp + fn, fp + tn
    if pos == 0 or neg == 0:
        return 0.0
    tpr_lo = cp_lower(tp, pos, alpha / 2)
    fpr_hi = cp_upper(fp, neg, alpha / 2)
    fnr_hi = cp_upper(fn, pos, alpha / 2)
    candidates = [0.0]
    if tpr_lo - delta > 0 and fpr_hi > 0:
        candidates.append(math.log((tpr_lo - delta) / fpr_hi))
    if 1.0 - fpr_hi - delta > 0 and fnr_hi > 0:
        candidates.append(math.log((1.0 - fpr_hi - delta) / fnr_hi))
    return max(candidates)
