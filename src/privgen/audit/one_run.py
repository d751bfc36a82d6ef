"""Privacy auditing in one training run: ε lower bounds from guesses about randomly included canaries.

Setting (Steinke, Nasr & Jagielski, "Privacy Auditing with One (1) Training Run", NeurIPS 2023,
arXiv 2305.08846): m canaries, each put into the training set independently with probability 1/2 by a
secret coin. After one training run the auditor scores every canary (higher = more likely "in"), guesses
"in" for the k₊ highest scores, "out" for the k₋ lowest, and abstains on the rest; r = k₊ + k₋ guesses,
v of them correct. A DP mechanism cannot make many confident guesses right, so a large v refutes a DP
claim; the ε that can no longer be refuted is an empirical lower bound on the mechanism's ε.

Two analyses of the same counts:

* `p_value` / `eps_lower_bound`: the (ε, δ) theorem of Steinke et al., valid for any (ε, δ)-DP mechanism.
* `eps_lower_bound_fdp`: the f-DP one-run test of Mahloujifar, Melis & Chaudhuri ("Auditing
  f-Differential Privacy in One Run", ICML 2025, arXiv 2410.22235) under the *Gaussian hypothesis*: the
  claim "(ε, δ)-DP" is read as "as private as the Gaussian mechanism that is exactly (ε, δ)-DP", i.e. μ-GDP.
  That is a stronger claim than plain (ε, δ)-DP, so it is refuted more easily (tighter bounds) — but a
  refutation only refutes the Gaussian reading of the claim.

`best_guesses` searches (k₊, k₋) over a grid fixed before looking at the data and pays for the search with
a Bonferroni correction, so the reported bound keeps its confidence. `max_certifiable` is what the same
audit would give with every guess right: a bound of 0 means "no power" rather than "private" when
`max_certifiable` is itself below the claimed ε.

Pure functions (numpy/scipy only): no torch, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, log_ndtr, ndtr, ndtri
from scipy.stats import binom

Method = Literal["steinke", "fdp"]

_EPS_TOL = 1e-6  # absolute precision of every ε search
_EPS_CAP = 1e3  # no count of canaries can certify more than this; searches stop here


# --------------------------------------------------------------------------------------------------
# validation


def _check_counts(m: int, r: int, v: int) -> None:
    if not all(isinstance(x, (int, np.integer)) for x in (m, r, v)):
        raise ValueError(f"m, r, v must be integers, got {m!r}, {r!r}, {v!r}")
    if not 0 <= v <= r <= m or m < 1:
        raise ValueError(f"need 0 <= v <= r <= m and m >= 1, got m={m}, r={r}, v={v}")


def _check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return 1.0 - confidence


def _check_delta(delta: float, m: int) -> None:
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta must be in [0, 1), got {delta}")
    if 2.0 * m * delta > 1.0:
        # Below this the p-value is provably non-decreasing in ε (see `p_value`), which the ε searches rely
        # on; above it δ is far too large to be a meaningful DP claim about m canaries anyway.
        raise ValueError(f"delta must be <= 1/(2m) = {1.0 / (2 * m):.3g} for the one-run ε search, got {delta}")


# --------------------------------------------------------------------------------------------------
# Steinke, Nasr & Jagielski


def p_value(m: int, r: int, v: int, eps: float, delta: float = 0.0) -> float:
    """p-value of the null "the training is (eps, delta)-DP" after v correct guesses out of r, m canaries.

    Theorem of Steinke et al.: with q = e^ε/(1+e^ε), B ~ Binomial(r, q),
    P[W ≥ v] ≤ P[B ≥ v] + 2·m·δ·max_{i=1..v} P[v−i ≤ B < v]/i. Each correct guess is at most a q-biased
    coin even given the others (that is what ε-DP buys); δ adds the second term.

    Why it is monotone: d/dq of the first term is r·P[Bin(r−1, q) = v−1], and every term of the max falls
    no faster than r·P[Bin(r−1, q) = v−1]/i, so the bound is non-decreasing in ε whenever 2mδ ≤ 1.
    """
    _check_counts(m, r, v)
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta must be in [0, 1), got {delta}")
    if v == 0:
        return 1.0
    q = float(expit(eps))  # e^ε/(1+e^ε) without overflow
    beta_ = float(binom.sf(v - 1, r, q))  # P[B ≥ v]
    if delta == 0.0:
        return min(1.0, beta_)
    # cdf[j] = P[B ≤ j − 1] for j = 0..v, so P[v−i ≤ B ≤ v−1] = cdf[v] − cdf[v−i].
    cdf = binom.cdf(np.arange(-1, v), r, q)
    i = np.arange(1, v + 1)
    alpha_ = float(np.max((cdf[v] - cdf[v - i]) / i))
    return min(1.0, beta_ + 2.0 * m * delta * max(alpha_, 0.0))


def _largest_refuted(refutes: Callable[[float], bool], lo: float = 0.0) -> float:
    """Largest ε ≥ lo at which `refutes` still holds (to `_EPS_TOL`, on the refuted side), for a test that
    refutes every ε below some threshold and none above it. `refutes(lo)` must be True."""
    hi = max(1.0, 2.0 * lo)
    while refutes(hi):  # bracket by doubling
        lo = hi
        if hi >= _EPS_CAP:
            return hi
        hi = min(2.0 * hi, _EPS_CAP)
    while hi - lo > _EPS_TOL:  # bisect, keeping lo refuted and hi not
        mid = 0.5 * (lo + hi)
        if refutes(mid):
            lo = mid
        else:
            hi = mid
    return lo


def eps_lower_bound(m: int, r: int, v: int, confidence: float = 0.95, delta: float = 0.0) -> float:
    """Largest ε whose (ε, δ)-DP claim the counts refute at `confidence` (p-value < 1 − confidence).

    Because (ε, δ)-DP implies (ε', δ)-DP for every ε' > ε, refuting ε refutes everything below it: the
    mechanism's true ε exceeds the returned value with that confidence. 0 when not even ε = 0 is refuted.
    """
    _check_counts(m, r, v)
    a = _check_confidence(confidence)
    _check_delta(delta, m)
    refutes = lambda eps: p_value(m, r, v, eps, delta) < a  # noqa: E731
    return _largest_refuted(refutes) if refutes(0.0) else 0.0


# --------------------------------------------------------------------------------------------------
# Mahloujifar, Melis & Chaudhuri: f-DP in one run, Gaussian hypothesis


def _log_gaussian_delta(eps: float, mu: float) -> float:
    """log δ(ε) of μ-GDP (Balle & Wang 2018): δ = Φ(−ε/μ + μ/2) − e^ε·Φ(−ε/μ − μ/2), in log space so tiny
    δ and large ε neither underflow nor cancel."""
    l1 = float(log_ndtr(-eps / mu + mu / 2.0))
    l2 = float(log_ndtr(-eps / mu - mu / 2.0))
    d = eps + l2 - l1  # log of the ratio of the two terms, < 0 for μ > 0
    if not d < 0.0:
        return -math.inf
    return l1 + math.log(-math.expm1(d))


def gaussian_mu(eps: float, delta: float) -> float:
    """μ of the Gaussian mechanism that is exactly (eps, delta)-DP: 1/σ for the analytic Gaussian mechanism
    with sensitivity 1 (Balle & Wang 2018). δ(ε; μ) grows with μ, so this is a 1-D root find.

    δ = 0 has no Gaussian mechanism (every μ > 0 has δ(ε) > 0), hence the requirement δ > 0.
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1) for a Gaussian mechanism, got {delta}")
    if eps == 0.0:
        return float(2.0 * ndtri((1.0 + delta) / 2.0))  # δ(0) = 2Φ(μ/2) − 1
    target = math.log(delta)
    f = lambda t: max(_log_gaussian_delta(eps, math.exp(t)), -1e4) - target  # noqa: E731
    lo, hi = 0.0, 0.0
    while f(lo) >= 0.0:
        lo -= 2.0
    while f(hi) <= 0.0:
        hi += 2.0
    return float(math.exp(brentq(f, lo, hi, xtol=1e-12, rtol=1e-12)))


