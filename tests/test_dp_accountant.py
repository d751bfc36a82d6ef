"""The accountant against two independent libraries (autodp, dp-accounting), and `privgen dp` numbers."""

from __future__ import annotations

import numpy as np
import pytest

from privgen.privacy.accountant import ORDERS, convert, epsilon_for, rdp_curve, sigma_for

# (σ, q, T): the paper's MNIST and Adult settings and three others spanning small/large σ and q.
SETTINGS = [(0.802, 64 / 60000, 281100), (0.8, 64 / 42960, 40260), (1.1, 0.01, 1000), (2.0, 0.05, 300),
            (0.6, 0.002, 5000), (4.0, 0.1, 50)]
DELTA = 1e-5


def _autodp_rdp(sigma: float, q: float, steps: int, sampling: str) -> np.ndarray:
    from autodp import rdp_acct, rdp_bank

    acct = rdp_acct.anaRDPacct(m=200)
    func = lambda x: rdp_bank.RDP_gaussian({"sigma": sigma}, x)  # noqa: E731
    if sampling == "poisson":
        acct.compose_poisson_subsampled_mechanisms(func, q, coeff=steps)
    else:
        acct.compose_subsampled_mechanism(func, q, coeff=steps, improved_bound_flag=True)
    return np.array([float(np.squeeze(acct.get_rdp([a]))) for a in ORDERS]), acct


def _dpacc_accountant(sigma: float, q: float, steps: int, sampling: str):
    import dp_accounting
    from dp_accounting.rdp import rdp_privacy_accountant as rpa

    gauss = dp_accounting.GaussianDpEvent(sigma)
    if sampling == "poisson":
        event = dp_accounting.PoissonSampledDpEvent(q, gauss)
        acc = rpa.RdpAccountant(list(ORDERS))
    else:
        n = 100000
        event = dp_accounting.SampledWithoutReplacementDpEvent(n, int(round(q * n)), gauss)
        acc = rpa.RdpAccountant(list(ORDERS), rpa.NeighborRel.REPLACE_ONE)
    acc.compose(dp_accounting.SelfComposedDpEvent(event, steps))
    return acc


@pytest.mark.parametrize("sampling", ["without-replacement", "poisson"])
@pytest.mark.parametrize("sigma,q,steps", SETTINGS)
def test_rdp_curve_matches_autodp_and_dp_accounting_at_every_order(sigma, q, steps, sampling):
    ours = rdp_curve(sigma, q, steps, sampling)
    ad, _ = _autodp_rdp(sigma, q, steps, sampling)
    acc = _dpacc_accountant(sigma, q, steps, sampling)
    dpa = np.asarray(acc._rdp)
    assert ours.shape == (len(ORDERS),) and np.all(np.isfinite(ours)) and np.all(ours > 0)
    at = np.ones(len(ORDERS), dtype=bool)
    if sampling == "poisson":
        # autodp bounds fractional orders of the Poisson curve by a looser interpolation (e.g. RDP(2) for
        # α < 2); at the integer orders (2..128) it computes the exact same quantity as opacus.
        at = np.array([float(a).is_integer() for a in ORDERS])
    assert at.sum() >= 100
    np.testing.assert_allclose(ours[at], ad[at], rtol=1e-6)
    if sampling == "without-replacement" and int(round(q * 100000)) / 100000 != q:
        return  # dp-accounting's event takes integer (N, B); compared on the exact settings below
    np.testing.assert_allclose(ours[at], dpa[at], rtol=1e-6)
    if sampling == "poisson":
        # At fractional orders dp-accounting 0.6 returns an upper bound, up to 2.4x looser for (σ 4, q 0.1);
        # opacus sums the exact series (checked against numerical integration below): ours is never above it.
        assert np.all(ours[~at] <= dpa[~at] * (1 + 1e-9))


@pytest.mark.parametrize("alpha", [1.5, 2.5, 5.5])
def test_poisson_fractional_orders_equal_numerical_integration(alpha):
    import math

    from scipy import integrate

    sigma, q = 0.802, 64 / 60000

    def density(z: float) -> float:  # E_{z~N(0,σ²)}[((1-q) + q·exp((2z-1)/(2σ²)))^α]
        return (math.exp(-z * z / (2 * sigma**2)) / math.sqrt(2 * math.pi * sigma**2)
                * ((1 - q) + q * math.exp((2 * z - 1) / (2 * sigma**2))) ** alpha)

    a, _ = integrate.quad(density, -40, 40, limit=500, epsabs=1e-16, epsrel=1e-13)
    assert rdp_curve(sigma, q, 1, "poisson", orders=(alpha,))[0] == pytest.approx(math.log(a) / (alpha - 1), rel=1e-6)


