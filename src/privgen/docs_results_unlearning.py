"""Renderers of the unlearning results (docs tables, `privgen.docs_tables`): the attribute benchmark, attack
curves, colour forgetting, and the unlearning audit. The other studies' renderers are in `docs_results`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from privgen.docs_tables import renderer
from privgen.report import markdown_table

Payloads = list[Any]
Args = dict[str, str]


def _list(args: Args, key: str) -> list[str]:
    return [v for v in args.get(key, "").split(",") if v]


# ---- attribute unlearning (privgen bench unlearning --forget-attribute: results.json) ----

def _p1(v: float) -> str:
    s = f"{100 * v:.1f}"
    return (s[:-2] if s.endswith(".0") and v in (0.0, 1.0) else s) + "%"


def _ci(ci: list[float]) -> str:
    return f"[{_p1(ci[0])}, {_p1(ci[1])}]"


ORACLE, ORIGINAL = "retrain", "original"


def _attr_label(name: str) -> str:
    return name + " oracle" if name == ORACLE else name


@renderer("attribute-bench")
def _attribute_bench(payloads: Payloads, args: Args) -> str:
    """Per model: the forgotten value's rate before → after the attack, against the oracle, and the unlearned
    model's kept-value rate, class accuracy and retained FD (× the oracle's)."""
    models = payloads[0]["models"]
    order = _list(args, "rows") or list(models)
    oracle = models[ORACLE]
    rows = []
    for name in order:
        m = models[name]
        b, a = m["before"], m["after"]
        rate = [f"{_p1(b[g]['forget_rate'])} → {_p1(a[g]['forget_rate'])} {_ci(a[g]['forget_rate_ci'])}" for g in ("g1", "g3")]
        gap = "—" if name == ORACLE else " / ".join(
            f"{100 * (a[g]['forget_rate'] - oracle['after'][g]['forget_rate']):+.1f}" for g in ("g1", "g3"))
        ratio = [b[g]["fd_retained"] / oracle["before"][g]["fd_retained"] for g in ("g1", "g3")]
        rel = "1.00" if name == ORACLE else " / ".join(f"{r:.2f}" for r in ratio)
        rows.append([_attr_label(name), *rate, gap,
                     " / ".join(_p1(b[g]["kept_attr_acc"]) for g in ("g1", "g3")),
                     " / ".join(_p1(b[g]["class_acc"]) for g in ("g1", "g3")),
                     " / ".join(f"{b[g]['fd_retained']:.2f}" for g in ("g1", "g3")) + f" ({rel})"])
    name, attr = payloads[0]["forget_attribute"].split("=")
    return markdown_table(["model", f"{attr} rate g1: before → after DiMRA [95% CI after]",
                           f"{attr} rate g3: before → after [95% CI after]", "after − oracle (g1 / g3)",
                           f"kept {name} values as asked g1 / g3", "class acc. (kept) g1 / g3",
                           "FD retained g1 / g3 (× oracle)"], rows)


@renderer("attribute-curve")
def _attribute_curve(payloads: Payloads, args: Args) -> str:
    models = payloads[0]["models"]
    order = _list(args, "rows") or list(models)
    rows = [[_attr_label(name), " / ".join(f"{100 * p['forget_rate']:.0f}" for p in models[name]["attack"]["relearn_curve"]) + "%"]
            for name in order]
    return markdown_table(["model", "curve"], rows)


@renderer("attribute-dimra-per-value")
def _attribute_dimra_per_value(payloads: Payloads, args: Args) -> str:
    """One attribute benchmark per forgotten value and seed (results.json each): the forget rate at the
    headline guidance before → after DiMRA for DiMUM, the oracle and the original; DiMUM's gap to the oracle
    after the attack with its Newcombe 95% interval; DiMUM's relearning curve."""
    from privgen.audit.unlearning.scores import difference_ci

    g = args.get("guidance", "g3")
    rows = []
    for p in sorted(payloads, key=lambda p: (p["forget_attribute"], p["settings"]["seed"])):
        models = p["models"]
        d, o = models["dimum"]["after"][g], models[ORACLE]["after"][g]
        k_d, k_o = round(d["forget_rate"] * d["n_forget"]), round(o["forget_rate"] * o["n_forget"])
        lo, hi = difference_ci(k_d, d["n_forget"], k_o, o["n_forget"])
        rows.append([p["forget_attribute"], p["settings"]["seed"],
                     f"{_p1(models['dimum']['before'][g]['forget_rate'])} → {_p1(d['forget_rate'])} {_ci(d['forget_rate_ci'])}",
                     f"{_p1(models[ORACLE]['before'][g]['forget_rate'])} → {_p1(o['forget_rate'])} {_ci(o['forget_rate_ci'])}",
                     f"{_p1(models[ORIGINAL]['before'][g]['forget_rate'])} → {_p1(models[ORIGINAL]['after'][g]['forget_rate'])}",
                     f"{100 * (d['forget_rate'] - o['forget_rate']):+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]",
                     f"{_p1(models['dimum']['before'][g]['measure_rate'])} → {_p1(d['measure_rate'])}",
                     " / ".join(f"{100 * q['forget_rate']:.0f}" for q in models["dimum"]["attack"]["relearn_curve"]) + "%"])
    return markdown_table(["forgotten", "seed", f"DiMUM {g}: before → after [95% CI]", "oracle: before → after [95% CI]",
                           "original: before → after", "DiMUM − oracle after, points [95% CI]",
                           "DiMUM, measured as the value (digit or not): before → after",
                           "DiMUM's curve (every 200 steps)"], rows)


