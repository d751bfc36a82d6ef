"""The benchmark's units of work, run on worker processes: pretrain, unlearn, and evaluate-attack-evaluate.

Every unit writes into the cache (`privgen.cache`) under a key made of everything that decides its result,
and returns early when a finished result is there, so a second benchmark with the same options is fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from privgen.cache import cache_path, digest, entry_lock
from privgen.checks import resolve_device
from privgen.diffusion.model import get_recipe
from privgen.runs import RunDir, atomic_write_json, atomic_write_npz, read_json
from privgen.serial import to_dict
from privgen.unlearn.report import grid_classes  # noqa: F401  (the rows of every before/after grid)


@dataclass(frozen=True)
class MethodSpec:
    """An unlearning method and its options, written `name` or `name:key=value:key=value`."""

    label: str
    method: str
    options: tuple[tuple[str, str], ...] = ()

    def options_dict(self) -> dict[str, Any]:
        from privgen.unlearn.registry import coerce_options

        return coerce_options(self.method, self.options, flag=f"--methods {self.label}:")


@dataclass(frozen=True)
class BenchSettings:
    """Everything that decides the benchmark's numbers (saved in config.json and results.json)."""

    data: str
    forget: int
    seed: int
    recipe: str
    aux: str
    unlearn_steps: int | None
    unlearn_lr: float
    attack_steps: int
    attack_lr: float
    attack_batch: int
    curve_points: int
    n_per_class: int
    curve_n: int
    eval_steps: int
    guidance: float
    device: str
    sampler: str = "dpmpp"  # every evaluation's solver (privgen.diffusion.solvers); eval_steps are its steps
    forget_attribute: str | None = None   # feature unlearning (NAME=VALUE); `forget` is then unused
    data_hash: str | None = None          # user data: the content hash of `data` (an absolute path)
    headline_only: bool = False           # evaluate at the headline guidance only, not also at 1 and 3


DEFAULT_SCALES = (1.0, 3.0)
BENCH_DDIM_STEPS = 25  # DDIM steps of every evaluation when the benchmark samples with DDIM


def bench_eval_steps(sampler: str, num_inference_steps: int | None) -> int:
    """Evaluation steps: as given, else 25 for DDIM (the benchmark's measured choice), else the solver's default."""
    from privgen.diffusion.solvers import get_solver

    if num_inference_steps is not None:
        return num_inference_steps
    return BENCH_DDIM_STEPS if sampler == "ddim" else (get_solver(sampler).default_steps or BENCH_DDIM_STEPS)


def sampler_key(s: "BenchSettings") -> dict[str, str]:
    """What a cache key adds for the sampler: nothing for DDIM, so entries made before the choice existed (all
    DDIM) stay valid; the name otherwise, so DDIM and DPM-Solver++ results never mix."""
    return {} if s.sampler == "ddim" else {"sampler": s.sampler}


def guidance_scales(s: BenchSettings) -> tuple[float, ...]:
    """Every model is evaluated at guidance 1 and 3, and at the headline scale when it is another one; with
    `headline_only` at the headline scale alone (half the sampling, e.g. for the demo)."""
    if s.headline_only:
        return (float(s.guidance),)
    return tuple(sorted({*DEFAULT_SCALES, float(s.guidance)}))


def guidance_key(scale: float) -> str:
    return f"g{scale:g}"


