"""results.json and report.md of `privgen bench unlearning`: one table, relearning curves, before/after grids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from privgen.bench.unlearning_tasks import BenchSettings, MethodSpec, grid_classes, guidance_key, guidance_scales, slug
from privgen.data.class_names import class_label, class_name
from privgen.diffusion.solvers import describe
from privgen.report import markdown_table, save_image_grid, write_markdown
from privgen.runs import read_json
from privgen.serial import to_dict
from privgen.unlearn.run import DEFAULT_LR

ORIGINAL, ORACLE = "original", "retrain"


def _model_entry(s: BenchSettings, label: str, method: str, options: dict, unlearn: dict | None, attack: dict,
                 pretrain_seconds: float) -> dict[str, Any]:
    g = f"g{s.guidance:g}"
    before, after = attack["before"], attack["after"]
    seconds = unlearn.get("unlearn_seconds") if unlearn else None
    return {
        "method": method, "options": options,
        "forget_acc": before[g]["forget_acc"], "fd_retained": before[g]["fd_retained"],
        "forget_acc_after_attack": after[g]["forget_acc"], "fd_retained_after_attack": after[g]["fd_retained"],
        "relearn_curve": attack["attack"]["relearn_curve"],
        "unlearn_seconds": seconds,
        "unlearn_fraction_of_pretrain": seconds / pretrain_seconds if seconds is not None and pretrain_seconds else None,
        "unlearn_steps": unlearn.get("steps") if unlearn else None,
        "attack_seconds": attack["attack"]["attack_seconds"],
        "aux_loss_before": attack["attack"]["aux_loss_before"], "aux_loss_after": attack["attack"]["aux_loss_after"],
        "by_guidance": {k: {"before": before[k], "after": after[k]} for k in map(guidance_key, guidance_scales(s))},
        "model_dir": unlearn.get("dir") if unlearn else None, "attacked_dir": attack["attacked_dir"],
    }


def build_results(s: BenchSettings, specs: list[MethodSpec], results: dict[str, Any], classifier_dir: str,
                  wall_seconds: float) -> dict[str, Any]:
    pre = results["pretrain"]
    pretrain_seconds = float(pre.get("train_seconds") or 0.0)
    models = {ORIGINAL: _model_entry(s, ORIGINAL, ORIGINAL, {}, None, results[f"attack {ORIGINAL}"], pretrain_seconds)}
    for spec in specs:
        models[spec.label] = _model_entry(s, spec.label, spec.method, spec.options_dict(),
                                          results[f"unlearn {spec.label}"], results[f"attack {spec.label}"],
                                          pretrain_seconds)
    oracle = models[ORACLE]
    for m in models.values():
        for key in map(guidance_key, guidance_scales(s)):
            ref = oracle["by_guidance"][key]["after"]["forget_acc"]
            m["by_guidance"][key]["recovery_vs_oracle"] = m["by_guidance"][key]["after"]["forget_acc"] - ref
        m["recovery_vs_oracle"] = m["by_guidance"][f"g{s.guidance:g}"]["recovery_vs_oracle"]
    clf_metrics = read_json(Path(classifier_dir) / "metrics.json")
    first = models[ORIGINAL]["by_guidance"][guidance_key(guidance_scales(s)[0])]["before"]
    return {
        "config": to_dict(s), "num_classes": results[f"attack {ORIGINAL}"]["num_classes"],
        "class_names": results[f"attack {ORIGINAL}"].get("class_names"), "methods": models,
        "sample_counts": {"n_per_class": s.n_per_class, "n_forget": first["n_forget"],
                          "n_retained": first["n_retained"], "n_real_retained": first["n_real_retained"],
                          "curve_n": s.curve_n, "eval_steps": s.eval_steps, "sampler": s.sampler},
        "classifier": {"dir": classifier_dir, "test_accuracy": clf_metrics.get("test_accuracy")},
        "pretrain": {"dir": pre["dir"], "train_seconds": pretrain_seconds, "steps": pre.get("steps")},
        "unlearn_lr": s.unlearn_lr if s.unlearn_lr is not None else DEFAULT_LR,
        "wall_seconds": round(wall_seconds, 1),
    }


CSV_COLUMNS = ["model", "method", "guidance_scale", "when", "forget_acc", "forget_acc_ci_low", "forget_acc_ci_high",
               "retained_class_acc", "fd_retained", "n_forget", "n_retained", "recovery_vs_oracle"]


def results_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model × guidance × before/after the attack: the tidy form of results.json's numbers."""
    rows = []
    for label, m in payload["methods"].items():
        for key, by in m["by_guidance"].items():
            for when in ("before", "after"):
                e = by[when]
                rows.append({"model": label, "method": m["method"], "guidance_scale": float(key[1:]), "when": when,
                             "forget_acc": e["forget_acc"], "forget_acc_ci_low": e["forget_acc_ci"][0],
                             "forget_acc_ci_high": e["forget_acc_ci"][1], "retained_class_acc": e["retained_class_acc"],
                             "fd_retained": e["fd_retained"], "n_forget": e["n_forget"], "n_retained": e["n_retained"],
                             "recovery_vs_oracle": by["recovery_vs_oracle"] if when == "after" else ""})
    return rows