@renderer("attack-curves")
def _attack_curves(payloads: Payloads, args: Args) -> str:
    """`attack relearn --probe-every` runs (metrics.json each, named by `names=`): the forget rate at every
    probe point, and the measurement alone at the last one."""
    names = _list(args, "names")
    rows = [[name, " / ".join(f"{100 * q['forget_acc']:.0f}" for q in m["relearn_curve"]) + "%",
             _p1(m["relearn_curve"][-1].get("measure_rate", float("nan"))), m["relearn_curve"][-1]["n"]]
            for name, m in zip(names, payloads)]
    return markdown_table(["model", "forget rate at each probe (every 200 steps)", "measured as the value at the end",
                           "samples per point"], rows)


@renderer("attribute-quality")
def _attribute_quality(payloads: Payloads, args: Args) -> str:
    """Unlearned models' evaluation before any attack at guidance 3: records of the evaluating script (JSON
    lines) and, from attribute benchmark results.json files, the rows of `rows=` (default dimum, retrain)."""
    g = args.get("guidance", "g3")
    labels = _list(args, "rows") or ["dimum", ORACLE]
    found = []
    for p in payloads:
        if isinstance(p, dict):
            tag = f"{p['forget_attribute']}, seed {p['settings']['seed']}"
            found += [(f"{_attr_label(k)} ({tag}, benchmark)", p["models"][k]["before"][g]) for k in labels]
        else:
            found += [(r["model"], r[g]) for r in p]
    rows = [[name, _p1(m["forget_rate"]), _p1(m["kept_attr_acc"]), _p1(m["class_acc"]), _p1(m["forget_class_acc"]),
             f"{m['fd_retained']:.2f}"] for name, m in found]
    return markdown_table(["model", "forget rate", "kept colours as asked", "class acc. (kept colours)",
                           "class acc. under the forgotten colour", "FD retained"], rows)


# ---- the unlearning audit (privgen audit unlearning: metrics.json, with and without the quality rule) ----

def _audit_model(p: dict) -> str:
    name = Path(p["model"]).name.split("-")[0]
    return f"{name} ({p['forget_attribute']})" if p.get("forget_attribute") else name


