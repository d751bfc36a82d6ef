"""`privgen bench unlearning --forget-attribute NAME=VALUE`: feature unlearning, attacked, against the oracle.

The same graph as the class benchmark (pretrain ∥ retrain oracle → methods → evaluate, DiMRA, evaluate),
with the attribute measured on the generated images instead of a class judged by a classifier
(`privgen.unlearn.evaluate_attribute`). The oracle is retrained without the images showing the value.
The attacker's `retain` data are the owner's images without the value; the forgotten value's images are
never read. Results: results.json, results.csv, report.md, relearning curves and grids.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from privgen.bench.pool import run_graph
from privgen.bench.unlearning import ORACLE, ORIGINAL, plan, publish
from privgen.bench.unlearning_tasks import (BenchSettings, MethodSpec, _finished, cached_images, curve_every,
                                            digest, guidance_key, guidance_scales, model_key, reserve_pretrain,
                                            sampler_key, slug)
from privgen.diffusion.solvers import describe
from privgen.cache import cache_path
from privgen.checks import resolve_device
from privgen.errors import UserError
from privgen.runs import RunDir, atomic_write_npz, atomic_write_text, read_json
from privgen.serial import to_dict

KIND = "bench-unlearning"
GRID_COLUMNS = 8
# In every evaluation and attack key: 2 since the forget rate counts only recognisable digits showing the
# value (`evaluate_attribute`), so entries scored by the measurement alone are never read back as the new rate.
MEASURE_VERSION = 2


def check_attribute(s: BenchSettings) -> None:
    """The attribute exists, its value exists, and it has a fixed measurement; before anything is written."""
    from privgen.data import load_images
    from privgen.data.attributes import measure_for
    from privgen.diffusion.condition import ConditionSpace

    ds = load_images(s.data, 8)
    space = ConditionSpace(ds.num_classes, ds.attributes)
    if not ds.attributes:
        raise UserError(f"--forget-attribute {s.forget_attribute}: dataset {s.data} has no attributes (it conditions "
                        "on classes only); use --data mnist5k-colour or mnist5k-style, or --forget CLASS")
    k, _ = space.parse(s.forget_attribute)
    if ds.attributes[k].name not in ds.meta.get("measures", {}):
        measure_for(ds, ds.attributes[k].name)  # raises the one-line refusal


def _measure_and_target(model, s: BenchSettings):
    from privgen.data.attributes import measure_for
    from privgen.diffusion.store import model_split
    from privgen.unlearn.target import ForgetTarget

    target = ForgetTarget.of_attribute(model.conditions, s.forget_attribute)
    split = model_split(model)
    return target, measure_for(split.train, target.attribute_name), split


def cached_attribute_evaluation(model, model_dir: Path, s: BenchSettings, target, measure, clf, real, clf_key: str):
    from privgen.unlearn.evaluate_attribute import evaluate_attribute

    scales = guidance_scales(s)
    key = digest({"model": model_key(model_dir), "forget_attribute": s.forget_attribute, "n": s.n_per_class,
                  "steps": s.eval_steps, "seed": s.seed, "classifier": clf_key, "scales": scales, "v": MEASURE_VERSION,
                  **sampler_key(s)})
    return cached_images(cache_path("evals-attribute", key), lambda: evaluate_attribute(
        model, target, measure, clf, real, s.n_per_class, scales, s.eval_steps, s.seed, sampler=s.sampler))


class AttributeProbe:
    """Forgotten-value rate at points along the attack (same samples at every point)."""

    def __init__(self, model, target, measure, clf, n: int, guidance: float, steps: int, seed: int,
                 sampler: str) -> None:
        self.model, self.target, self.measure, self.clf = model, target, measure, clf
        self.n, self.guidance, self.steps, self.seed, self.sampler = n, guidance, steps, seed, sampler
        self.points: list[dict[str, Any]] = []
        self.seconds = 0.0

    def __call__(self, step: int, unet) -> None:
        from privgen.eval.intervals import wilson
        from privgen.unlearn.evaluate_attribute import forget_rate

        t0 = time.perf_counter()
        was_training = unet.training
        hits, alone, n = forget_rate(unet, self.model, self.target, self.measure, self.clf, n=self.n,
                                     guidance_scale=self.guidance, num_inference_steps=self.steps, seed=self.seed,
                                     sampler=self.sampler)
        unet.train(was_training)
        self.points.append({"step": step, "forget_rate": hits / n, "forget_rate_ci": wilson(hits, n),
                            "measure_rate": alone / n, "n": n})
        self.seconds += time.perf_counter() - t0


def _evaluated_attribute(s: BenchSettings, model_dir: str, classifier_dir: str):
    """The model, classifier and key, target, measure, real references, and the model's (cached) evaluation."""
    from privgen.diffusion.model import apply_threads
    from privgen.diffusion.store import load_model
    from privgen.eval import load_classifier
    from privgen.unlearn.evaluate_attribute import AttributeReal

    dev = resolve_device(s.device)
    clf, _ = load_classifier(classifier_dir, dev)
    clf_key = digest(read_json(Path(classifier_dir) / "config.json"))
    model = load_model(model_dir, dev)
    apply_threads(model.recipe, dev)
    target, measure, split = _measure_and_target(model, s)
    real = AttributeReal.of(clf, split.test, target)
    return (model, clf, clf_key, target, measure, real,
            *cached_attribute_evaluation(model, Path(model_dir), s, target, measure, clf, real, clf_key))


