"""RDP accounting for the subsampled Gaussian: Poisson sampling (opacus) and sampling without replacement
(by hand), the two RDP -> (ε, δ) conversions, and σ calibration by bisection.

Why a hand-written curve: opacus only accounts Poisson sampling (`compute_rdp`), but the published
DP-VFLGAN draws B rows *without replacement* per step. Its RDP is the bound of Wang, Balle and
Kasiviswanathan (AISTATS 2019), Theorem 27 (the tight-pair strengthening of Theorem 9, which the Gaussian
satisfies), under the replace-one relation (n public). autodp (`compose_subsampled_mechanism(...,
improved_bound_flag=True)`) and dp-accounting (`SampledWithoutReplacementDpEvent`) implement the same
bound; the tests cross-check this module against both at every order.

Conversions (ε = min over the orders):
- classic (Mironov 2017, Prop. 3; autodp's `get_eps`): ε = RDP(α) + log(1/δ)/(α − 1);
- improved (Balle et al. 2020 Thm 21 / Canonne–Kamath–Steinke 2020; opacus' `get_privacy_spent` and
  dp-accounting's `compute_epsilon`): ε = RDP(α) + log((α − 1)/α) − (log δ + log α)/(α − 1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import mpmath
import numpy as np
from opacus.accountants.analysis.rdp import compute_rdp as opacus_poisson_rdp

SAMPLINGS = ("poisson", "without-replacement")
CONVERSIONS = ("improved", "classic")
# Fractional orders near 1 matter for large ε, integer ones for small ε. The without-replacement bound
# needs forward differences up to the largest order, computed in high precision: 128 keeps it fast.
ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(11, 129)))


@lru_cache(maxsize=256)
def _log_chi_moments(sigma: float, kmax: int) -> tuple[float, ...]:
    """log Δ^k h(0) for k = 0..kmax, h(0) = 1, h(i) = exp((i − 1) i / (2σ²)) = E[(p/q)^i] of the Gaussian.

    Δ^k h(0) = Σ_i C(k, i) (−1)^(k−i) h(i) is the Pearson–Vajda χ^k moment (WBK19, Thm 27). The
    alternating sum cancels catastrophically in floating point, so it is summed with mpmath at a
    precision that covers the cancellation (about k·log10(2) digits beyond the result's).
    Precision is raised until each sum is resolved (|sum| well above the rounding of its largest term); a
    sum that stays unresolved (huge σ: the moments vanish) becomes +inf, so the bound falls back to the
    generic term of Theorem 9 (looser, never optimistic).
    """
    out: dict[int, float] = {}
    todo, dps = list(range(kmax + 1)), 60 + int(kmax * 0.31) + 20
    ceiling = 4 * dps  # two escalations at most; what stays unresolved falls back to the generic term
    while todo and dps <= ceiling:
        with mpmath.workdps(dps):
            two_s2 = 2 * mpmath.mpf(sigma) ** 2
            h = [mpmath.mpf(1)] + [mpmath.exp(mpmath.mpf((i - 1) * i) / two_s2) for i in range(1, kmax + 1)]
            unresolved = []
            for k in todo:
                terms = [mpmath.binomial(k, i) * (-1) ** (k - i) * h[i] for i in range(k + 1)]
                s = mpmath.fsum(terms)
                if s > 0 and s > max(abs(t) for t in terms) * mpmath.mpf(10) ** (-(dps - 20)):
                    out[k] = float(mpmath.log(s))
                else:
                    unresolved.append(k)
        todo, dps = unresolved, dps * 2
    return tuple(out.get(k, math.inf) for k in range(kmax + 1))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _wor_log_moment(q: float, sigma: float, alpha: int, chi: tuple[float, ...]) -> float:
    """(α − 1)·RDP(α) of one subsampled-without-replacement Gaussian step, integer α ≥ 2 (WBK19 Thm 27)."""
    eps2 = 1.0 / sigma**2  # RDP of the Gaussian at order 2: α / (2σ²)
    terms = [0.0, 2 * math.log(q) + _log_comb(alpha, 2)
             + min(math.log(4) + eps2 + math.log1p(-math.exp(-eps2)), eps2 + math.log(2))]
    for j in range(3, alpha + 1):
        tight = math.log(4) + 0.5 * (chi[2 * (j // 2)] + chi[2 * ((j + 1) // 2)])
        generic = math.log(2) + (j - 1) * j / (2 * sigma**2)  # 2·exp((j−1)·ε(j))
        terms.append(min(tight, generic) + j * math.log(q) + _log_comb(alpha, j))
    m = max(terms)
    return m + math.log(sum(math.exp(t - m) for t in terms))


def rdp_without_replacement(q: float, sigma: float, orders: tuple[float, ...] = ORDERS) -> np.ndarray:
    """RDP of ONE step at each order; fractional orders interpolate the CGF linearly (WBK19, Cor. 10)."""
    if q >= 1.0:
        return np.array([a / (2 * sigma**2) for a in orders])
    if q <= 0.0:
        return np.zeros(len(orders))
    kmax = 2 * math.ceil(max(orders) / 2)
    chi = _log_chi_moments(float(sigma), kmax)
    cgf = {1: 0.0}
    for a in sorted({math.floor(o) for o in orders} | {math.ceil(o) for o in orders}):
        if a >= 2:
            cgf[a] = _wor_log_moment(q, sigma, a, chi)
    out = []
    for o in orders:
        lo, hi = math.floor(o), math.ceil(o)
        t = o - lo
        out.append(((1 - t) * cgf[lo] + t * cgf[hi]) / (o - 1))
    return np.array(out)


def rdp_curve(sigma: float, q: float, steps: int, sampling: str, orders: tuple[float, ...] = ORDERS) -> np.ndarray:
    """RDP of `steps` compositions of the subsampled Gaussian with noise multiplier `sigma`, rate `q`."""
    if sampling == "poisson":
        return np.asarray(opacus_poisson_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=list(orders)))
    if sampling == "without-replacement":
        return rdp_without_replacement(q, sigma, orders) * steps
    raise ValueError(f"unknown sampling {sampling!r}; one of {SAMPLINGS}")


def convert(rdp: np.ndarray, orders: tuple[float, ...], delta: float, conversion: str) -> tuple[float, float]:
    """(ε, the optimal order α) from an RDP curve."""
    a = np.asarray(orders, dtype=np.float64)
    r = np.asarray(rdp, dtype=np.float64)
    if conversion == "classic":
        eps = r + math.log(1 / delta) / (a - 1)
    elif conversion == "improved":
        eps = r + np.log((a - 1) / a) - (math.log(delta) + np.log(a)) / (a - 1)
    else:
        raise ValueError(f"unknown conversion {conversion!r}; one of {CONVERSIONS}")
    i = int(np.nanargmin(eps))
    return max(0.0, float(eps[i])), float(a[i])


@dataclass(frozen=True)
class Accounting:
    """Everything a DP run reports about its budget (metrics.json holds `asdict` of it)."""

    epsilon: float
    delta: float
    sigma: float
    sample_rate: float
    steps: int
    order: float
    sampling: str
    conversion: str
    accountant: str

    def to_json(self) -> dict:
        return asdict(self)


def accountant_name(sampling: str) -> str:
    return ("RDP, Poisson-subsampled Gaussian (opacus compute_rdp)" if sampling == "poisson" else
            "RDP, Gaussian subsampled without replacement (Wang-Balle-Kasiviswanathan 2019, Thm 27)")


def epsilon_for(sigma: float, q: float, steps: int, delta: float, sampling: str,
                conversion: str = "improved") -> Accounting:
    eps, order = convert(rdp_curve(sigma, q, steps, sampling), ORDERS, delta, conversion)
    return Accounting(eps, delta, sigma, q, steps, order, sampling, conversion, accountant_name(sampling))


@lru_cache(maxsize=64)
def sigma_for(epsilon: float, q: float, steps: int, delta: float, sampling: str, conversion: str = "improved",
              sigma_max: float = 200.0, rel_tol: float = 1e-4) -> Accounting:
    """The smallest σ (to rel_tol) whose ε is at most `epsilon`: bisection, ε being decreasing in σ.

    Kept per process: the bisection costs ~20 s of high-precision sums without replacement, and an audit's
    shadow models ask it the same question (two questions: with and without the target row) a hundred times.

    Raises ValueError when even `sigma_max` cannot meet the budget (the caller words the user's error)."""
    if epsilon_for(sigma_max, q, steps, delta, sampling, conversion).epsilon > epsilon:
        raise ValueError(f"even σ = {sigma_max} gives ε above {epsilon}")
    lo, hi = 1e-2, sigma_max
    while epsilon_for(lo, q, steps, delta, sampling, conversion).epsilon <= epsilon:
        lo /= 2
        if lo < 1e-4:
            break
    while hi - lo > rel_tol * hi:
        mid = math.sqrt(lo * hi) if hi / lo > 4 else (lo + hi) / 2
        if epsilon_for(mid, q, steps, delta, sampling, conversion).epsilon <= epsilon:
            hi = mid
        else:
            lo = mid
    return epsilon_for(hi, q, steps, delta, sampling, conversion)
