"""`privgen bench unlearning`: every method, the DiMRA attack on each, with the retrain oracle as control.

Graph: pretrain ∥ retrain oracle → the fine-tuning methods → for every model (original, oracle, methods):
evaluate (a task), then attack with the same budget and evaluate again (a second task). Results:
results.json, results.csv (tidy: model × guidance × before/after), report.md, PNGs.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from privgen.bench.pool import Task, check_executor, run_graph
from privgen.bench.unlearning_tasks import (BenchSettings, MethodSpec, reserve_pretrain, task_attack, task_evaluate,
                                            task_pretrain, task_unlearn, with_data_reference)
from privgen.diffusion.solvers import get_solver
from privgen.errors import UserError
from privgen.serial import to_dict
from privgen.runs import RunDir, atomic_write_json

KIND = "bench-unlearning"
ORIGINAL, ORACLE = "original", "retrain"


def parse_methods(text: str) -> list[MethodSpec]:
    """A comma list of `all`, `name` or `name:key=value:...` (e.g. `all,dimum:alt=noise`); the oracle is
    always added (it is the control)."""
    from privgen.unlearn import METHODS, build_method

    items = [m.strip() for m in text.split(",") if m.strip()]
    if not items:
        raise UserError("--methods is empty; use all or a list like dimum,salun,ga")
    items = [m for item in items for m in ([m for m in METHODS if m != ORACLE] if item == "all" else [item])]
    specs, seen = [], set()
    for item in items:
        name, *pairs = item.split(":")
        opts = []
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise UserError(f"--methods entry {item!r}: options look like name:key=value")
            opts.append((key.replace("-", "_"), value))
        spec = MethodSpec(item, name, tuple(opts))
        build_method(name, spec.options_dict())  # unknown method or foreign option: one clear error now
        if item in seen or item in (ORIGINAL,):
            raise UserError(f"--methods lists {item!r} twice (or names the reserved 'original')")
        seen.add(item)
        if name != ORACLE:
            specs.append(spec)
    return [MethodSpec(ORACLE, ORACLE)] + specs


def validate(s: BenchSettings, workers: int) -> None:
    from privgen import checks
    from privgen.attacks.aux import AUX_SOURCES
    from privgen.diffusion.model import get_recipe

    get_recipe(s.recipe)
    if s.aux not in AUX_SOURCES or s.aux == "kshot":
        raise UserError(f"--aux must be one of {', '.join(a for a in AUX_SOURCES if a != 'kshot')} for the benchmark "
                        f"(kshot names the forgotten class; use privgen attack relearn for it), got {s.aux!r}")
    checks.resolve_device(s.device)
    checks.positive_int("--attack-steps", s.attack_steps)
    checks.positive_int("--attack-batch-size", s.attack_batch)
    checks.finite_positive("--attack-lr", s.attack_lr)
    if s.unlearn_lr is not None:
        checks.finite_positive("--unlearn-lr", s.unlearn_lr)
    checks.optional_positive_int("--unlearn-steps", s.unlearn_steps)
    if s.curve_points <= 0 or s.curve_points > s.attack_steps:
        raise UserError(f"--curve-points must be between 1 and --attack-steps, got {s.curve_points}")
    checks.positive_int("--n-per-class", s.n_per_class, minimum=10)  # a Fréchet distance needs 10 samples
    checks.positive_int("--curve-n-per-class", s.curve_n)
    checks.ddim_steps("--num-inference-steps", s.eval_steps)
    get_solver(s.sampler)
    checks.finite_positive("--guidance-scale", s.guidance)
    checks.positive_int("--workers", workers)


def resolve_forget(s: BenchSettings) -> BenchSettings:
    """The forgotten class by id or name, checked against the dataset's classes."""
    from privgen.data import load_images
    from privgen.data.splits import resolve_class

    ds = load_images(s.data, 8)
    c = resolve_class(s.forget, ds.class_names, f"dataset {s.data}", "--forget", source=ds.name)
    if ds.num_classes < 2:
        raise UserError("the dataset has a single class: forgetting it leaves nothing to keep")
    return replace(s, forget=c)