def task_evaluate_attribute(s: BenchSettings, label: str, model_dir: str, classifier_dir: str, out_dir: str,
                            quiet: bool = True) -> dict[str, Any]:
    """A model's evaluation before its attack, as its own task (`bench.unlearning_tasks.task_evaluate` says why)."""
    return _evaluated_attribute(s, model_dir, classifier_dir)[6]


def task_attack_attribute(s: BenchSettings, label: str, model_dir: str, classifier_dir: str, out_dir: str,
                          quiet: bool = True) -> dict[str, Any]:
    """Evaluate a model (cached by `task_evaluate_attribute`), attack it with DiMRA (curve at checkpoints),
    evaluate the attacked model."""
    from privgen.attacks import AuxRequest, build_aux, relearn
    from privgen.attacks.aux import aux_version_key
    from privgen.attacks.relearn import aux_loss
    from privgen.diffusion.store import load_model, save_unet

    model, clf, clf_key, target, measure, real, before, img_before = _evaluated_attribute(s, model_dir, classifier_dir)

    every = curve_every(s.attack_steps, s.curve_points)
    attack_key = {"model": model_key(Path(model_dir)), "aux": s.aux, **aux_version_key(s.aux),
                  "forget_attribute": s.forget_attribute, "steps": s.attack_steps, "lr": s.attack_lr,
                  "batch": s.attack_batch, "seed": s.seed, "every": every, "curve_n": s.curve_n,
                  "guidance": s.guidance, "eval_steps": s.eval_steps, "v": MEASURE_VERSION, **sampler_key(s)}
    att_dir = cache_path("attacked", f"{slug(label)}-{digest(attack_key)}")
    if not _finished(att_dir):
        aux = build_aux(s.aux, AuxRequest(model, seed=s.seed, deleted_attribute=s.forget_attribute, classifier=clf))
        run = RunDir.create(att_dir, "diffusion", {**model.config, "attack": {**attack_key, "label": label,
                                                                               "n_aux": len(aux)}}, overwrite=True)
        probe = AttributeProbe(model, target, measure, clf, s.curve_n, s.guidance, s.eval_steps, s.seed, s.sampler)
        probe(0, model.unet)
        initial = probe.seconds
        loss0 = aux_loss(model.unet, aux, model.null_class)
        start = time.perf_counter()
        state = relearn(model, aux, steps=s.attack_steps, lr=s.attack_lr, batch_size=s.attack_batch, seed=s.seed,
                        checkpoint_every=every, on_checkpoint=probe, quiet=quiet)
        probe_seconds = probe.seconds - initial
        save_unet(state.unet, run)
        run.write_metrics({"attack_seconds": round(time.perf_counter() - start - probe_seconds, 2),
                           "probe_seconds": round(probe_seconds, 2), "relearn_curve": probe.points,
                           "aux_loss_before": loss0, "aux_loss_after": aux_loss(state.unet, aux, model.null_class),
                           "n_aux": len(aux), "aux_description": aux.description})
    att = RunDir.open(att_dir, "diffusion").metrics
    attacked = load_model(att_dir, model.device)
    after, img_after = cached_attribute_evaluation(attacked, att_dir, s, target, measure, clf, real, clf_key)
    grids = Path(out_dir) / "grids"
    grids.mkdir(parents=True, exist_ok=True)
    n, values = s.n_per_class, len(target.space.attributes[target.attribute].values)
    rows = {}
    for when, imgs in (("before", img_before), ("after", img_after)):
        for g, x in imgs.items():
            for c in range(min(3, target.space.num_classes)):
                start = (c * values + target.value) * n
                rows[f"{when}_{g}_{c}"] = x[start:start + GRID_COLUMNS]
    atomic_write_npz(grids / f"{slug(label)}.npz", **rows)
    return {"before": before, "after": after, "attack": att, "attacked_dir": str(att_dir)}