@renderer("unlearning-audit")
def _unlearning_audit(payloads: Payloads, args: Args) -> str:
    """Files in pairs: an audit under the quality rule, then the same attacks read back without it (a huge
    --quality-factor); one row per model, regime and learning rate."""
    from privgen.audit.unlearning.report import recovery_cell, speedup_cell

    if len(payloads) % 2:
        raise ValueError("unlearning-audit takes its files in pairs: the audit with the rule, then without")
    rows = []
    for on, off in zip(payloads[::2], payloads[1::2]):
        for regime in on["regimes"]:
            for c_on, c_off in zip(on["regimes"][regime]["cells"], off["regimes"][regime]["cells"]):
                h, last = c_on["horizon"], c_off["steps"][-1]
                i = c_off["steps"].index(last)
                rows.append([_audit_model(on), regime, f"{c_on['lr']:g}",
                             f"{h} of {c_on['steps'][-1]}" if h else f"none (oracle's FD breaks the rule by {c_on['steps'][1]})",
                             recovery_cell(c_on["model"]["worst_recovery"]), speedup_cell(c_on["model"]["speedup"]),
                             f"{c_off['model']['rates'][i]:.0%} / {c_off['oracle']['rates'][i]:.0%}",
                             recovery_cell(c_off["model"]["worst_recovery"]), speedup_cell(c_off["model"]["speedup"])])
    factor = payloads[0]["settings"]["quality_factor"]
    return markdown_table(["model", "regime", "lr", f"steps kept (rule {factor:g}x)", "recovery, rule on",
                           "speedup, rule on", f"forget rate at {last}: model / oracle", "recovery, rule off",
                           "speedup to 50%, rule off"], rows)


@renderer("colour-forgetting")
def _colour_forgetting(payloads: Payloads, args: Args) -> str:
    """Samples asked for the forgotten colour, per unlearned model (records of the measuring script): the share
    whose stroke hue reads as that colour, the share read as the digit asked for, and both, at guidance 1 / 3."""
    def cell(r: dict, what: str) -> str:
        return " / ".join(f"{100 * r[g][what]['rate']:.0f}%" for g in ("g1", "g3"))

    rows = [[r["model"], r["method"], r["value"], cell(r, "hue"), cell(r, "digit"), cell(r, "both")]
            for p in payloads for r in sorted(p, key=lambda r: (r["method"] != "dimum", r["model"]))]
    return markdown_table(["model", "method", "forgotten", "hue reads as it (g1 / g3)", "a recognisable digit (g1 / g3)",
                           "both: a digit in that colour (g1 / g3)"], rows)


@renderer("unlearning-verdicts")
def _unlearning_verdicts(payloads: Payloads, args: Args) -> str:
    """Audits with verdict words (one metrics.json each, both tables inside): one row per model, regime and
    learning rate; the recovery and speedup of the table without the rule, both verdicts, and what the
    attacker gets at the last step (forgotten-class confidence and FD, model / oracle)."""
    from privgen.audit.unlearning.report import recovery_cell, speedup_cell

    rows = []
    for p in payloads:
        for regime, r in p["regimes"].items():
            for c in r["cells"]:
                m, o = c["model"], c["oracle"]
                qm, qo = m["forgotten_quality"][-1], o["forgotten_quality"][-1]
                rows.append([_audit_model(p), regime, f"{c['lr']:g}",
                             f"{m['rates'][0]:.0%} → {m['rates'][-1]:.0%} / {o['rates'][0]:.0%} → {o['rates'][-1]:.0%}",
                             recovery_cell(m["rule_off"]["worst_recovery"]), speedup_cell(m["rule_off"]["speedup"]),
                             m["verdict"]["rule_off"]["verdict"], m["verdict"]["rule_on"]["verdict"],
                             f"{qm['confidence']:.2f} / {qo['confidence']:.2f}",
                             f"{qm['fd_forgotten']:.0f} / {qo['fd_forgotten']:.0f}"])
    return markdown_table(["model", "regime", "lr", "forget rate, start → end: model / oracle",
                           "recovery (rule off)", "speedup to 50% (rule off)", "verdict, rule off",
                           "verdict, rule on", "confidence in c_f at the end: model / oracle",
                           "FD of c_f samples at the end: model / oracle"], rows)