def _gdp_refutes(m: int, k: int, c: int, a: float, mu: float) -> bool:
    """The one-run test of Mahloujifar et al. for a μ-GDP claim: True when c correct out of k guesses among
    m canaries has probability < a under the claim.

    r and h are lower bounds on the (normalised) probability mass that correct and incorrect guesses must
    carry if c correct guesses had probability ≥ a; μ-GDP forces incorrect mass ≥ g(correct mass) with
    g(x) = Φ(Φ⁻¹(x) − μ), and the recursion propagates that over the c guesses. If the forced mass exceeds
    the k/m available, the event is rarer than a and the claim is refuted.
    """
    r_ = a * c / m
    h = a * (k - c) / m
    for i in range(c - 1, -1, -1):
        h_new = max(h, float(ndtr(ndtri(r_) - mu)))
        if h_new == h:
            break
        r_ = min(r_ + (i / (k - i)) * (h_new - h), 1.0)
        h = h_new
    return r_ + h > k / m


def eps_lower_bound_fdp(m: int, r: int, v: int, confidence: float = 0.95, delta: float = 1e-5) -> float:
    """Largest ε whose claim "as private as the Gaussian mechanism that is (ε, δ)-DP" (μ-GDP with
    μ = `gaussian_mu(ε, δ)`) the counts refute at `confidence` — the Gaussian-hypothesis f-DP one-run test
    of Mahloujifar, Melis & Chaudhuri (ICML 2025). 0 when no ε ≥ 0 is refuted.

    Needs δ > 0 (δ = 0 admits no Gaussian mechanism). Searched by doubling then bisection, which assumes
    the refuted set is an interval [0, ε_LB] (μ grows with ε and the test refutes less as μ grows).
    """
    _check_counts(m, r, v)
    a = _check_confidence(confidence)
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1) for the Gaussian f-DP bound, got {delta}")
    if v == 0:
        return 0.0
    refutes = lambda eps: _gdp_refutes(m, r, v, a, gaussian_mu(eps, delta))  # noqa: E731
    return _largest_refuted(refutes) if refutes(0.0) else 0.0