def curve_every(attack_steps: int, curve_points: int) -> int:
    """Steps between relearning-curve points, rounded up so that `curve_points` points end at the last step.
    Rounding down put two points one step apart at the end when the steps do not divide (999 and 1000)."""
    return max(-(-attack_steps // curve_points), 1)


def curve_marks(attack_steps: int, curve_points: int) -> tuple[int, ...]:
    """The attack steps a relearning curve is measured at (after step 0): every `curve_every` steps, and the last."""
    every = curve_every(attack_steps, curve_points)
    marks = tuple(range(every, attack_steps + 1, every))
    return marks if marks and marks[-1] == attack_steps else (*marks, attack_steps)


def slug(text: str) -> str:
    clean = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)
    return clean if clean == text and len(clean) <= 40 else f"{clean[-24:]}-{digest(text)[:6]}"


def with_data_reference(s: BenchSettings) -> BenchSettings:
    """The settings with `data` as recorded: an embedded name as typed, user data as its absolute path and
    content hash (privgen.data.reference), so every task reads the same files whatever its directory."""
    from dataclasses import replace

    from privgen.data.reference import resolve_data

    ref = resolve_data(s.data)
    return replace(s, data=ref.source, data_hash=ref.hash)


def data_tag(s: BenchSettings) -> str:
    """The data's part of a cache folder name: its name, plus the content hash for user data, so edited data
    never reuses a model trained on the old files."""
    return f"{slug(s.data)}-{s.data_hash[:12]}" if s.data_hash else slug(s.data)


def pretrained_dir(s: BenchSettings) -> Path:
    """The same cache entry `make demo` uses for a recipe, so both share one pretrained model."""
    return cache_path("diffusion", f"{s.recipe}-{data_tag(s)}-seed{s.seed}")


def resolved_unlearning(s: BenchSettings, spec: MethodSpec, base_steps: int | None = None) -> dict[str, Any]:
    """The options, steps and lr a method will actually run with, defaults filled in: the cache key must
    change when a default does, or a stale model would be reused. `base_steps`: the steps the base model
    really trained (the retrain oracle trains as many); the recipe's when None (the benchmark's own base)."""
    from privgen.unlearn import build_method
    from privgen.unlearn.run import run_budget

    impl = build_method(spec.method, spec.options_dict())
    steps, lr = run_budget(impl, get_recipe(s.recipe), s.unlearn_steps if impl.finetunes else None, s.unlearn_lr,
                           base_steps)
    return {"method": spec.method, "options": to_dict(impl.opt), "steps": steps, "lr": lr}


def forget_tag(s: BenchSettings) -> str:
    """'3' for a class, 'colour-red' for an attribute value (cache folder names)."""
    return slug(s.forget_attribute.replace("=", "-")) if s.forget_attribute else str(s.forget)


def unlearned_dir(s: BenchSettings, spec: MethodSpec, base: Path | None = None,
                  base_cfg: dict[str, Any] | None = None) -> Path:
    """The cache entry of a method's model; `base` is the pretrained model when it is not the benchmark's own
    (the audit keys its retrain oracle the same way, so the two share oracles), `base_cfg` its config.json:
    then the key holds the recipe and steps that base really trained with (overrides included), which the
    retrain oracle trains with too. For the benchmark's own base both are the recipe's."""
    recipe = base_cfg["recipe"] if base_cfg is not None else get_recipe(s.recipe).to_dict()
    base_steps = int(base_cfg["steps"]) if base_cfg is not None else None
    key = {"base": str(base or pretrained_dir(s)), "recipe": recipe, "forget": s.forget,
           "seed": s.seed, **resolved_unlearning(s, spec, base_steps)}
    if s.forget_attribute:
        key["forget_attribute"] = s.forget_attribute  # only then: class entries keep their keys
    return cache_path("unlearned", f"{s.recipe}-{data_tag(s)}-seed{s.seed}",
                      f"{slug(spec.label)}-forget{forget_tag(s)}-{digest(key)}")


GRID_COLUMNS = 8


def _finished(path: Path) -> bool:
    return (path / "metrics.json").exists()


def _same_recipe(model_dir: Path, name: str) -> bool:
    stored = read_json(model_dir / "config.json").get("recipe")
    return stored == json.loads(json.dumps(get_recipe(name).to_dict()))


def reserve_pretrain(s: BenchSettings) -> None:
    """Write the pretraining run's config.json before training, so the retrain oracle can start from it in
    parallel. A cached model of an older version of the recipe is replaced, never silently reused."""
    from privgen.diffusion.trainer import open_training_run

    out = pretrained_dir(s)
    stale = (out / "config.json").exists() and not _same_recipe(out, s.recipe)
    if stale or not _finished(out):
        open_training_run(s.data, out, s.recipe, seed=s.seed, device=s.device, overwrite=stale)


def task_pretrain(s: BenchSettings, quiet: bool = True) -> dict[str, Any]:
    from privgen.diffusion.trainer import train

    out = pretrained_dir(s)
    if not _finished(out):
        train(s.data, out, s.recipe, seed=s.seed, device=s.device, quiet=quiet)
    return {"dir": str(out), **RunDir.open(out, "diffusion").metrics}


def task_unlearn(s: BenchSettings, spec: MethodSpec, quiet: bool = True) -> dict[str, Any]:
    from privgen.unlearn import unlearn

    out = unlearned_dir(s, spec)
    with entry_lock(out):  # the audit trains its oracle into this same entry
        if not _finished(out):
            budget = resolved_unlearning(s, spec)  # the same steps and lr the cache key was made from
            unlearn(pretrained_dir(s), spec.method, None if s.forget_attribute else s.forget, out, seed=s.seed,
                    steps=budget["steps"], lr=budget["lr"], options=spec.options_dict(), device=s.device,
                    overwrite=True, quiet=quiet, forget_attribute=s.forget_attribute)
    return {"dir": str(out), **RunDir.open(out, "diffusion").metrics}


def model_key(model_dir: Path) -> str:
    """What identifies a model in a cache key: its place and its config."""
    return digest({"dir": str(Path(model_dir).resolve()), "config": read_json(Path(model_dir) / "config.json")})


def evaluation_key(model_key: str, s: BenchSettings, clf_key: str) -> str:
    """The evals/ cache key: model, class, sample count, sampler and steps, seed, classifier, scales."""
    scales = guidance_scales(s)
    return digest({"model": model_key, "forget": s.forget, "n": s.n_per_class, "steps": s.eval_steps,
                   "seed": s.seed, "classifier": clf_key, "v": 1, **sampler_key(s),
                   **({"scales": scales} if scales != DEFAULT_SCALES else {})})  # old entries stay valid


def cached_evaluation(model, model_dir: Path, s: BenchSettings, clf, real, clf_key: str
                      ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """evaluate_forgetting at guidance 1, 3 (and the headline scale), cached as metrics.json + images.npz under
    the cache's evals/, keyed by everything that decides the samples (sampler and steps included)."""
    from privgen.eval.forgetting import evaluate_forgetting

    path = cache_path("evals", evaluation_key(model_key(model_dir), s, clf_key))
    metrics, images = cached_images(path, lambda: evaluate_forgetting(
        model, clf, real, n_per_class=s.n_per_class, guidance_scales=guidance_scales(s), sampler=s.sampler,
        num_inference_steps=s.eval_steps, seed=s.seed))
    return {"sampler": "ddim", **metrics}, images  # entries made before the sampler choice were all DDIM


def evaluation_images(s: BenchSettings, model_dir: Path, classifier_dir: Path) -> dict[str, np.ndarray]:
    """The images a finished benchmark scored for one model before its attack (per guidance key, label-major),
    read back from the evaluation cache; a report shows the very samples behind its numbers."""
    key = evaluation_key(model_key(model_dir), s, digest(read_json(classifier_dir / "config.json")))
    path = cache_path("evals", key) / "images.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no cached evaluation for {model_dir}; run the benchmark first")
    return _arrays(path)


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def cached_images(path: Path, compute: Callable[[], tuple[dict[str, Any], dict[str, np.ndarray]]]
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """An evaluation cache entry: images.npz, then metrics.json (written last: it marks the entry complete)."""
    if (path / "metrics.json").exists():
        return read_json(path / "metrics.json"), _arrays(path / "images.npz")
    metrics, images = compute()
    atomic_write_npz(path / "images.npz", **images)
    atomic_write_json(path / "metrics.json", metrics)
    return metrics, images


def _evaluated(s: BenchSettings, model_dir: str, classifier_dir: str):
    """The model, the classifier and its key, the real features, and the model's (cached) evaluation."""
    from privgen.diffusion.model import apply_threads
    from privgen.diffusion.store import load_model, model_split
    from privgen.eval import load_classifier
    from privgen.eval.forgetting import RealFeatures

    dev = resolve_device(s.device)
    clf, _ = load_classifier(classifier_dir, dev)
    clf_key = digest(read_json(Path(classifier_dir) / "config.json"))
    model = load_model(model_dir, dev)
    apply_threads(model.recipe, dev)  # as the command that starts this task would (load_model leaves threads alone)
    real = RealFeatures.of(clf, model_split(model).test, s.forget)
    return model, clf, clf_key, real, *cached_evaluation(model, Path(model_dir), s, clf, real, clf_key)


def task_evaluate(s: BenchSettings, label: str, model_dir: str, classifier_dir: str, out_dir: str,
                  quiet: bool = True) -> dict[str, Any]:
    """A model's evaluation before its attack, as a task of its own (the attack task finds it cached): two
    shorter tasks pack onto the workers better than one long one, which shortens the benchmark's tail."""
    return _evaluated(s, model_dir, classifier_dir)[4]


def task_attack(s: BenchSettings, label: str, model_dir: str, classifier_dir: str, out_dir: str,
                quiet: bool = True) -> dict[str, Any]:
    """Evaluate a model (cached by `task_evaluate`), attack it with DiMRA (curve at checkpoints), evaluate
    the attacked model.

    Writes `out_dir/grids/<label>.npz` (grid images before/after) and returns the numbers for results.json.
    """
    from privgen.attacks.aux import aux_version_key
    from privgen.audit.unlearning.battery import Attack, Probe, run_attack
    from privgen.audit.unlearning.forgotten import Forgotten
    from privgen.diffusion.store import load_model

    model, clf, clf_key, real, before, img_before = _evaluated(s, model_dir, classifier_dir)

    every = curve_every(s.attack_steps, s.curve_points)
    attack_key = {"model": model_key(Path(model_dir)), "aux": s.aux, **aux_version_key(s.aux),
                  "forget_for_retain": s.forget, "steps": s.attack_steps, "lr": s.attack_lr, "batch": s.attack_batch,
                  "seed": s.seed, "every": every, "curve_n": s.curve_n, "guidance": s.guidance,
                  "eval_steps": s.eval_steps, "classifier": clf_key, **sampler_key(s)}
    att_dir = cache_path("attacked", f"{slug(label)}-{digest(attack_key)}")
    # The audit's battery runs the attack (one implementation for both).
    run_attack(att_dir, model, Attack(s.aux, s.attack_lr, curve_marks(s.attack_steps, s.curve_points), s.attack_batch, s.seed),
               Probe(s.curve_n, s.guidance, s.eval_steps, s.seed, sampler=s.sampler), Forgotten(forget_class=s.forget), clf,
               {**attack_key, "label": label}, quiet=quiet)
    att = RunDir.open(att_dir, "diffusion").metrics
    attacked = load_model(att_dir, model.device)
    after, img_after = cached_evaluation(attacked, att_dir, s, clf, real, clf_key)
    grids = Path(out_dir) / "grids"
    grids.mkdir(parents=True, exist_ok=True)
    rows = grid_classes(s.forget, model.num_classes)
    n = s.n_per_class
    pick = {f"{when}_{g}_{c}": imgs[g][c * n:c * n + GRID_COLUMNS]
            for when, imgs in (("before", img_before), ("after", img_after)) for g in imgs for c in rows}
    atomic_write_npz(grids / f"{slug(label)}.npz", **pick)
    return {"before": before, "after": after, "attack": att, "attacked_dir": str(att_dir),
            "num_classes": model.num_classes, "class_names": list(model.class_names)}
