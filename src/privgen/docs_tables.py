"""Tables in README.md and docs/*.md generated from committed results files, so a doc cannot drift from them.

A generated block sits between two markers:

    <!-- table: docs/demo/results.json demo -->
    ...Markdown written by the renderer...
    <!-- end table -->

The opening marker names the results file(s) (paths from the repository root, comma-separated to merge), the
renderer (a name in RENDERERS) and optional key=value arguments for it. `python -m privgen.docs_tables`
rewrites every block (and docs/cli.md) in place; `--check` rewrites nothing and exits 1 listing each block
that differs from what its files give. A marker may be indented (a table inside a list item): its block is
indented alike. A `.jsonl` file is read as a list of records. More renderers: privgen.docs_results.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

from privgen.report import markdown_table

MARKER = re.compile(r"(?P<open>^(?P<indent>[ \t]*)<!-- table: (?P<files>\S+) (?P<kind>[\w-]+)(?P<args>(?: [\w.-]+=\S+)*) -->\n)"
                    r"(?P<body>.*?)(?P<close>[ \t]*<!-- end table -->)", re.S | re.M)

Renderer = Callable[[list[dict[str, Any]], dict[str, str]], str]
RENDERERS: dict[str, Renderer] = {}


def renderer(name: str) -> Callable[[Renderer], Renderer]:
    def register(fn: Renderer) -> Renderer:
        RENDERERS[name] = fn
        return fn
    return register


# ---- cells of the unlearning benchmark's results.json (one model's entry m, its label, the payload) ----

def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def _by(m: dict[str, Any], g: str) -> dict[str, Any]:
    return m["by_guidance"][g]


def _acc(g: str, band: bool) -> Callable[[str, dict, dict], str]:
    def cell(label: str, m: dict, p: dict) -> str:
        b = _by(m, g)
        ci = b["after"]["forget_acc_ci"]
        extra = f" [{_pct(ci[0])}, {_pct(ci[1])}]" if band else ""
        return f"{_pct(b['before']['forget_acc'])} → {_pct(b['after']['forget_acc'])}{extra}"
    return cell


def _fd(g: str) -> Callable[[str, dict, dict], str]:
    def cell(label: str, m: dict, p: dict) -> str:
        b = _by(m, g)
        return f"{b['before']['fd_retained']:.2f} → {b['after']['fd_retained']:.2f}"
    return cell


def _seconds(v: float) -> str:
    return f"{v:,.0f}" if v >= 1000 else f"{v:.3g}"


def _unlearn(label: str, m: dict, p: dict) -> str:
    if m["unlearn_seconds"] is None:
        return "-"
    return f"{_seconds(m['unlearn_seconds'])} ({100 * m['unlearn_fraction_of_pretrain']:.1f}%)"


def _curve(label: str, m: dict, p: dict) -> str:
    points = [round(100 * a) for _, a in m["relearn_curve"]]
    return f"{points[0]} at every point" if len(set(points)) == 1 else ", ".join(map(str, points))


def _retained_g1(label: str, m: dict, p: dict) -> str:
    b = _by(m, "g1")
    return f"{b['before']['retained_class_acc']:.2f} → {b['after']['retained_class_acc']:.2f}"


def _curve_every(p: dict) -> str:
    c = next(iter(p["methods"].values()))["relearn_curve"]
    return f"{c[1][0] - c[0][0]:,}" if len(c) > 1 else "?"


BENCH_COLUMNS: dict[str, tuple[Callable[[dict], str], Callable[[str, dict, dict], str]]] = {
    "model": (lambda p: "model", lambda label, m, p: label),
    "unlearn": (lambda p: "unlearn s (of pretrain)", _unlearn),
    "acc_g1": (lambda p: "forget acc g1: before → after", _acc("g1", False)),
    "acc_g3": (lambda p: "forget acc g3: before → after [95% CI after]", _acc("g3", True)),
    "recovery": (lambda p: "recovery vs oracle (g3)", lambda label, m, p: f"{100 * _by(m, 'g3')['recovery_vs_oracle']:+.0f} pts"),
    "fd_g1": (lambda p: "FD retained g1: before → after", _fd("g1")),
    "fd_g3": (lambda p: "FD retained g3: before → after", _fd("g3")),
    "fd_g3_short": (lambda p: "FD retained (g3): before → after", _fd("g3")),
    "retained_g1": (lambda p: "retained class acc g1: before → after", _retained_g1),
    "attack_s": (lambda p: "attack s", lambda label, m, p: f"{m['attack_seconds']:.0f}"),
    "curve_g3": (lambda p: f"curve g3, every {_curve_every(p)} steps", _curve),
}
DEFAULT_BENCH_COLUMNS = "model,unlearn,acc_g1,acc_g3,recovery,fd_g3_short,attack_s"  # results_table's columns


def _bench_table(payloads: list[dict[str, Any]], args: dict[str, str]) -> str:
    """One row per model of one or more `bench unlearning` results.json (a later file adds the models the
    earlier ones lack); `cols=` picks BENCH_COLUMNS, `rows=` the models and their order."""
    cols = args.get("cols", DEFAULT_BENCH_COLUMNS).split(",")
    unknown = [c for c in cols if c not in BENCH_COLUMNS]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}; known: {sorted(BENCH_COLUMNS)}")
    models: dict[str, tuple[dict, dict]] = {}
    for p in payloads:
        for label, m in p["methods"].items():
            models.setdefault(label, (m, p))
    order = args["rows"].split(",") if "rows" in args else list(models)
    missing = [r for r in order if r not in models]
    if missing:
        raise ValueError(f"model(s) {missing} not in the results; present: {list(models)}")
    rows = [[BENCH_COLUMNS[c][1](label, *models[label]) for c in cols] for label in order]
    return markdown_table([BENCH_COLUMNS[c][0](payloads[0]) for c in cols], rows)


renderer("unlearning-bench")(_bench_table)


@renderer("unlearning-compare")
def _bench_compare(payloads: list[dict[str, Any]], args: dict[str, str]) -> str:
    """Forget accuracy at guidance 3 of the same models in two runs: the first file against the others merged
    (`as.LABEL=OTHER` reads the other runs' OTHER row for LABEL)."""
    first, rest = payloads[0], payloads[1:]
    merged: dict[str, dict] = {}
    for p in rest:
        for label, m in p["methods"].items():
            merged.setdefault(label, m)
    order = args["rows"].split(",") if "rows" in args else list(first["methods"])
    cell = _acc("g3", False)

    def head(p: dict) -> str:
        c = p["config"]
        return f"{c.get('sampler') or 'ddim'}-{c['eval_steps']}"
    rows = [[label + (f" (other run: {args['as.' + label]})" if "as." + label in args else ""),
             cell(label, first["methods"][label], first), cell(label, merged[args.get("as." + label, label)], rest[0])]
            for label in order]
    return markdown_table(["model", f"this run ({head(first)}): forget acc g3, before → after",
                           f"earlier run ({head(rest[0])})"], rows)


# ---- the demo's results.json (privgen.demo.run_demo) ----

DEMO_TIME_TARGET_S = 10 * 60


@renderer("demo")
def _demo_table(payloads: list[dict[str, Any]], args: dict[str, str]) -> str:
    return _bench_table([p["unlearning"]["bench"] for p in payloads], args)


def _minutes(s: float) -> str:
    return f"{int(s // 60)} min {round(s % 60):02d} s"


def _load_average(mach: dict[str, Any]) -> str:
    """The 1-min load average at the demo's start and end, where the run recorded them."""
    if "load_average_at_start" not in mach:
        return ""
    return (f" (1-min load average {mach['load_average_at_start'][0]:.2f} at the start, "
            f"{mach['load_average_at_end'][0]:.2f} at the end)")


@renderer("demo-story")
def _demo_story(payloads: list[dict[str, Any]], args: dict[str, str]) -> str:
    """What the demo run showed: the reversal sentence, the two GANs side by side, the DP audit's verdict."""
    from privgen.demo.story import fd_cell, reversal_sentence

    p = payloads[0]
    vfl, dp = p["vfl"], p["dp"]
    rows = [[label, fd_cell(m), f"{m['association_error']:.3f}",
             f"{m['utility']:.3f} ({m['utility_real']:.3f})"]
            for label, m in sorted(vfl["models"].items(), key=lambda kv: kv[0] != "vflgan")]  # ours first
    q = vfl["quality"]
    return "\n".join([
        f"- Unlearning: {reversal_sentence(p['unlearning']['story'])}",
        f"- VFL on MNIST halves (shipped models, {vfl['models']['vflgan']['iterations']} iterations each): VFLGAN "
        + ("meets" if q["met"] else "misses") + f" the reference quality (FD ≤ {q['fd_target']:g}, TSTR ≥ "
        f"{q['utility_target']:g}).",
        "", markdown_table(["model", "FD [95% bootstrap]", "cross-party association error", "TSTR (real)"], rows),
        f"- Adult, three parties, {vfl['adult']['iterations']} iterations: TSTR {vfl['adult']['utility']:.3f} (real "
        f"{vfl['adult']['utility_real']:.3f}), association error {vfl['adult']['association_error']:.3f}.",
        f"- Sound DP (ε = {dp['claimed_epsilon']:.3g}, δ = {dp['delta']:g}, {dp['adjacency']}) audited in one run: "
        f"**{dp['verdict']}**, ε ≥ {dp['eps_lower_bound']:.2f} (ceiling {dp['max_certifiable_epsilon']:.2f}).",
    ]) + "\n"


@renderer("shipped-checkpoints")
def _shipped_checkpoints(payloads: list[dict[str, Any]], args: dict[str, str]) -> str:
    """The manifest of the shipped checkpoints: what each is, its size, and the command that made it."""
    m = payloads[0]
    rows = [[f"`{e['name']}`", e["summary"], f"{e['bytes'] / 1e6:.1f}", f"`{e['command']}`"] for e in m["checkpoints"]]
    env = m["checkpoints"][0]["environment"]
    return (markdown_table(["checkpoint", "what", "MB", "made by"], rows)
            + f"\nTotal {m['total_bytes'] / 1e6:.1f} MB; built {m['built']} with privgen "
            f"{m['checkpoints'][0]['privgen_version']}, torch {env['torch']}, on CPU"
            + (f" (PRIVGEN_THREADS={env['PRIVGEN_THREADS']})" if env.get("PRIVGEN_THREADS") else "") + ".\n")


@renderer("demo-times")
def _demo_times(payloads: list[dict[str, Any]], args: dict[str, str]) -> str:
    """The demo's time against its target, stage by stage; a contended or unknown machine is said so."""
    p = payloads[0]
    mach, st, total = p["machine"], p["stage_seconds"], p["total_seconds"]
    contended = {True: "contended (other jobs shared the CPU, so the times are upper bounds)",
                 False: "alone on the machine", None: "contention unknown"}[mach.get("contended")]
    time_verdict = ("not tested: the run was contended" if mach.get("contended") else
                    "met" if total <= DEMO_TIME_TARGET_S else "missed")
    order = ["foundation", "unlearning", "vfl", "dp"]  # the demo's order (results.json stores keys sorted)
    stages = ", ".join(f"{name} {st[name]:.0f} s" for name in sorted(st, key=lambda k: order.index(k) if k in order else len(order)))
    return "\n".join([
        f"- Run {p['date']}, {mach['cores']} cores, torch {mach['torch']}, {contended}{_load_average(mach)}, "
        + ("every model trained by the run (--from-scratch)." if p.get("from_scratch") else "shipped models."),
        f"- **{_minutes(total)}** after setup (target ≤ 10 min: {time_verdict} in this run). The stages: {stages}; "
        f"{p['user_cpu_seconds']:.0f} s of user CPU.",
        _unlearning_time(p["unlearning"]["bench"]),
    ]) + "\n"


def _unlearning_time(bench: dict[str, Any]) -> str:
    """Where the unlearning stage's time goes: the attacks and the unlearning runs, summed over the worker processes."""
    ms = bench["methods"]
    attacks = sum(m["attack_seconds"] for m in ms.values())
    trained = {k: m["unlearn_seconds"] for k, m in ms.items() if m["unlearn_seconds"] is not None and k != "retrain"}
    workers = 2 * bench["wall_seconds"]
    spent = attacks + sum(trained.values())
    return (f"- Where the unlearning stage goes ({bench['wall_seconds']:.0f} s wall, 2 workers, so at most "
            f"{workers:.0f} s of worker time): the fine-tuning of {len(ms)} DiMRA attacks of "
            f"{bench['config']['attack_steps']} steps, {attacks:.0f} s; unlearning "
            + ", ".join(f"{k} {v:.0f} s" for k, v in trained.items())
            + f"; the other {workers - spent:.0f} s or less is sampling (each model's evaluation before and after "
            "its attack, the curve probes) and idle workers. The shipped oracle's own "
            f"{ms['retrain']['unlearn_seconds']:.0f} s of training is not spent by the demo.")


# ---- rewriting and checking ----

def _parse_args(text: str) -> dict[str, str]:
    return dict(a.split("=", 1) for a in text.split())


def _load(path: Path) -> Any:
    """A results file: JSON, or JSON Lines (a list of records)."""
    text = path.read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" else json.loads(text)


def render_block(root: Path, files: str, kind: str, args: str) -> str:
    if kind not in RENDERERS:
        raise ValueError(f"unknown table kind {kind!r}; known: {sorted(RENDERERS)}")
    payloads = [_load(root / f) for f in files.split(",")]
    body = RENDERERS[kind](payloads, _parse_args(args))
    return body if body.endswith("\n") else body + "\n"


def _block(root: Path, m: re.Match) -> str:
    """A marker's body, indented as its marker is (a table inside a list item)."""
    body = render_block(root, m["files"], m["kind"], m["args"])
    return "".join(m["indent"] + line if line.strip() else line for line in body.splitlines(True))


def _malformed(text: str, where: str = "") -> None:
    """A marker the pattern does not read would be skipped silently: refuse it instead."""
    starts = {m.start() + len(m["indent"]) for m in MARKER.finditer(text)}
    for m in re.finditer(r"<!-- table:", text):
        if m.start() not in starts:
            line = text[:m.start()].count("\n") + 1
            raise ValueError(f"{where}line {line}: malformed table marker (want `<!-- table: FILE[,FILE] KIND [key=value ...] -->`, "
                             f"then the table, then `<!-- end table -->`)")


def render_text(text: str, root: Path, where: str = "") -> str:
    """The document with every generated block re-rendered from its files."""
    _malformed(text, where)
    return MARKER.sub(lambda m: m["open"] + _block(root, m) + m["close"], text)


def documents(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def mismatches(root: Path, docs: list[Path] | None = None) -> list[str]:
    """One line (plus a diff) per generated block that differs from what its files give."""
    out = []
    for doc in docs or documents(root):
        text = doc.read_text()
        _malformed(text, f"{doc}: ")
        for m in MARKER.finditer(text):
            want = _block(root, m)
            if want != m["body"]:
                line = text[:m.start()].count("\n") + 1
                diff = "".join(difflib.unified_diff(m["body"].splitlines(True), want.splitlines(True), "doc", "files"))
                out.append(f"{doc.relative_to(root)}:{line}: table from {m['files']} ({m['kind']}) differs\n{diff}")
    return out


def rewrite(root: Path, docs: list[Path] | None = None) -> list[Path]:
    changed = []
    for doc in docs or documents(root):
        text = doc.read_text()
        new = render_text(text, root, f"{doc}: ")
        if new != text:
            doc.write_text(new)
            changed.append(doc)
    return changed


def main(argv: list[str] | None = None) -> int:
    from privgen.docs_cli import cli_markdown

    ap = argparse.ArgumentParser(prog="python -m privgen.docs_tables", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="rewrite nothing; exit 1 listing every stale table")
    ap.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root (default: here)")
    a = ap.parse_args(argv)
    cli_doc = a.root / "docs" / "cli.md"
    if a.check:
        bad = mismatches(a.root)
        if not cli_doc.exists() or cli_doc.read_text() != cli_markdown():
            bad.append("docs/cli.md differs from the command tree")
        for b in bad:
            print(b, file=sys.stderr)
        return 1 if bad else 0
    for doc in rewrite(a.root):
        print(f"rewrote {doc.relative_to(a.root)}")
    if not cli_doc.exists() or cli_doc.read_text() != cli_markdown():
        cli_doc.write_text(cli_markdown())
        print("rewrote docs/cli.md")
    return 0


import privgen.docs_results  # noqa: E402,F401  (registers the audit, DP, VFL, diffusion renderers)
import privgen.docs_results_unlearning  # noqa: E402,F401  (the unlearning and attribute renderers)

if __name__ == "__main__":  # run as a script this file is `__main__`; the renderers register in privgen.docs_tables
    from privgen.docs_tables import main as _main

    sys.exit(_main())