@pytest.mark.parametrize("sampling", ["without-replacement", "poisson"])
@pytest.mark.parametrize("sigma,q,steps", SETTINGS)
def test_each_conversion_within_half_a_percent_of_its_library(sigma, q, steps, sampling):
    rdp = rdp_curve(sigma, q, steps, sampling)
    classic, _ = convert(rdp, ORDERS, DELTA, "classic")
    improved, _ = convert(rdp, ORDERS, DELTA, "improved")
    _, acct = _autodp_rdp(sigma, q, steps, sampling)
    if sampling == "poisson":  # autodp's Poisson curve is exact only at integer orders (see above)
        ints = [i for i, a in enumerate(ORDERS) if float(a).is_integer()]
        classic, _ = convert(rdp[ints], tuple(ORDERS[i] for i in ints), DELTA, "classic")
    assert classic == pytest.approx(acct.get_eps(DELTA), rel=5e-3)  # autodp: the classic conversion
    from dp_accounting.rdp import rdp_privacy_accountant as rpa

    ref, _ = rpa.compute_epsilon(ORDERS, rdp, DELTA)  # dp-accounting's default: the improved conversion
    assert improved == pytest.approx(ref, rel=5e-3)
    assert improved < classic


def test_papers_settings_give_the_published_and_the_tighter_epsilon():
    mnist = dict(sigma=0.802, q=64 / 60000, steps=281100, delta=1e-5, sampling="without-replacement")
    assert epsilon_for(**mnist, conversion="classic").epsilon == pytest.approx(9.99, abs=0.01)
    assert epsilon_for(**mnist, conversion="improved").epsilon == pytest.approx(9.24, abs=0.01)
    adult = dict(sigma=0.8, q=64 / 42960, steps=40260, delta=1e-5, sampling="without-replacement")
    assert epsilon_for(**adult, conversion="classic").epsilon == pytest.approx(4.996, abs=0.002)
    assert epsilon_for(**adult, conversion="improved").epsilon == pytest.approx(4.456, abs=0.002)


def test_sigma_calibration_inverts_epsilon():
    acc = sigma_for(3.0, 0.01, 2000, 1e-5, "poisson")
    assert acc.epsilon <= 3.0 and acc.epsilon == pytest.approx(3.0, rel=1e-3)
    assert epsilon_for(acc.sigma * 0.99, 0.01, 2000, 1e-5, "poisson").epsilon > 3.0


def test_dp_epsilon_cli_prints_both_conversions(cli):
    r = cli("dp", "epsilon", "--sigma", "0.8", "--batch", "64", "--n", "42960", "--steps", "40260",
            "--delta", "1e-5", "--sampling", "without-replacement")
    assert r.code == 0, r.err
    assert "improved conversion: ε = 4.4558" in r.out and "classic  conversion: ε = 4.9964" in r.out
    assert "order α = 6" in r.out


def test_dp_sigma_cli(cli):
    r = cli("dp", "sigma", "--epsilon", "2", "--batch", "64", "--n", "10000", "--steps", "500")
    assert r.code == 0, r.err
    line = [ln for ln in r.out.splitlines() if "improved conversion" in ln][0]
    sigma = float(line.split("σ = ")[1].split()[0])
    assert epsilon_for(sigma, 64 / 10000, 500, 1e-5, "poisson").epsilon <= 2.0 + 1e-9


@pytest.mark.parametrize("args,needle", [
    (["epsilon", "--sigma", "0", "--batch", "64", "--n", "1000", "--steps", "10"], "--sigma must be a positive"),
    (["epsilon", "--sigma", "1", "--batch", "64", "--n", "1000", "--steps", "10", "--delta", "1.5"], "--delta must be in (0, 1)"),
    (["epsilon", "--sigma", "1", "--batch", "64", "--n", "1000", "--steps", "10", "--sampling", "x"], "--sampling 'x' is unknown"),
    (["sigma", "--epsilon", "-2", "--batch", "64", "--n", "1000", "--steps", "10"], "--epsilon must be a positive"),
    (["sigma", "--epsilon", "1e-4", "--batch", "500", "--n", "1000", "--steps", "100000"], "smallest reachable ε is"),
    (["epsilon", "--sigma", "1", "--batch", "2000", "--n", "1000", "--steps", "10"], "larger than the 1000 rows"),
])
def test_dp_cli_bad_inputs(args, needle, cli):
    from conftest import assert_user_error

    assert_user_error(cli("dp", *args), needle)
