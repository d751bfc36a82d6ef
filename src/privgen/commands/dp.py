"""`privgen dp epsilon|sigma`: the RDP accountant as a calculator."""

from __future__ import annotations

import typer

app = typer.Typer(help="Differential-privacy accountant: ε from σ, or σ from ε.", no_args_is_help=True)

Batch = typer.Option(..., "--batch", help="Rows per step (B); the sampling rate is B/N.")
N = typer.Option(..., "--n", help="Training rows (N).")
Steps = typer.Option(..., "--steps", help="Noised steps (critic steps; generator steps are post-processing).")
Delta = typer.Option(1e-5, "--delta", help="δ of (ε, δ)-DP; keep it below 1/N.")
Sampling = typer.Option("poisson", "--sampling", help="poisson (sound mode) or without-replacement (the paper's).")


def _lines(acc_by_conv: dict) -> list[str]:
    return [f"  {conv:<8} conversion: ε = {a.epsilon:.4f} at order α = {a.order:g}" for conv, a in acc_by_conv.items()]


@app.command("epsilon")
def epsilon(sigma: float = typer.Option(..., "--sigma", help="Noise multiplier σ (noise std / sensitivity)."),
            batch: int = Batch, n: int = N, steps: int = Steps, delta: float = Delta, sampling: str = Sampling) -> None:
    """ε spent by `steps` subsampled-Gaussian steps, under both RDP -> (ε, δ) conversions."""
    from privgen.privacy.budget import plan_budget

    res = {c: plan_budget(None, delta, sigma, n, batch, steps, sampling, c) for c in ("improved", "classic")}
    a = res["improved"]
    print(f"σ = {sigma:g}, q = B/N = {a.sample_rate:.6g}, T = {steps}, δ = {delta:g}, sampling {sampling}")
    print(f"accountant: {a.accountant}")
    print("\n".join(_lines(res)))
    print("improved = Balle et al. 2020 / Canonne-Kamath-Steinke (opacus, dp-accounting); "
          "classic = min_α RDP(α) + log(1/δ)/(α-1) (autodp, the DP-VFLGAN paper)")


@app.command("sigma")
def sigma(epsilon: float = typer.Option(..., "--epsilon", help="Target ε."),
          batch: int = Batch, n: int = N, steps: int = Steps, delta: float = Delta, sampling: str = Sampling,
          conversion: str = typer.Option("improved", "--conversion", help="improved (default) or classic.")) -> None:
    """The smallest σ that keeps ε at most --epsilon (bisection on the accountant)."""
    from privgen.privacy.budget import plan_budget

    a = plan_budget(epsilon, delta, None, n, batch, steps, sampling, conversion)
    other = "classic" if conversion == "improved" else "improved"
    b = plan_budget(epsilon, delta, None, n, batch, steps, sampling, other)
    print(f"ε = {epsilon:g}, q = B/N = {a.sample_rate:.6g}, T = {steps}, δ = {delta:g}, sampling {sampling}")
    print(f"accountant: {a.accountant}")
    print(f"  σ = {a.sigma:.4f} ({conversion} conversion; ε = {a.epsilon:.4f} at order α = {a.order:g})")
    print(f"  σ = {b.sigma:.4f} under the {other} conversion (ε = {b.epsilon:.4f} at α = {b.order:g})")