def write_results_csv(path: Path, payload: dict[str, Any]) -> Path:
    """results.csv for pandas, R or a spreadsheet; floats are written in full (repr), so they read back equal."""
    import csv
    import io

    from privgen.runs import atomic_write_text

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(results_rows(payload))
    atomic_write_text(path, buf.getvalue())
    return path


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def results_table(payload: dict[str, Any]) -> str:
    s = payload["config"]
    g = f"g{s['guidance']:g}"
    keys = list(next(iter(payload["methods"].values()))["by_guidance"])
    rows = []
    for label, m in payload["methods"].items():
        accs = []
        for k in keys:
            b = m["by_guidance"][k]
            ci = b["after"]["forget_acc_ci"]
            band = f" [{_pct(ci[0])}, {_pct(ci[1])}]" if k == g else ""
            accs.append(f"{_pct(b['before']['forget_acc'])} → {_pct(b['after']['forget_acc'])}{band}")
        rows.append([
            label,
            "-" if m["unlearn_seconds"] is None else f"{m['unlearn_seconds']:.3g} ({100 * m['unlearn_fraction_of_pretrain']:.1f}%)",
            *accs,
            f"{100 * m['recovery_vs_oracle']:+.0f} pts",
            f"{m['fd_retained']:.2f} → {m['fd_retained_after_attack']:.2f}",
            f"{m['attack_seconds']:.0f}",
        ])
    heads = [f"forget acc {k}: before → after" + (" [95% CI after]" if k == g else "") for k in keys]
    return markdown_table(["model", "unlearn s (of pretrain)", *heads, f"recovery vs oracle ({g})",
                           f"FD retained ({g}): before → after", "attack s"], rows)


def plot_curves(payload: dict[str, Any], path: Path) -> None:
    """relearn_curves.png: every model's curve with its 95% Wilson band (curve_n samples per point), the
    retrain oracle dashed; the same plot as `attack relearn --probe-every` draws for one model."""
    from privgen.eval.intervals import wilson
    from privgen.report import save_rate_curves

    s, n = payload["config"], payload["sample_counts"]["curve_n"]
    series = {}
    for label, m in payload["methods"].items():
        steps, acc = zip(*m["relearn_curve"])
        series[label] = (steps, acc, [wilson(round(a * n), n) for a in acc])
    save_rate_curves(series, path,
                     xlabel=f"attack steps (aux: {s['aux']}, lr {s['attack_lr']:g}, batch {s['attack_batch']})",
                     ylabel=f"forget accuracy at guidance {s['guidance']:g} (%)",
                     title=f"DiMRA relearning curves, {_forgotten(payload)} forgotten ({n} samples/point, 95% Wilson bands)",
                     styles={ORACLE: {"linestyle": "--", "color": "black"}})


def save_grids(out: Path, payload: dict[str, Any]) -> dict[str, str]:
    s = payload["config"]
    g = f"g{s['guidance']:g}"
    files = {}
    for label in payload["methods"]:
        with np.load(out / "grids" / f"{slug(label)}.npz", allow_pickle=False) as z:
            rows, names = [], []
            for c in grid_classes(s["forget"], payload["num_classes"]):
                for when in ("before", "after"):
                    rows.append(z[f"{when}_{g}_{c}"])
                    names.append(f"{class_name(c, payload.get('class_names'))} {when}")
        name = f"grid_{slug(label)}.png"
        save_image_grid(rows, out / name, names, title=f"{label}: guidance {s['guidance']:g}, before / after the attack")
        files[label] = name
    return files


def _forgotten(payload: dict[str, Any]) -> str:
    return class_label(payload["config"]["forget"], payload.get("class_names"))


def _steps_used(payload: dict[str, Any]) -> str:
    steps = sorted({m["unlearn_steps"] for k, m in payload["methods"].items() if k not in (ORIGINAL, ORACLE)})
    return "/".join(map(str, steps)) or "-"


def write_report(out: Path, s: BenchSettings, payload: dict[str, Any]) -> Path:
    plot_curves(payload, out / "relearn_curves.png")
    grids = save_grids(out, payload)
    c = payload["sample_counts"]
    cfg = payload["config"]
    text = [
        f"# Unlearning benchmark: {_forgotten(payload)} of {cfg['data']}\n",
        f"Recipe `{cfg['recipe']}` (pretraining {payload['pretrain']['steps']} steps, "
        f"{payload['pretrain']['train_seconds']:.0f} s); unlearning {_steps_used(payload)} steps "
        f"at lr {payload['unlearn_lr']:g}; DiMRA attack on `{cfg['aux']}` data: {cfg['attack_steps']} steps, lr "
        f"{cfg['attack_lr']:g}, batch {cfg['attack_batch']}, the same for every model. Evaluation classifier test "
        f"accuracy {payload['classifier']['test_accuracy']:.3f}. {c['n_per_class']} samples per class "
        f"({c['n_forget']} under the forgotten class, {c['n_retained']} retained vs {c['n_real_retained']} real test "
        f"images), {describe(c.get('sampler', 'ddim'), c['eval_steps'])}. Wall time {payload['wall_seconds']:.0f} s.\n",
        "Forget accuracy = share of samples under the forgotten class that the classifier labels as it (lower is "
        "better). Recovery vs oracle = forget accuracy after the attack minus the retrain oracle's after the same "
        "attack: what the attack brings back beyond what it teaches a model that never saw the class.\n",
        results_table(payload),
        "\n## Relearning curves\n\n![relearning curves](relearn_curves.png)\n",
        f"\n## Samples before and after the attack (rows: {_forgotten(payload)} (forgotten) and two retained classes)\n",
    ]
    text += [f"\n### {label}\n\n![{label}]({name})\n" for label, name in grids.items()]
    return write_markdown(out / "report.md", "\n".join(text))
