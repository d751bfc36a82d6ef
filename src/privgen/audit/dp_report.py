"""report.md and scores.png of a one-run DP audit: the in and out canaries' scores, the guesses, the bounds,
the verdict, and what the audit could and could not see."""

from __future__ import annotations

from typing import Any

import numpy as np

from privgen.report import markdown_table, save_figure, write_markdown
from privgen.runs import RunDir

SCORES_PNG = "scores.png"


def save_histograms(histograms: dict[str, tuple[np.ndarray, np.ndarray]], path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histograms), figsize=(5 * len(histograms), 3.6), squeeze=False)
    for ax, (name, (inside, outside)) in zip(axes[0], histograms.items()):
        both = np.concatenate([inside, outside])
        both = both[np.isfinite(both)]
        bins = np.linspace(both.min(), both.max(), 31) if len(both) and both.min() < both.max() else 10
        ax.hist(outside[np.isfinite(outside)], bins=bins, alpha=0.6, label=f"out ({len(outside)})")
        ax.hist(inside[np.isfinite(inside)], bins=bins, alpha=0.6, label=f"in ({len(inside)})")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("score (higher: guessed in)")
        ax.legend(fontsize=8)
    save_figure(fig, path)


def _claim_text(m: dict[str, Any]) -> str:
    if m["claimed_epsilon"] is None:
        return "no DP claim (trained without DP)"
    kind = "a guarantee" if m["guarantee"] else "the published mechanism's claim, not a guarantee"
    return f"ε = {m['claimed_epsilon']:.4g}, δ = {m['delta']:g} ({kind}; adjacency: {m['adjacency']})"


def write_dp_audit_report(run: RunDir, m: dict[str, Any], histograms: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    save_histograms(histograms, run.file(SCORES_PNG))
    rows = []
    for name, r in m["scores"].items():
        g = r["guesses"]
        rows.append([name, f"{r['included']} / {r['m']}", "-" if r["auc"] is None else f"{r['auc']:.3f}",
                     f"{g['k_plus']} in, {g['k_minus']} out: {g['v']} of {g['r']} right",
                     f"{r['eps_lower_bound']:.3g}", f"{r['eps_lower_bound_fdp']:.3g}",
                     f"{r['max_certifiable_epsilon']:.3g}"])
    conf = m["confidence"]
    planted = f" Planted bug: `{m['planted']}` (a benchmark of the audit's power)." if m["planted"] else ""
    text = (f"# One-run DP audit\n\n**{m['verdict']}**: ε lower bound {m['eps_lower_bound']:.3g} at "
            f"{conf:.0%} confidence against the claim {_claim_text(m)}; this audit could certify at most "
            f"{m['max_certifiable_epsilon']:.3g}.{planted}\n\n"
            f"{m['canaries']} input canaries and {m['gradient_canaries']} gradient canaries, each included by a "
            f"secret fair coin (OS CSPRNG, never written); one training run of {m['iterations']} generator "
            f"iterations ({m['train_seconds']:.0f} s); access: {m['access']}.\n\n"
            + markdown_table(["score", "in / canaries", "AUC", "guesses (best)", "ε LB (Steinke et al.)",
                              "ε LB (f-DP, Gaussian)", "ceiling"], rows)
            + f"\n![in and out canary scores]({SCORES_PNG})\n\n"
            "How to read it. The auditor guesses \"in\" for the highest scores and \"out\" for the lowest and "
            "abstains on the rest; the ε lower bound is the largest ε that the number of right guesses refutes "
            "(Steinke, Nasr, Jagielski 2023, with its δ term), searched over guess counts and score types with the "
            f"multiplicity paid for (Bonferroni), so the best bound holds at {conf:.0%}. The f-DP column tests the "
            "stronger hypothesis that the training is as private as a Gaussian mechanism with the claimed (ε, δ) "
            "(Mahloujifar, Melis, Chaudhuri 2025); the verdict uses the first. The ceiling is the bound a perfect "
            "auditor would reach with these canaries: when it is below the claim the verdict is \"no power\", "
            "and a 0 says nothing.\n\n"
            "What it sees. Black-box: only the published synthetic rows (distance from each canary to its nearest "
            "synthetic row). White-box: the final critics' scores of the canaries and, with gradient canaries, "
            "every step's (noisy) critic update at the canaries' coordinates. What it does not see: the training "
            "transcript between parties and server, and rows other than the canaries; a consistent verdict is "
            "evidence about these canaries and this attack, not a proof of the claim.\n")
    write_markdown(run.file("report.md"), text)
