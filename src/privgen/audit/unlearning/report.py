"""report.md and curves.png of the audit: one table, one verdict line, one plot of model vs oracle per regime."""

from __future__ import annotations

import math
from typing import Any

from privgen.audit.unlearning.scores import format_speedup
from privgen.data.class_names import class_label
from privgen.diffusion.solvers import describe
from privgen.report import markdown_table, save_figure, write_markdown
from privgen.runs import RunDir

CURVES = "curves.png"


def _forgotten(payload: dict[str, Any]) -> str:
    return class_label(payload["forget_class"], payload.get("class_names"))


def recovery_cell(w: dict[str, Any]) -> str:
    return f"{100 * w['recovery']:+.0f} [{100 * w['ci'][0]:+.0f}, {100 * w['ci'][1]:+.0f}] at {w['step']}"


def speedup_cell(s: dict[str, Any] | None) -> str:
    return format_speedup(s) if s else "n/a"


def table_rows(payload: dict[str, Any], roles: list[str]) -> list[list[object]]:
    rows = []
    for name, reg in payload["regimes"].items():
        for c in reg["cells"]:
            h = c["horizon"]
            i = c["steps"].index(h)
            row: list[object] = [name, f"{c['lr']:g}",
                                 f"{h} of {c['steps'][-1]}" if h else f"none (oracle's FD breaks the rule by {c['steps'][1]})",
                                 f"{c['model']['rates'][i]:.0%} / {c['oracle']['rates'][i]:.0%}",
                                 recovery_cell(c["model"]["worst_recovery"]) if h else "inconclusive (no kept step)",
                                 speedup_cell(c["model"]["speedup"])]
            for role in roles[1:]:
                row += [recovery_cell(c[role]["worst_recovery"]) if h else "inconclusive",
                        speedup_cell(c[role]["speedup"])]
            rows.append(row)
    return rows


def save_curves_plot(payload: dict[str, Any], path, roles: list[str]) -> None:
    import matplotlib.pyplot as plt

    names = list(payload["regimes"])
    cols = min(4, len(names))
    nrows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.4 * cols, 2.8 * nrows), dpi=100, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = {"model": "-", "oracle": "--", "original": ":"}
    for ax, name in zip(axes.flat, names):
        for j, c in enumerate(payload["regimes"][name]["cells"]):
            colour = colours[j % len(colours)]
            for role in ["oracle", *roles]:
                ax.plot(c["steps"], [100 * r for r in c[role]["rates"]], styles[role], color=colour, marker="o",
                        markersize=2.5, linewidth=1.2, label=f"{role}, lr {c['lr']:g}")
            if c["horizon"] < c["steps"][-1]:
                ax.axvline(c["horizon"], color=colour, linewidth=0.8, alpha=0.6)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(-3, 103)
        ax.grid(alpha=0.3)
        ax.set_xlabel("attack steps", fontsize=8)
        ax.set_ylabel("forget rate (%)", fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=7, frameon=False)
    fig.suptitle(f"forget rate of {_forgotten(payload)} under DiMRA: model (solid) vs retrain oracle (dashed)\n"
                 "a vertical line ends the budget the quality rule keeps", fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 0.92))
    save_figure(fig, path)


def write_report(run: RunDir, payload: dict[str, Any]) -> None:
    roles = ["model"] + (["original"] if payload["original"] else [])
    s = payload["settings"]
    save_curves_plot(payload, run.file(CURVES), roles)
    headers = ["regime", "lr", "steps kept by the quality rule", "forget rate at the last kept step: model / oracle",
               "worst recovery, points [95% CI] at step", f"speedup to {s['rate']:.0%} [95% CI]"]
    if "original" in roles:
        headers += ["original: worst recovery", "original: speedup"]
    lines = [
        "# Unlearning audit: can the released model be made to relearn?\n",
        f"**{payload['verdict']}.**\n",
        f"Model `{payload['model']}`, forgotten {_forgotten(payload)}; control: the retrain oracle "
        f"`{payload['oracle']}`" + (f"; reference: the original `{payload['original']}`" if payload["original"] else "")
        + ".\n",
        markdown_table(headers, table_rows(payload, roles)),
        f"- **Recovery** = the model's forget rate after the attack minus the oracle's after the same attack "
        f"(Newcombe hybrid score 95% interval), the largest over the steps the quality rule keeps. "
        f"**Speedup** = steps the oracle needs to reach a {s['rate']:.0%} forget rate ÷ steps the model needs "
        f"(linear interpolation between probe points; 95% percentile bootstrap, {2000} resamples); ≥ means the "
        "oracle never got there within the kept budget (so the value is a lower bound), ≤ that the model never did.",
        f"- **Quality rule**: a budget counts only up to the last step at which the oracle's retained FD stays within "
        f"{s['quality_factor']:g}× its own before the attack, at guidance 1 and 3 "
        f"({s['quality_n_per_class']} samples per class); an attack that destroys a model is not recovery.",
        f"- Forget rate: {s['n_per_class']} samples of the forgotten class per curve point at guidance "
        f"{s['guidance_scale']:g} ({describe(s['sampler'], s['num_inference_steps'])}), judged by the evaluation classifier "
        f"(test accuracy {payload['classifier_test_accuracy']}). Attack: batch {s['batch_size']}, probes at steps "
        f"{', '.join(map(str, payload['regimes'][next(iter(payload['regimes']))]['cells'][0]['steps']))}.\n",
        f"## Curves\n\n![curves]({CURVES})\n",
        f"Every number: [metrics.json](metrics.json). Wall time {payload['wall_seconds']:.0f} s; attack tasks "
        + ", ".join(f"{role} {sec:.0f} s" for role, sec in payload["attack_task_seconds"].items() if sec)
        + " (an attack read back from the cache counts as almost nothing).\n",
    ]
    write_markdown(run.file("report.md"), "\n".join(lines))
