"""The maths of one-run privacy auditing (privgen.audit.one_run): Steinke et al.'s (ε, δ) bound, the Gaussian
f-DP one-run test, the Bonferroni-paid search over guesses, and the verdict words. Pure numpy/scipy; seconds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from privgen.audit.one_run import (
    Guesses,
    best_guesses,
    default_grid,
    eps_lower_bound,
    eps_lower_bound_fdp,
    gaussian_mu,
    max_certifiable,
    p_value,
    verdict,
)


def test_all_100_guessed_and_right_gives_about_3_5():
    # With δ = 0 the p-value is exactly q^100, so ε_LB = ln(q/(1−q)) at q = 0.05^(1/100) = 3.49296...
    # This implementation gives 3.4929647 (bisection to 1e-6, on the refuted side).
    eps = eps_lower_bound(100, 100, 100, confidence=0.95, delta=0.0)
    assert 3.2 < eps < 3.7
    q = 0.05 ** (1 / 100)
    assert eps == pytest.approx(math.log(q / (1 - q)), abs=1e-5)
    assert p_value(100, 100, 100, eps, 0.0) < 0.05  # the returned ε is itself refuted


def test_more_correct_guesses_give_a_larger_bound():
    bounds = [eps_lower_bound(1000, 200, v) for v in range(120, 201, 10)]
    assert all(b > 0 for b in bounds)
    assert all(x < y for x, y in zip(bounds, bounds[1:]))


def test_more_guesses_at_the_same_accuracy_give_a_larger_bound():
    bounds = [eps_lower_bound(1000, r, int(0.9 * r)) for r in (50, 100, 200, 400, 1000)]
    assert all(x < y for x, y in zip(bounds, bounds[1:]))


@pytest.mark.parametrize("r", [2, 10, 100, 1000])
def test_chance_accuracy_proves_nothing(r):
    assert eps_lower_bound(1000, r, r // 2) == 0.0
    assert eps_lower_bound(1000, r, r // 2, delta=1e-5) == 0.0


@pytest.mark.parametrize("delta", [0.0, 1e-5])
def test_p_value_falls_with_correct_guesses_and_rises_with_eps(delta):
    by_v = [p_value(1000, 200, v, 0.5, delta) for v in range(100, 201, 5)]
    assert all(x >= y for x, y in zip(by_v, by_v[1:])) and by_v[0] > by_v[-1]
    by_eps = [p_value(1000, 200, 170, e, delta) for e in np.linspace(0, 4, 41)]
    assert all(x <= y for x, y in zip(by_eps, by_eps[1:])) and by_eps[0] < by_eps[-1]
    assert p_value(1000, 200, 0, 0.0, delta) == 1.0


def test_the_delta_term_weakens_the_bound():
    for r, v in [(1000, 1000), (200, 180), (1000, 700)]:
        assert eps_lower_bound(1000, r, v, delta=1e-5) < eps_lower_bound(1000, r, v, delta=0.0)
        assert p_value(1000, r, v, 1.0, 1e-5) > p_value(1000, r, v, 1.0, 0.0)


def test_best_guesses_on_perfectly_separated_scores():
    rng = np.random.default_rng(1)
    is_in = rng.random(1000) < 0.5
    eps, g, n = best_guesses(is_in.astype(float), is_in)
    assert eps >= 2.0
    assert isinstance(g, Guesses) and g.v == g.r == g.k_plus + g.k_minus
    grid = default_grid(1000)
    pairs = {p for k in grid for p in ((k, 0), (0, k), (k // 2, k - k // 2))}  # top, bottom, both tails
    assert len(grid) <= 12 and n == len(pairs)
    # the search is paid for: the best pair alone, uncorrected, would claim more
    assert eps < eps_lower_bound(1000, g.r, g.v)
    assert eps <= max_certifiable(1000)


def test_best_guesses_on_scores_independent_of_the_coins_is_mostly_zero():
    # Scores that ignore the coins carry no information, so a positive bound is a false positive. The
    # Bonferroni-corrected best bound has a false-positive rate <= 5% (each of the n pairs is tested at
    # 5%/n), so about 1 in 20 trials at worst; >= 18 of 20 leaves room for that (20/20 in practice here).
    rng = np.random.default_rng(20240611)
    zeros = 0
    for _ in range(20):
        is_in = rng.random(1000) < 0.5
        eps, _, _ = best_guesses(rng.random(1000), is_in)
        zeros += eps == 0.0
    assert zeros >= 18


def test_ties_are_broken_against_the_auditor():
    # All scores equal: the top k_plus take "out" canaries and the bottom k_minus take "in" ones first,
    # so a secret-dependent ordering of equal scores cannot manufacture correct guesses.
    is_in = np.arange(200) % 2 == 0
    eps, g, n = best_guesses(np.zeros(200), is_in, grid=[100])
    assert n == 3 and (g.k_plus, g.k_minus, g.r, g.v) in {(100, 0, 100, 0), (0, 100, 100, 0), (50, 50, 100, 0)}
    assert eps == 0.0


def test_more_canaries_can_certify_more():
    small, large = max_certifiable(100), max_certifiable(1000)
    assert 0 < small < large
    # the Bonferroni correction costs something against the uncorrected perfect audit
    assert large < eps_lower_bound(1000, 1000, 1000)


def test_gaussian_mu_matches_the_analytic_gaussian_mechanism():
    for eps, delta in [(0.0, 1e-5), (0.5, 1e-5), (1.0, 1e-5), (4.0, 1e-6), (10.0, 1e-3)]:
        mu = gaussian_mu(eps, delta)
        got = norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2)
        assert got == pytest.approx(delta, rel=1e-6)
    assert gaussian_mu(1.0, 1e-5) == pytest.approx(1 / 3.7308, rel=2e-3)  # σ ≈ 3.73 (Balle & Wang)
    mus = [gaussian_mu(e, 1e-5) for e in (0.1, 1.0, 3.0, 8.0)]
    assert all(x < y for x, y in zip(mus, mus[1:]))
    with pytest.raises(ValueError):
        gaussian_mu(1.0, 0.0)


def test_fdp_bound_refutes_small_eps_under_perfect_separation():
    assert eps_lower_bound_fdp(1000, 1000, 1000, delta=1e-5) > 1.0
    rng = np.random.default_rng(2)
    is_in = rng.random(1000) < 0.5
    eps, g, _ = best_guesses(is_in.astype(float), is_in, delta=1e-5, method="fdp")
    assert eps >= 2.0 and g.v == g.r
    assert eps_lower_bound_fdp(1000, 1000, 500, delta=1e-5) == 0.0  # chance accuracy
    with pytest.raises(ValueError):
        eps_lower_bound_fdp(100, 100, 100, delta=0.0)  # no Gaussian mechanism is (ε, 0)-DP


@pytest.mark.parametrize(
    "m,r,v", [(100, 100, 100), (1000, 1000, 1000), (1000, 100, 90), (1000, 1000, 700), (200, 150, 120)]
)
def test_fdp_bound_is_at_least_the_steinke_bound(m, r, v):
    # The Gaussian hypothesis claims more than plain (ε, δ)-DP, so it is refuted at least as easily.
    assert eps_lower_bound_fdp(m, r, v, delta=1e-5) >= eps_lower_bound(m, r, v, delta=1e-5) > 0


def test_fdp_bound_grows_with_correct_guesses():
    bounds = [eps_lower_bound_fdp(1000, 200, v, delta=1e-5) for v in range(130, 201, 10)]
    assert all(x < y for x, y in zip(bounds, bounds[1:]))


def test_verdict_words():
    assert verdict(2.0, None, 5.0) == "no DP claim"
    assert verdict(2.0, 1.0, 5.0) == "claim refuted at 95%"
    assert verdict(0.0, 8.0, 4.6) == "no power"
    assert verdict(0.5, 1.0, 4.6) == "consistent"


def test_bad_counts_are_rejected():
    with pytest.raises(ValueError):
        eps_lower_bound(100, 10, 11)
    with pytest.raises(ValueError):
        eps_lower_bound(100, 101, 50)
    with pytest.raises(ValueError):
        eps_lower_bound(100, 100, 100, confidence=1.0)
    with pytest.raises(ValueError):
        eps_lower_bound(100, 100, 100, delta=0.01)  # > 1/(2m): the ε search would not be monotone
    with pytest.raises(ValueError):
        best_guesses([0.0, 1.0], [True])