def run_attribute_benchmark(s: BenchSettings, specs: list[MethodSpec], out: Path, workers: int = 2,
                            overwrite: bool = False, quiet: bool = False, executor: str = "local",
                            address: str | None = None) -> RunDir:
    from privgen.eval import cached_classifier
    from privgen.diffusion.model import get_recipe

    config = {"settings": to_dict(s), "methods": [sp.label for sp in specs], "workers": workers}
    run = RunDir.create(out, KIND, config, overwrite=overwrite, resume=True)
    start = time.perf_counter()
    _, _, clf_dir = cached_classifier(s.data, get_recipe(s.recipe).image_size, 0, device=s.device, quiet=quiet)
    reserve_pretrain(s)
    tasks = plan(s, specs, str(clf_dir), str(out), attack=task_attack_attribute, evaluate=task_evaluate_attribute)
    results = run_graph(tasks, workers, desc="bench unlearning (attribute)", quiet=quiet, executor=executor,
                        address=address)
    payload = build_results(s, specs, results, str(clf_dir), time.perf_counter() - start)
    return publish(run, s, payload, len(specs) + 1, write_results_csv, write_report)


def build_results(s: BenchSettings, specs: list[MethodSpec], results: dict[str, Any], classifier_dir: str,
                  wall: float) -> dict[str, Any]:
    clf = read_json(Path(classifier_dir) / "metrics.json")
    models = {ORIGINAL: {"method": "none", "unlearn": None, **results[f"attack {ORIGINAL}"]}}
    for spec in specs:
        u = results[f"unlearn {spec.label}"]
        models[spec.label] = {"method": spec.method, "options": dict(spec.options),
                              "unlearn": {"dir": u["dir"], "steps": u.get("steps"), "seconds": u.get("unlearn_seconds")},
                              **results[f"attack {spec.label}"]}
    return {"settings": to_dict(s), "forget_attribute": s.forget_attribute, "models": models,
            "pretrain": {"dir": results["pretrain"]["dir"], "train_seconds": results["pretrain"].get("train_seconds")},
            "classifier": {"dir": classifier_dir, "test_acc": clf.get("test_accuracy")},
            "wall_seconds": round(wall, 1), "scales": [guidance_key(g) for g in guidance_scales(s)]}


FIELDS = ("forget_rate", "measure_rate", "kept_attr_acc", "class_acc", "forget_class_acc", "fd_retained", "n_forget", "n_kept")


