"""Renderers of docs_tables for the audit, DP, VFL, diffusion and attribute-unlearning results files.

Each renderer turns the payloads of one marker (one per file, in the marker's order) and its key=value
arguments into Markdown; where a bench already writes the same table in its report, the bench's own
function is called, so report and doc cannot differ.
"""

from __future__ import annotations

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
