"""Renderers of docs_tables for the audit, DP, VFL, diffusion and attribute-unlearning results files.

Each renderer turns the payloads of one marker (one per file, in the marker's order) and its key=value
arguments into Markdown; where a bench already writes the same table in its report, the bench's own
function is called, so report and doc cannot differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from privgen.docs_tables import renderer
from privgen.report import markdown_table

Payloads = list[Any]
Args = dict[str, str]


def _list(args: Args, key: str) -> list[str]:
    return [v for v in args.get(key, "").split(",") if v]


def _pick(d: dict[str, Any], args: Args) -> dict[str, Any]:
    """The entries named in `rows=`, in that order (default: all, in the file's order)."""
    order = _list(args, "rows") or list(d)
    missing = [k for k in order if k not in d]
    if missing:
        raise ValueError(f"row(s) {missing} not in the results; present: {list(d)}")
    return {k: d[k] for k in order}


# ---- membership audits of synthetic data (privgen audit synthetic: metrics.json) ----

def _acc(a: dict) -> str:
    lo, hi = a["accuracy_ci95"]
    return f"{a['accuracy_mean']:.3f} ± {a['accuracy_std']:.3f} [{lo:.2f}, {hi:.2f}]"


def _asif_label(name: str) -> str:
    party, features = name.removeprefix("intermediate.party").split(".")
    return f"ASIF party {party} {features}"


def _span(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return format(lo, fmt) if format(lo, fmt) == format(hi, fmt) else f"{lo:{fmt}}–{hi:{fmt}}"


@renderer("audit-attacks")
def _audit_attacks(payloads: Payloads, args: Args) -> str:
    """The published-data attacks (ASSD), the intermediate-feature attacks named in `asif=` (partyK.features),
    and the other ASIF attacks summarised as ranges; the best attack is marked."""
    m = payloads[0]
    attacks, best = m["attacks"], m["best_attack"]

    def row(label: str, name: str) -> list[str]:
        a = attacks[name]
        return [label + (" (best)" if name == best else ""), _acc(a), f"{a['auc_mean']:.3f}",
                f"{a['tpr_at_fpr_10pct']:.2f}", f"{a['epsilon_lb']:.3g}"]
    rows = [row(f"ASSD {k} (synthetic)", f"synthetic.{k}") for k in ("corr", "naive", "both")]
    shown = ["intermediate.party" + s for s in _list(args, "asif")]
    missing = [s for s in shown if s not in attacks]
    if missing:
        raise ValueError(f"attack(s) {missing} not in the results; present: {list(attacks)}")
    rows += [row(_asif_label(n), n) for n in shown]
    rest = [a for n, a in attacks.items() if n.startswith("intermediate.") and n not in shown]
    if rest:
        rows.append([f"ASIF, the other {len(rest)}", _span([a["accuracy_mean"] for a in rest], ".3f"),
                     _span([a["auc_mean"] for a in rest], ".3f"), f"≤ {max(a['tpr_at_fpr_10pct'] for a in rest):.2f}",
                     _span([a["epsilon_lb"] for a in rest], ".3g")])
    return markdown_table(["attack", "accuracy mean ± sd [95% CI]", "AUC", "TPR @ FPR 10%", "ε lower bound"], rows)


@renderer("audit-dp-bench")
def _audit_dp_bench(payloads: Payloads, args: Args) -> str:
    from privgen.bench.audit_dp import summary_table

    return summary_table(_pick(payloads[0]["rows"], args))


@renderer("audit-speedup")
def _audit_speedup(payloads: Payloads, args: Args) -> str:
    """`privgen bench audit`'s shadow-training speed-up (bench.json), as one sentence."""
    b = payloads[0]
    return (f"{b['seconds_1_worker']:.1f} s on 1 worker, {b['seconds_2_workers']:.1f} s on {b['workers']}, "
            f"**{b['speedup']:.2f}×** ({b['models']} VFLGAN shadow models on {b['data']}, {b['rows']:,} rows, "
            f"{b['iterations']} iterations).")


@renderer("audit-cost")
def _audit_cost(payloads: Payloads, args: Args) -> str:
    """The one-run audit's cost against the shadow audit's (bench audit --dp --cost), as one sentence."""
    c = payloads[0]["cost"]
    return (f"The K = {c['pairs']} shadow audit ({2 * c['pairs']} models, {c['iterations']} generator iterations "
            f"each) took {c['shadow_seconds']:.0f} s and the one-run audit {c['one_run_seconds']:.1f} s: "
            f"**{c['ratio']:.3f}** of its time (goal ≤ 1/20).")


# ---- DP utility grid (privgen bench vfl --dp: metrics.json) ----

@renderer("dp-bench")
def _dp_bench(payloads: Payloads, args: Args) -> str:
    from privgen.bench.vfl_dp import rows_table

    scenarios = payloads[0]["scenarios"]
    name = args.get("scenario", next(iter(scenarios)))
    return rows_table(_pick(scenarios[name]["rows"], args))


# ---- VFL benches (privgen bench vfl [--transport ray]: metrics.json) ----

SCENARIO_NAMES = {"adult": "Adult, 3 parties", "mnist_halves": "MNIST halves",
                  "mnist_halves_reference": "MNIST halves, reference"}


@renderer("vfl-ray-step")
def _vfl_ray_step(payloads: Payloads, args: Args) -> str:
    rows = []
    for s in payloads[0]["step_time"]:
        t, b = s["iteration_time_s"], s["bytes_per_iteration"]
        same = "" if b["ray"] == b["inprocess"] == s["bytes_per_iteration_from_shapes"] else " (differ!)"
        rows.append([f"{SCENARIO_NAMES.get(s['scenario'], s['scenario'])}, {s['parties']} parties".replace(
            ", 3 parties, 3 parties", ", 3 parties"), f"{1000 * t['inprocess']:.1f}", f"{1000 * t['ray']:.1f}",
            f"**{s['ratio_ray_over_inprocess']:.2f}**", f"{b['ray']:,}{same}"])
    return markdown_table(["scenario", "in-process ms", "Ray ms", "Ray / in-process (target <= 2)",
                           "data bytes / iteration (both; = shapes)"], rows)


@renderer("vfl-psi")
def _vfl_psi(payloads: Payloads, args: Args) -> str:
    rows = [[f"{p['ids_per_party']:,}", p["parties"], p["psi_runs"], f"{p['seconds']:.1f}"]
            for pl in payloads for p in pl["psi"]]
    return markdown_table(["IDs per party", "parties", "PSI runs", "seconds"], rows)


def _scenarios(payloads: Payloads) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for p in payloads:
        out.update(p["scenarios"])
    return out


@renderer("vfl-models")
def _vfl_models(payloads: Payloads, args: Args) -> str:
    """FD, cross-party association error and TSTR utility per model; `scenarios=` picks and orders them (one
    scenario: no scenario column, the real utility in the header)."""
    scen = _scenarios(payloads)
    names = _list(args, "scenarios") or list(scen)
    models = _list(args, "models") or ["vflgan", "vertigan", "centralized"]
    rows = []
    for s in names:
        for name in models:
            m = scen[s]["models"][name]
            lo, hi = m["fd_ci95"]
            d = 1 if m["fd"] >= 10 else 2
            cells = [name, f"{m['fd']:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]", f"{m['association_error']:.3f}",
                     f"{m['utility']:.3f}" + ("" if len(names) == 1 else f" ({m['utility_real']:.3f})")]
            rows.append(cells if len(names) == 1 else [SCENARIO_NAMES.get(s, s), *cells])
    if len(names) == 1:
        real = scen[names[0]]["models"][models[0]]["utility_real"]
        return markdown_table(["model", "FD [95% bootstrap]", "cross-party association error",
                               f"utility TSTR (real {real:.3f})"], rows)
    return markdown_table(["scenario", "model", "FD [95% bootstrap]", "cross-party association error",
                           "utility TSTR (real)"], rows)


@renderer("vfl-fd-curve")
def _vfl_fd_curve(payloads: Payloads, args: Args) -> str:
    """FD at the iterations in `at=` (default: every probe) of each model of scenario `scenario=`."""
    scen = _scenarios(payloads)
    models = scen[args.get("scenario", next(iter(scen)))]["models"]
    curves = {name: {p["iteration"]: p["fd"] for p in models[name]["curve"]}
              for name in _list(args, "models") or ["vflgan", "vertigan", "centralized"]}
    at = [int(i) for i in _list(args, "at")] or sorted(next(iter(curves.values())))
    return markdown_table(["iteration", *map(str, at)], [[name, *(f"{c[i]:.1f}" for i in at)] for name, c in curves.items()])


@renderer("vfl-overhead")
def _vfl_overhead(payloads: Payloads, args: Args) -> str:
    """VFLGAN's time and multiply-add ratios, and their quotient (the overhead), against each baseline."""
    def cell(v: dict) -> str:
        return f"{v['time_ratio']:.2f}, {v['macs_ratio']:.2f}, **{v['overhead']:.2f}**"
    scen = _scenarios(payloads)
    rows = [[f"{SCENARIO_NAMES.get(s, s)}, {v['size']}".replace("reference, reference", "reference"),
             cell(v["step_time"]["vflgan_against"]["vertigan"]), cell(v["step_time"]["vflgan_against"]["centralized"])]
            for s, v in ((s, scen[s]) for s in (_list(args, "scenarios") or list(scen)))]
    return markdown_table(["scenario", "vflgan / vertigan: time, MACs, **overhead**",
                           "vflgan / centralized: time, MACs, **overhead**"], rows)


# ---- diffusion (privgen bench diffusion: its JSON; the demo16 recipe sweep) ----

@renderer("diffusion-bench")
def _diffusion_bench(payloads: Payloads, args: Args) -> str:
    b = payloads[0]
    tr, sa, th, tc = b["training"], b["sampling"], b["threads_lone_job"], b["torch_compile"]

    def sampling(s: dict) -> list[str]:
        name = {"ddim": "DDIM", "dpmpp": "DPM-Solver++"}[s["sampler"]]
        return [f"sampling at guidance {s['guidance_scale']:g}, {s['n_images']} images, {name} {s['steps']} steps "
                f"({s['network_evaluations_per_image']} evaluations/image)",
                f"{s['images_per_second']:.2f} images/s ({s['fraction_of_matmul']:.2f} of matmul)"]
    ips = th["images_per_second"]
    size = b["recipe"]["image_size"]
    rows = [
        [f"FLOPs of one UNet forward, one {size}×{size} image (FlopCounterMode)", f"{b['unet_forward_flops_per_image'] / 1e6:.1f} M"],
        [f"training step, batch {tr['batch_size']} (forward + backward, counted)",
         f"{tr['flops_per_step'] / 1e9:.1f} GFLOP; {tr['images_per_second']:.1f} images/s; {tr['flops_per_second'] / 1e9:.1f} "
         f"GFLOP/s = **{tr['fraction_of_matmul']:.2f} of the matmul rate** (matmul {tr['matmul_flops_per_second_before'] / 1e9:.1f} "
         f"GFLOP/s before, {tr['matmul_flops_per_second_after'] / 1e9:.1f} after)"],
        *(sampling(s) for s in sa.values()),
        [f"training, {th['cores']} threads against 1 (interleaved 1/2/1/2, best of each)",
         f"{ips['threads=2']:.1f} against {ips['threads=1']:.1f} images/s: **{th['speedup_all_cores_vs_one']:.2f}x**"],
        ["torch.compile (inductor), training step",
         f"compile {tc['training']['compile_seconds']:,.0f} s; then {tc['training']['compiled_seconds_per_step']:.1f} s/step "
         f"against {tc['training']['eager_seconds_per_step']:.1f} eager ({tc['training']['steady_speedup']:.2f}x); end to end "
         f"over {b['recipe']['name']}'s {tc['training']['recipe_steps']:,} steps {tc['training']['end_to_end_speedup_for_recipe']:.2f}x"],
        [f"torch.compile, sampling {tc['sampling']['n_images']} images (DPM-Solver++ 15, guidance 3)",
         f"first call {tc['sampling']['first_compiled_call_seconds']:.0f} s; then {tc['sampling']['compiled_seconds']:.0f} s "
         f"against {tc['sampling']['eager_seconds']:.0f} s eager ({tc['sampling']['steady_speedup']:.2f}x); end to end for one "
         f"evaluation {tc['sampling']['end_to_end_speedup_one_evaluation']:.2f}x"],
    ]
    return markdown_table(["quantity", "value"], rows)


@renderer("recipe-sweep")
def _recipe_sweep(payloads: Payloads, args: Args) -> str:
    """The demo16 sweep: results.jsonl (first file: each job's overrides, in order) and each job's evaluation
    metrics.json (the other files, one per job in the same order). `base.KEY=V` gives the recipe's value of an
    option a job did not override (the recipe has changed since); `bold=NAME` marks the chosen row."""
    jobs, evals = payloads[0], payloads[1:]
    if len(jobs) != len(evals):
        raise ValueError(f"{len(jobs)} jobs in the sweep's results but {len(evals)} evaluation files")
    rows = []
    for job, m in zip(jobs, evals):
        if job["sampling_seconds"] != m["sampling_seconds"]:  # the job's line copies its evaluation's scalars
            raise ValueError(f"evaluation file of job {job['name']} is out of order (sampling seconds differ)")
        over = {**{k[5:]: v for k, v in args.items() if k.startswith("base.")}, **{k: str(v) for k, v in job["over"].items()}}
        ci = m["class_accuracy"]["ci"]
        b = "**" if job["name"] == args.get("bold") else ""
        rows.append([f"{b}{over['steps']}{b}", f"{b}{over['warmup_steps']}{b}", f"{float(over['lr']):.0e}".replace("e-0", "e-"),
                     f"{b}{m['class_accuracy']['mean']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]{b}", f"{b}{m['fd']['all']:.2f}{b}"])
    return markdown_table(["steps", "warm-up", "lr", f"recognised at guidance {evals[0]['guidance_scale']:g} [95% CI]", "FD"], rows)


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


@renderer("attribute-pre-attack")
def _attribute_pre_attack(payloads: Payloads, args: Args) -> str:
    """Records of one unlearned model each (the measuring script's JSON lines): the library's forget rate of
    the forgotten value before any attack at guidance 1 / 3 with the 95% interval at 3, and the measurement
    alone beside it; grouped by method, then value and seed."""
    order = _list(args, "methods")
    records = [r for p in payloads for r in p]
    records.sort(key=lambda r: (order.index(r["method"]) if r["method"] in order else len(order), r["value"],
                                r["seed"], r["model"]))
    rows = [[r["method"] + (" (fresh_rows)" if (r.get("options") or {}).get("fresh_rows") else ""), r["value"],
             r["seed"], f"{_p1(r['g1']['forget_rate'])} / {_p1(r['g3']['forget_rate'])} {_ci(r['g3']['forget_rate_ci'])}",
             f"{_p1(r['g1']['measure_rate'])} / {_p1(r['g3']['measure_rate'])}"] for r in records]
    return markdown_table(["method", "forgotten", "seed", "forget rate g1 / g3 [95% CI at g3]",
                           "measured as the colour, digit or not: g1 / g3"], rows)


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
