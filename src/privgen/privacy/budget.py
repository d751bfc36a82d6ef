"""Check a privacy budget given by the user and turn it into σ (or ε): the one place the bad-input rules live.

Both the calculator (`privgen dp ...`) and training (`privgen vfl train --dp ...`) call `plan_budget`, so a
budget is refused with the same words everywhere, before anything is written.
"""

from __future__ import annotations

import math
import sys

from privgen.errors import UserError
from privgen.privacy.accountant import CONVERSIONS, SAMPLINGS, Accounting, epsilon_for, sigma_for

SIGMA_MAX = 200.0


def warn(message: str) -> None:
    """A warning the user must see (never silent), one line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def check_budget_args(epsilon: float | None, delta: float, sigma: float | None, n: int, batch: int, steps: int,
                      sampling: str, conversion: str) -> None:
    if sampling not in SAMPLINGS:
        raise UserError(f"--sampling {sampling!r} is unknown; choose one of {', '.join(SAMPLINGS)}")
    if conversion not in CONVERSIONS:
        raise UserError(f"--conversion {conversion!r} is unknown; choose one of {', '.join(CONVERSIONS)}")
    if (epsilon is None) == (sigma is None):
        raise UserError("give exactly one of --epsilon (σ is calibrated) and --sigma (ε is reported)")
    if epsilon is not None and not (epsilon > 0 and math.isfinite(epsilon)):
        raise UserError(f"--epsilon must be a positive number, got {epsilon}")
    if sigma is not None and not (sigma > 0 and math.isfinite(sigma)):
        raise UserError(f"--sigma must be a positive number, got {sigma}")
    if not 0 < delta < 1:
        raise UserError(f"--delta must be in (0, 1), got {delta}; 1e-5 or below 1/N is usual")
    if n <= 0 or batch <= 0 or steps <= 0:
        raise UserError(f"--n, --batch and --steps must be positive, got {n}, {batch}, {steps}")
    if batch > n:
        raise UserError(f"--batch {batch} is larger than the {n} rows; use a batch of at most {n}")


def plan_budget(epsilon: float | None, delta: float, sigma: float | None, n: int, batch: int, steps: int,
                sampling: str, conversion: str = "improved") -> Accounting:
    """σ calibrated to (ε, δ) over `steps` steps at rate batch/n, or the ε that a given σ spends."""
    check_budget_args(epsilon, delta, sigma, n, batch, steps, sampling, conversion)
    if delta >= 1.0 / n:
        warn(f"δ = {delta:g} is not below 1/N = {1.0 / n:.3g}: a mechanism that publishes one row at random "
             "meets it; prefer δ < 1/N")
    q = batch / n
    if sigma is not None:
        return epsilon_for(sigma, q, steps, delta, sampling, conversion)
    assert epsilon is not None
    try:
        return sigma_for(epsilon, q, steps, delta, sampling, conversion, sigma_max=SIGMA_MAX)
    except ValueError:
        floor = epsilon_for(SIGMA_MAX, q, steps, delta, sampling, conversion).epsilon
        raise UserError(f"ε = {epsilon:g} cannot be met in {steps} steps at rate {q:.4g} and δ = {delta:g}: the "
                        f"smallest reachable ε is {floor:.4g} (σ = {SIGMA_MAX:g}); raise --epsilon or train for "
                        "fewer steps") from None
