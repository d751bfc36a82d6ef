"""The audit's report: one table of attacks, the ROC curves, the ε lower bound beside the claim."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from privgen.privacy.vfl_plan import ADJACENCY, CLAIM_NOTE
from privgen.report import markdown_table, save_figure, write_markdown  # noqa: E402
from privgen.runs import RunDir  # noqa: E402

ROC_PNG = "roc.png"


def save_roc(attacks: dict[str, Any], path) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4.2), dpi=100)
    for name, a in attacks.items():
        fpr, tpr, _ = roc_curve(a["roc"]["labels"], a["roc"]["scores"])
        ax.plot(fpr, tpr, linewidth=1.2, label=f"{name} (AUC {a['auc_mean']:.2f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("membership of the target: held-out shadow models", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


def write_audit_report(run: RunDir, m: dict[str, Any]) -> None:
    save_roc(m["attacks"], run.file(ROC_PNG))
    rows = []
    for name, a in m["attacks"].items():
        lo, hi = a["accuracy_ci95"]
        rows.append([name, f"{a['accuracy_mean']:.3f} ± {a['accuracy_std']:.3f} [{lo:.2f}, {hi:.2f}]",
                     f"{a['auc_mean']:.3f}", f"{a['tpr_at_fpr_1pct']:.2f}", f"{a['tpr_at_fpr_10pct']:.2f}",
                     f"{a['epsilon_lb']:.3g}"])
    first = next(iter(m["attacks"].values()))
    n_test = first["repeats"][0]["n_test_models"]
    claimed = "no DP" if m["claimed_epsilon"] is None else f"{m['claimed_epsilon']:g}"
    mode = run.config.get("dp", "none")
    if m["claimed_epsilon"] is not None and mode in CLAIM_NOTE:
        claimed += f" ({CLAIM_NOTE[mode]}; adjacency {ADJACENCY[mode]})"
    text = (f"# Membership audit of published synthetic data\n\n**{m['verdict']}**\n\n"
            f"Target: training row {m['target_row']} ({_row_text(m['target'])}). {m['pairs']} shadow pairs "
            f"(models trained with / without the target, every model its own seed); per repeat "
            f"{first['repeats'][0]['n_train_models']} models train the random-forest set classifier and {n_test} test it; "
            f"{len(first['repeats'])} repeats.\n\n"
            + markdown_table(["attack", "accuracy mean ± sd [95% CI]", "AUC", "TPR @ FPR 1%", "TPR @ FPR 10%",
                              "ε lower bound"], rows)
            + f"\nClaimed ε: {claimed} (δ = {first['delta']:g}). ε lower bound: one-sided Clopper-Pearson on FPR and FNR "
              f"(α/2 each), threshold chosen on out-of-bag scores of the training models, each repeat and each "
              f"attack at a share of α = {first['alpha'] * len(m['attacks']):g} (Bonferroni), so the best bound "
              f"holds with confidence {1 - first['alpha'] * len(m['attacks']):.0%}. With {n_test} test models per "
              f"repeat the largest provable ε is about {_max_provable(n_test // 2, first):.2f}: a bound of 0 says "
              "the attack found nothing it could prove, not that there is nothing.\n\n"
            + f"![ROC]({ROC_PNG})\n\nShadow training: {m['shadow_training']['trained']} models trained, "
              f"{m['shadow_training']['reused']} reused, {m['shadow_training']['seconds']} s on {m['workers']} workers.\n")
    write_markdown(run.file("report.md"), text)


def _row_text(row: dict[str, Any]) -> str:
    items = list(row.items())
    shown = ", ".join(f"{k}={v}" for k, v in items[:8])
    return shown + (", ..." if len(items) > 8 else "")


def _max_provable(per_side: int, attack: dict[str, Any]) -> float:
    from privgen.audit.bounds import epsilon_lower_bound

    alpha = attack["alpha"] / len(attack["repeats"])
    return epsilon_lower_bound(per_side, 0, 0, per_side, alpha=alpha, delta=attack["delta"])
