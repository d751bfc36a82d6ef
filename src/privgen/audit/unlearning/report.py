"""report.md and curves.png of the audit: the verdicts with their rule, both tables (quality rule off and on),
what the attacker gets, and one plot of model vs oracle per regime. One report per audited model."""

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
    return payload.get("forget_attribute") or class_label(payload["forget_class"], payload.get("class_names"))


def _confidence_of(payload: dict[str, Any]) -> str:
    return "the class asked" if payload.get("forget_attribute") else _forgotten(payload)


def _real_of(payload: dict[str, Any]) -> str:
    return f"with {payload['forget_attribute']}" if payload.get("forget_attribute") else "of the class"


def _probe_of(payload: dict[str, Any]) -> str:
    if payload.get("forget_attribute"):
        return f"asked for {payload['forget_attribute']} (spread over the classes)"
    return "of the forgotten class"


def _judged_by(payload: dict[str, Any]) -> str:
    if payload.get("forget_attribute"):
        return ("each counted when its attribute measures as the forgotten value and the evaluation classifier "
                "reads the class asked (a recognisable digit in it)")
    return "judged by the evaluation classifier"


def recovery_cell(w: dict[str, Any]) -> str:
    return f"{100 * w['recovery']:+.0f} [{100 * w['ci'][0]:+.0f}, {100 * w['ci'][1]:+.0f}] at {w['step']}"


def speedup_cell(s: dict[str, Any] | None) -> str:
    return format_speedup(s) if s else "n/a"


def _verdict_cell(v: dict[str, Any]) -> str:
    return f"**{v['verdict']}**"


def table_rows(payload: dict[str, Any], roles: list[str]) -> list[list[object]]:
    """The rule-on table: a row per regime × lr on the steps the quality rule keeps."""
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
            if "verdict" in c["model"]:
                row.append(_verdict_cell(c["model"]["verdict"]["rule_on"]))
            for role in roles[1:]:
                row += [recovery_cell(c[role]["worst_recovery"]) if h else "inconclusive",
                        speedup_cell(c[role]["speedup"])]
            rows.append(row)
    return rows


def rule_off_rows(payload: dict[str, Any], roles: list[str]) -> list[list[object]]:
    """The rule-off table: a row per regime × lr on every attack step."""
    rows = []
    for name, reg in payload["regimes"].items():
        for c in reg["cells"]:
            row: list[object] = [name, f"{c['lr']:g}", f"{c['model']['rates'][-1]:.0%} / {c['oracle']['rates'][-1]:.0%}"]
            for role in roles:
                off = c[role]["rule_off"]
                row += [recovery_cell(off["worst_recovery"]), speedup_cell(off["speedup"])]
                if role == "model":
                    row.append(_verdict_cell(c[role]["verdict"]["rule_off"]))
            rows.append(row)
    return rows


def verdict_rows(payload: dict[str, Any], role: str = "model") -> list[list[object]]:
    """Each regime's word in both tables, then each budget's with the reason and, when undecided, what would
    decide it (in the headline's table)."""
    table = payload["headline"]["table"]
    rows = []
    for name, reg in payload["regimes"].items():
        v = reg[role]["verdict"]
        rows.append([f"**{name}**", "all", f"**{v['rule_off']}**", f"**{v['rule_on']}**", "", ""])
        for c in reg["cells"]:
            cv = c[role]["verdict"]
            rows.append([name, f"{c['lr']:g}", cv["rule_off"]["verdict"], cv["rule_on"]["verdict"],
                         cv[table]["why"], cv[table]["decide"] or ""])
    return rows


def _quality_cell(q: list[dict[str, Any]] | None, step: int) -> str:
    if q is None:
        return "not recorded"
    p = next(x for x in q if x["step"] == step)
    fd = "n/a" if p["fd_forgotten"] is None else f"{p['fd_forgotten']:.3g}"
    return f"{p['confidence']:.0%} / {fd}"