def write_results_csv(path: Path, payload: dict[str, Any]) -> Path:
    """Tidy rows: model × guidance × before/after the attack (written atomically, like every result file)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", "guidance", "when", *FIELDS, "forget_rate_lo", "forget_rate_hi"])
    for label, m in payload["models"].items():
        for g in payload["scales"]:
            for when in ("before", "after"):
                r = m[when][g]
                w.writerow([label, g[1:], when, *(r[k] for k in FIELDS), *r["forget_rate_ci"]])
    atomic_write_text(path, buf.getvalue())
    return path


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def results_table(payload: dict[str, Any], g: str) -> str:
    from privgen.report import markdown_table

    oracle_fd = payload["models"][ORACLE]["before"][g]["fd_retained"]
    rows = []
    for label, m in payload["models"].items():
        b, a = m["before"][g], m["after"][g]
        rows.append([label, f"{_pct(b['forget_rate'])} [{_pct(b['forget_rate_ci'][0])}, {_pct(b['forget_rate_ci'][1])}]",
                     f"{_pct(a['forget_rate'])} [{_pct(a['forget_rate_ci'][0])}, {_pct(a['forget_rate_ci'][1])}]",
                     f"{_pct(b['measure_rate'])} → {_pct(a['measure_rate'])}", _pct(b["kept_attr_acc"]), _pct(b["class_acc"]), _pct(b["forget_class_acc"]),
                     f"{b['fd_retained']:.2f}", f"{b['fd_retained'] / oracle_fd:.2f}x" if oracle_fd else "-"])
    return markdown_table(["model", "forgotten-value rate before attack [95% CI]", "after attack [95% CI]",
                           "measured as the value, digit or not: before → after", "kept-value accuracy", "class accuracy (kept values)", "class accuracy (forgotten value)",
                           "FD retained", "FD / oracle"], rows)


def plot_curves(payload: dict[str, Any], path: Path, s: BenchSettings) -> None:
    from privgen.report import save_rate_curves

    series = {}
    for label, m in payload["models"].items():
        pts = m["attack"]["relearn_curve"]
        series[label] = ([p["step"] for p in pts], [p["forget_rate"] for p in pts], [p["forget_rate_ci"] for p in pts])
    n = next(iter(payload["models"].values()))["attack"]["relearn_curve"][0]["n"]
    save_rate_curves(series, path, xlabel="attack steps", ylabel=f"{s.forget_attribute} rate at guidance {s.guidance:g} (%)",
                     title=f"DiMRA relearning of {s.forget_attribute} ({n} samples per point, 95% Wilson band)")


def save_grids(out: Path, payload: dict[str, Any]) -> list[str]:
    from privgen.report import save_image_grid

    names = []
    for label in payload["models"]:
        with np.load(out / "grids" / f"{slug(label)}.npz", allow_pickle=False) as z:
            keys = sorted(k for k in z.files if k.split("_")[1] == "g3")
            keys = [k for w in ("before", "after") for k in keys if k.startswith(w)]
            rows = [z[k] for k in keys]
        name = f"grid_{slug(label)}.png"
        save_image_grid(rows, out / name, [f"{k.split('_')[0]} class {k.split('_')[2]}" for k in keys],
                        title=f"{label}: asked for the forgotten value, guidance 3, before / after DiMRA")
        names.append(name)
    return names


def write_report(out: Path, s: BenchSettings, payload: dict[str, Any]) -> Path:
    from privgen.report import write_markdown

    plot_curves(payload, out / "relearn_curves.png", s)
    grids = save_grids(out, payload)
    clf_acc = payload["classifier"]["test_acc"]
    parts = [f"# Feature unlearning benchmark: forget {s.forget_attribute} ({s.data}, recipe {s.recipe})", "",
             f"Every model asked for every class with every value of the attribute, {s.n_per_class} images each "
             f"({describe(s.sampler, s.eval_steps)}, seed {s.seed}). The attribute is MEASURED on each image (no classifier "
             f"guesses it); an image counts as the forgotten value when it measures as the value and the evaluation "
             f"classifier reads the class asked (a recognisable digit in it); the measurement alone is beside it. DiMRA: {s.attack_steps} steps of plain fine-tuning on `{s.aux}` data at lr {s.attack_lr:g}, "
             f"batch {s.attack_batch}; the same for every model. Class accuracy by the evaluation classifier "
             f"(test accuracy {clf_acc if clf_acc is None else f'{clf_acc:.3f}'}). Wall time {payload['wall_seconds']:.0f} s.", ""]
    for g in payload["scales"]:
        parts += [f"## Guidance {g[1:]}", "", results_table(payload, g), ""]
    parts += ["## Relearning curves", "", "![curves](relearn_curves.png)", "", "## Grids", ""]
    parts += [f"![{name}]({name})" for name in grids]
    return write_markdown(out / "report.md", "\n".join(parts) + "\n")