# --------------------------------------------------------------------------------------------------
# search over guesses


@dataclass(frozen=True)
class Guesses:
    """k_plus highest scores guessed "in", k_minus lowest guessed "out"; r = k_plus + k_minus, v correct."""

    k_plus: int
    k_minus: int
    r: int
    v: int


def default_grid(m: int) -> list[int]:
    """A geometric grid of guess counts from 1 to m (≤ 12 values): small k for confident tails, large for power."""
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    return sorted({int(x) for x in np.round(np.geomspace(1, m, 12))})


def _pairs(m: int, grid: Sequence[int] | None) -> list[tuple[int, int]]:
    """(k_plus, k_minus) pairs: guesses on the top only, the bottom only, or both tails equally.

    Few pairs on purpose: each one tried divides the significance (Bonferroni), and with δ > 0 the theorem's
    2mδ term leaves little room, so a full grid × grid search would cost more power than it finds."""
    ks = default_grid(m) if grid is None else sorted({int(k) for k in grid})
    if any(k < 0 or k > m for k in ks):
        raise ValueError(f"grid values must be in [0, m={m}], got {ks}")
    pairs = sorted({p for k in ks if k > 0 for p in ((k, 0), (0, k), (k // 2, k - k // 2))})
    pairs = [(kp, km) for kp, km in pairs if 1 <= kp + km <= m]
    if not pairs:
        raise ValueError("the grid allows no (k_plus, k_minus) with 1 <= k_plus + k_minus <= m")
    return pairs


def _refutation_test(method: Method, m: int, delta: float, a: float) -> Callable[[int, int, float], bool]:
    """(r, v, ε) -> "the counts refute ε at significance a" for one method."""
    if method == "steinke":
        _check_delta(delta, m)
        return lambda r, v, eps: p_value(m, r, v, eps, delta) < a
    if method == "fdp":
        if not 0.0 < delta < 1.0:
            raise ValueError(f"method='fdp' needs delta in (0, 1), got {delta}")
        return lambda r, v, eps: v > 0 and _gdp_refutes(m, r, v, a, gaussian_mu(eps, delta))
    raise ValueError(f"method must be 'steinke' or 'fdp', got {method!r}")


def _best_over(m: int, candidates: list[tuple[int, int, int, int]], a: float, delta: float, method: Method):
    """Best ε over (k_plus, k_minus, r, v) candidates; each is first checked against the running best
    (one test) and only searched if it beats it, which is exact because each bound is a threshold."""
    refutes = _refutation_test(method, m, delta, a)
    best_eps, best = 0.0, None
    for kp, km, r, v in candidates:
        if not refutes(r, v, best_eps):
            continue
        eps = _largest_refuted(lambda e: refutes(r, v, e), lo=best_eps)
        if best is None or eps > best_eps:
            best_eps, best = eps, (kp, km, r, v)
    return best_eps, best


def best_guesses(
    scores: Sequence[float] | np.ndarray,
    is_in: Sequence[bool] | np.ndarray,
    confidence: float = 0.95,
    delta: float = 0.0,
    grid: Sequence[int] | None = None,
    method: Method = "steinke",
) -> tuple[float, Guesses, int]:
    """Best ε lower bound over (k_plus, k_minus) in grid × grid, with the search paid for.

    The grid depends only on m, so trying n pairs and testing each at significance a/n (Bonferroni) keeps
    the reported best at confidence `confidence`. Returns (ε_LB, its guesses, n_tried). When nothing is
    refuted, ε_LB = 0 and the guesses are the most accurate pair (ties: more guesses). method="fdp" uses the
    Gaussian f-DP test (`eps_lower_bound_fdp`, needs delta > 0) with the same search and correction.

    Ties in score are broken against the auditor: among equal scores, "out" canaries rank above "in" ones,
    so the top k_plus take outs first and the bottom k_minus take ins first. v is then no larger than under
    any secret-free tie rule, so the bound stays valid.
    """
    s = np.asarray(scores, dtype=np.float64)
    b = np.asarray(is_in)
    if s.ndim != 1 or b.shape != s.shape or s.size == 0:
        raise ValueError(f"scores and is_in must be 1-D of the same non-zero length, got {s.shape}, {b.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    if not np.all((b == 0) | (b == 1)):
        raise ValueError("is_in must be boolean (0/1)")
    a = _check_confidence(confidence)
    m = int(s.size)
    pairs = _pairs(m, grid)
    n = len(pairs)
    order = np.lexsort((b.astype(np.int8), -s))  # score descending, then outs before ins
    ins_top = np.concatenate([[0], np.cumsum(b[order].astype(np.int64))])  # ins among the top k
    n_in = int(ins_top[-1])
    cands = []
    for kp, km in pairs:
        correct_plus = int(ins_top[kp])
        correct_minus = km - (n_in - int(ins_top[m - km]))  # outs among the bottom km
        cands.append((kp, km, kp + km, correct_plus + correct_minus))
    eps, best = _best_over(m, cands, a / n, delta, method)
    if best is None:
        best = max(cands, key=lambda c: (c[3] / c[2], c[2]))
    return eps, Guesses(k_plus=best[0], k_minus=best[1], r=best[2], v=best[3]), n


def max_certifiable(
    m: int,
    confidence: float = 0.95,
    delta: float = 0.0,
    grid: Sequence[int] | None = None,
    method: Method = "steinke",
) -> float:
    """ε_LB that `best_guesses` would report if every guess were right (v = r) at its best grid point,
    with the same Bonferroni correction: the most this audit of m canaries can ever certify. A claimed ε
    at or above it cannot be refuted by any attack, so a 0 there reads "no power", not "private"."""
    a = _check_confidence(confidence)
    pairs = _pairs(m, grid)
    cands = sorted({(kp + km) for kp, km in pairs}, reverse=True)  # perfect guesses: only r matters
    eps, _ = _best_over(m, [(r, 0, r, r) for r in cands], a / len(pairs), delta, method)
    return eps


def verdict(eps_lb: float, claimed: float | None, max_cert: float, confidence: float = 0.95) -> str:
    """One-line reading of an audit against a DP claim.

    "claim refuted at 95%" when the bound exceeds the claim; "no power" when even perfect guesses could not
    exceed it (max_cert ≤ claimed), so nothing was learned; otherwise "consistent".
    """
    if claimed is None:
        return "no DP claim"
    if eps_lb > claimed:
        return f"claim refuted at {confidence:.0%}"
    if max_cert <= claimed:
        return "no power"
    return "consistent"