def plan(s: BenchSettings, specs: list[MethodSpec], classifier_dir: str, out: str, attack=task_attack,
         evaluate=task_evaluate) -> list[Task]:
    """pretrain → each unlearning (the oracle needs no pretrained model) → evaluate every model → attack it
    and evaluate it again; `evaluate` and `attack` are the tasks for one model (a class's, or an attribute's
    in bench.unlearning_attribute). Evaluations come first in the queue: they are short, and the attacks
    that follow fill the workers more evenly than evaluation-and-attack tasks would."""
    tasks = [Task("pretrain", task_pretrain, (s,))]
    for spec in specs:
        deps = () if spec.method == ORACLE else ("pretrain",)
        tasks.append(Task(f"unlearn {spec.label}", task_unlearn, (s, spec), deps))
    models = [(ORIGINAL, "pretrain")] + [(spec.label, f"unlearn {spec.label}") for spec in specs]
    for step, fn in (("evaluate", evaluate), ("attack", attack)):
        for label, dep in models:
            deps = (dep,) if step == "evaluate" else (dep, f"evaluate {label}")
            tasks.append(Task(f"{step} {label}", fn, deps=deps,
                              bind=lambda r, lab=label, d=dep: (s, lab, r[d]["dir"], classifier_dir, out)))
    return tasks


def run_benchmark(s: BenchSettings, methods: str, out: Path, workers: int = 2, overwrite: bool = False,
                  quiet: bool = False, executor: str = "local", address: str | None = None) -> RunDir:
    """The benchmark's tasks on `executor` (`local` process pool, or `ray` with `address`); the executor
    does not change a number, so it is not part of config.json and either can resume the other's run."""
    from privgen.bench.unlearning_report import build_results, write_report, write_results_csv
    from privgen.eval import cached_classifier

    s = with_data_reference(s)
    if s.forget_attribute:
        from privgen.bench.unlearning_attribute import check_attribute, run_attribute_benchmark

        if s.forget is not None:
            raise UserError("give --forget (a class) or --forget-attribute (NAME=VALUE), not both")
        check_attribute(s)
        validate(s, workers)
        check_executor(executor, address)
        return run_attribute_benchmark(s, parse_methods(methods), out, workers, overwrite, quiet, executor, address)
    s = resolve_forget(s)
    validate(s, workers)
    check_executor(executor, address)
    specs = parse_methods(methods)
    config = {"settings": to_dict(s), "methods": [sp.label for sp in specs], "workers": workers}
    run = RunDir.create(out, KIND, config, overwrite=overwrite, resume=True)
    start = time.perf_counter()
    _, clf_cfg, clf_dir = cached_classifier(s.data, _image_size(s), 0, device=s.device, quiet=quiet)
    reserve_pretrain(s)
    results = run_graph(plan(s, specs, str(clf_dir), str(out)), workers, desc="bench unlearning", quiet=quiet,
                        executor=executor, address=address)
    payload = build_results(s, specs, results, str(clf_dir), time.perf_counter() - start)
    return publish(run, s, payload, len(specs) + 1, write_results_csv, write_report)


def publish(run: RunDir, s: BenchSettings, payload: dict[str, Any], models: int, write_csv, write_md) -> RunDir:
    """results.json, results.csv, report.md, then metrics.json (written last: it marks the run finished)."""
    atomic_write_json(run.file("results.json"), payload)
    write_csv(run.file("results.csv"), payload)
    write_md(run.path, s, payload)
    run.write_metrics({"wall_seconds": payload["wall_seconds"], "methods": models})
    return run


def _image_size(s: BenchSettings) -> int:
    from privgen.diffusion.model import get_recipe

    return get_recipe(s.recipe).image_size