def attacker_rows(payload: dict[str, Any], roles: list[str]) -> list[list[object]]:
    """What the attacker gets: forgotten-class samples' confidence and FD, before and after each attack."""
    rows = []
    for name, reg in payload["regimes"].items():
        for c in reg["cells"]:
            first, last = c["steps"][0], c["steps"][-1]
            row: list[object] = [name, f"{c['lr']:g}"]
            for role in [*roles, "oracle"]:
                q = c[role].get("forgotten_quality")
                row += [_quality_cell(q, first), _quality_cell(q, last)]
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
        word = payload["regimes"][name]["model"].get("verdict", {}).get(payload.get("headline", {}).get("table"))
        ax.set_title(f"{name}: {word}" if word else name, fontsize=9)
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
    from privgen.audit.unlearning.verdict import TABLES, THREATS

    roles = ["model"] + (["original"] if payload["original"] else [])
    s = payload["settings"]
    headline = payload["headline"]
    save_curves_plot(payload, run.file(CURVES), roles)
    last = payload["regimes"][next(iter(payload["regimes"]))]["cells"][0]["steps"][-1]
    on_headers = ["regime", "lr", "steps kept by the quality rule", "forget rate at the last kept step: model / oracle",
                  "worst recovery, points [95% CI] at step", f"speedup to {s['rate']:.0%} [95% CI]", "verdict"]
    off_headers = ["regime", "lr", f"forget rate at step {last}: model / oracle", "worst recovery, points [95% CI] at step",
                   f"speedup to {s['rate']:.0%} [95% CI]", "verdict"]
    att_headers = ["regime", "lr"] + [f"{role}: {when}" for role in [*roles, "oracle"]
                                      for when in ("before the attack", f"after {last} steps")]
    if "original" in roles:
        on_headers += ["original: worst recovery", "original: speedup"]
        off_headers += ["original: worst recovery", "original: speedup"]
    other = "rule_on" if headline["table"] == "rule_off" else "rule_off"
    lines = [
        "# Unlearning audit: can the released model be made to relearn?\n",
        f"**{payload['verdict']}.**\n",
        f"Model `{payload['model']}`, forgotten {_forgotten(payload)}; control: the retrain oracle "
        f"`{payload['oracle']}`" + (f"; reference: the original `{payload['original']}`" if payload["original"] else "")
        + ".\n",
        f"**Threat model** (`--threat {headline['threat']}`): the attacker {THREATS[headline['threat']].attacker}. "
        f"The headline therefore reads the table with the {TABLES[headline['table']]}; the table with the "
        f"{TABLES[other]} is below it too, with its own verdicts (model: "
        f"**{payload['verdicts']['model'][other]['overall']}**)."
        + (f" The original, attacked alike: **{payload['verdicts']['original'][headline['table']]['overall']}**."
           if "original" in roles else "") + "\n",
        f"**Rule** (margins: `--margin {s['margin']:g}` points, `--speedup-margin {s['speedup_margin']:g}`): "
        f"{payload['verdict_rule']}\n",
        "## Verdicts\n",
        markdown_table(["regime", "lr", "quality rule off", "quality rule on",
                        f"why ({TABLES[headline['table']].split(' (')[0]})", "what would decide it"],
                       verdict_rows(payload)),
        f"\n## Quality rule off: every attack step counts\n",
        markdown_table(off_headers, rule_off_rows(payload, roles)),
        f"\n## Quality rule on: steps the oracle's retained quality keeps\n",
        markdown_table(on_headers, table_rows(payload, roles)),
        f"\n## What the attacker gets: samples of {_forgotten(payload)}\n",
        f"The classifier's mean confidence in {_confidence_of(payload)} / the FD of the probe's {s['n_per_class']} "
        f"samples against the real test images {_real_of(payload)} (in the classifier's feature space; biased upward "
        f"at few samples, so compare the model with the oracle, same count), before the attack and after all {last} "
        "steps.\n",
        markdown_table(att_headers, attacker_rows(payload, roles)),
        "",
        f"- **Recovery** = the model's forget rate after the attack minus the oracle's after the same attack "
        f"(Newcombe hybrid score 95% interval), the largest over the counted steps. "
        f"**Speedup** = steps the oracle needs to reach a {s['rate']:.0%} forget rate ÷ steps the model needs "
        f"(linear interpolation between probe points; 95% percentile bootstrap, {2000} resamples); ≥ means the "
        "oracle never got there within the counted budget (so the value is a lower bound), ≤ that the model never did.",
        f"- **Quality rule**: a budget counts only up to the last step at which the oracle's retained FD stays within "
        f"{s['quality_factor']:g}× its own before the attack, at guidance 1 and 3 "
        f"({s['quality_n_per_class']} samples per class); an attack that destroys a model is not recovery to an "
        "attacker who needs the retained classes.",
        f"- Forget rate: {s['n_per_class']} samples {_probe_of(payload)} per curve point at guidance "
        f"{s['guidance_scale']:g} ({describe(s['sampler'], s['num_inference_steps'])}), {_judged_by(payload)} "
        f"(test accuracy {payload['classifier_test_accuracy']}). Attack: batch {s['batch_size']}, probes at steps "
        f"{', '.join(map(str, payload['regimes'][next(iter(payload['regimes']))]['cells'][0]['steps']))}.\n",
        f"## Curves\n\n![curves]({CURVES})\n",
        f"Every number: [metrics.json](metrics.json). Wall time {payload['wall_seconds']:.0f} s; attack tasks "
        + ", ".join(f"{role} {sec:.0f} s" for role, sec in payload["attack_task_seconds"].items() if sec)
        + " (an attack read back from the cache counts as almost nothing).\n",
    ]
    write_markdown(run.file("report.md"), "\n".join(lines))
