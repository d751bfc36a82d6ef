"""`privgen audit unlearning`: the attack battery on a released unlearned model, scored against the oracle.

Plan: for every regime × learning rate, DiMRA on the model and the same attack on the retrain oracle (and on
the original model when given), each probed at the same steps (`battery.run_attack`, cached); the oracle's
attacks also measure its retained quality, which decides how much of each budget counts. Then the scores
(`scores.py`) and the report (`report.py`). The attacks run as a task graph on `workers` processes.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privgen import checks
from privgen.audit.unlearning.battery import Attack, Probe, Quality
from privgen.audit.unlearning.forgotten import Forgotten
from privgen.audit.unlearning.regimes import Regime, parse_regimes
from privgen.audit.unlearning.verdict import THREATS, Margins
from privgen.data.class_names import class_label
from privgen.diffusion.solvers import DEFAULT_SAMPLER, resolve_steps
from privgen.errors import UserError
from privgen.runs import RunDir, read_json

KIND = "audit-unlearning"
DDIM_AUDIT_STEPS = 25  # the benchmark's DDIM steps, used when --sampler ddim is given without steps
QUALITY_SCALES = (1.0, 3.0)  # the rule holds at both: lr 1e-3 on retained data broke guidance 1 only (docs/unlearning.md)
MODEL, ORACLE, ORIGINAL = "model", "oracle", "original"
# Part of every attack's cache key: its probes record the forgotten class's confidence and FD too, so an
# attack cached before they did is run again rather than read back without them.
FORGOTTEN_QUALITY = "forget-rate+confidence+fd"


@dataclass(frozen=True)
class AuditSettings:
    """Everything that decides the audit's numbers (config.json)."""

    regimes: tuple[str, ...] = ("retain", "generated", "public", "public-without", "kshot-1", "kshot-10", "kshot-100")
    lrs: tuple[float, ...] = (1e-4, 1e-3)
    steps: int = 200
    probe_steps: tuple[int, ...] = (25, 50, 100)
    batch_size: int = 64
    n_per_class: int = 50                # samples of the forgotten class per curve point
    guidance_scale: float = 3.0
    sampler: str = DEFAULT_SAMPLER
    num_inference_steps: int | None = None  # None: the sampler's measured default (privgen.diffusion.solvers)
    quality_n_per_class: int = 10        # samples per class for the oracle's retained FD at each point
    quality_factor: float = 1.5          # a budget counts while the oracle's retained FD ≤ this × its own before
    rate: float = 0.5                    # the forget rate r of the speedup
    margin: float = 10.0                 # recovery points beyond the oracle that count as residual memory
    speedup_margin: float = 1.25         # relearning speedup over the oracle that counts as residual memory
    threat: str = "class-samples"        # which table gates the headline (verdict.THREATS)
    seed: int = 0
    device: str = "auto"

    @property
    def points(self) -> tuple[int, ...]:
        return tuple(sorted({*self.probe_steps, self.steps}))

    def validate(self) -> tuple[Regime, ...]:
        regimes = parse_regimes(",".join(self.regimes))
        checks.positive_int("--steps", self.steps)
        for s in self.probe_steps:
            if not 0 < s < self.steps:
                raise UserError(f"--probe-steps {s} is not inside the attack (1 to --steps - 1 = {self.steps - 1})")
        if not self.lrs:
            raise UserError("--lrs is empty; give one or more learning rates like 1e-4,1e-3")
        for lr in self.lrs:
            checks.finite_positive("--lrs", lr)
        checks.positive_int("--batch-size", self.batch_size)
        checks.positive_int("--n-per-class", self.n_per_class)
        checks.positive_int("--quality-n-per-class", self.quality_n_per_class, minimum=2)
        checks.finite_positive("--guidance-scale", self.guidance_scale)
        self.steps_of_sampler()
        if not self.quality_factor >= 1:
            raise UserError(f"--quality-factor must be at least 1 (a bound on the oracle's retained FD relative to "
                            f"its own before the attack), got {self.quality_factor}")
        if not 0 < self.rate <= 1:
            raise UserError(f"--rate must be a forget rate in (0, 1], got {self.rate}")
        if not 0 < self.margin < 100:
            raise UserError(f"--margin must be a number of points between 0 and 100 (recovery beyond the oracle "
                            f"that counts as a leak), got {self.margin}")
        if not self.speedup_margin >= 1:
            raise UserError(f"--speedup-margin must be at least 1 (a relearning speedup over the oracle), "
                            f"got {self.speedup_margin}")
        if self.threat not in THREATS:
            raise UserError(f"--threat {self.threat!r} is unknown; choose {' or '.join(THREATS)}")
        checks.resolve_device(self.device)
        return regimes

    def margins(self) -> Margins:
        return Margins(self.margin, self.speedup_margin)

    def steps_of_sampler(self) -> int:
        return resolve_steps(self.sampler, self.num_inference_steps, DDIM_AUDIT_STEPS)

    def probe(self) -> Probe:
        return Probe(self.n_per_class, self.guidance_scale, self.steps_of_sampler(), self.seed, sampler=self.sampler)

    def quality(self) -> Quality:
        return Quality(self.quality_n_per_class, QUALITY_SCALES, self.steps_of_sampler(), self.seed,
                       sampler=self.sampler)


@dataclass(frozen=True)
class Subjects:
    """The resolved models: the audited one, the oracle (a directory, maybe still to train), the original."""

    model: str
    forgotten: Forgotten
    oracle: str
    train_oracle: bool
    original: str | None
    base: str | None


# ---------------------------------------------------------------------------------------------- validation


def _config(path: Path | str, flag: str) -> dict[str, Any]:
    from privgen.diffusion.store import KIND as DIFFUSION

    return RunDir.open(path, DIFFUSION).config if flag else {}


def _same_data(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    keys = ("data", "data_hash", "split_seed", "image_size", "class_names", "test_fraction")
    return [k for k in keys if a.get(k) != b.get(k)]


def _forgotten(model, model_dir: Path, forget: str | None) -> Forgotten:
    """The class or attribute value the audit measures: the model's deletion record, or --forget for a class."""
    from privgen.attacks.aux import deleted_attribute, deletion_record

    cfg = model.config
    attribute = deleted_attribute(cfg)
    if attribute is not None:
        if forget is not None:
            raise UserError(f"--forget {forget}: the model forgot the attribute value {attribute}, not a class "
                            "(its deletion record); drop --forget")
        return Forgotten(attribute=attribute)
    recorded = deletion_record(cfg)
    if forget is None and recorded is None:
        raise UserError(f"--model {model_dir} was never unlearned (no deletion record in its config.json); pass "
                        "--forget C to name the class the audit measures")
    c_f = model.class_id(forget, "--forget") if forget is not None else model.class_id(recorded)
    if recorded is not None and forget is not None and model.class_id(recorded) != c_f:
        raise UserError(f"--forget {forget} disagrees with the model's deletion record "
                        f"({class_label(model.class_id(recorded), model.class_names)}); "
                        "drop --forget")
    return Forgotten(forget_class=c_f)


def _is_oracle_for(record: dict[str, Any], forgotten: Forgotten) -> bool:
    """Whether an unlearning record says: retrained without exactly this class or attribute value."""
    if record.get("method") != "retrain":
        return False
    if forgotten.attribute is not None:
        fa = record.get("forget_attribute") or {}
        return f"{fa.get('name')}={fa.get('value')}" == forgotten.attribute
    return record.get("forget_class") == forgotten.forget_class


def resolve_subjects(model_dir: Path, forget: str | None, oracle: Path | None, oracle_recipe: str | None,
                     original: Path | None, seed: int) -> Subjects:
    """Read the deletion record, check the oracle and the original against the model; one UserError each."""
    from privgen.diffusion.store import describe_model

    model = describe_model(model_dir)
    cfg = model.config
    if not (Path(model_dir) / "metrics.json").exists():
        raise UserError(f"--model {model_dir} is an unfinished run (no metrics.json); finish it first")
    forgotten = _forgotten(model, model_dir, forget)
    what = forgotten.label(model.class_names)
    base = (cfg.get("unlearning") or {}).get("base_model")
    if oracle is not None:
        if oracle_recipe is not None:
            raise UserError("give --oracle or --oracle-recipe, not both")
        o_cfg = _config(oracle, "--oracle")
        if not (Path(oracle) / "metrics.json").exists():
            raise UserError(f"--oracle {oracle} is an unfinished run (no metrics.json); finish it first")
        diff = _same_data(cfg, o_cfg)
        if diff:
            raise UserError(f"--oracle {oracle} was trained on other data than the model ({', '.join(diff)} differ); "
                            "use an oracle retrained on the model's own data")
        rec = o_cfg.get("unlearning") or {}
        if not _is_oracle_for(rec, forgotten):
            flag = f"--forget-attribute {forgotten.attribute}" if forgotten.attribute else f"--forget {forgotten.key}"
            raise UserError(f"--oracle {oracle} is not a model retrained without {what} (its record: "
                            f"{rec.get('method') or 'never unlearned'}, class {rec.get('forget_class')}, attribute "
                            f"{rec.get('forget_attribute')}): it has seen it; retrain one with privgen unlearn run "
                            f"--method retrain {flag}")
        if base is not None and (Path(base) / "config.json").exists():
            _check_trained_alike(oracle, o_cfg, base, read_json(Path(base) / "config.json"))
        return Subjects(str(Path(model_dir).resolve()), forgotten, str(Path(oracle).resolve()), False,
                        _check_original(original, cfg), base)
    if base is None or not (Path(base) / "config.json").exists():
        raise UserError(f"--model {model_dir} records no base model to retrain an oracle from; pass --oracle DIR "
                        "(a model retrained without the class)")
    base_cfg = read_json(Path(base) / "config.json")
    recipe = base_cfg["recipe"]["name"]
    from privgen.unlearn.run import trained_steps

    trained_steps(base_cfg, f"the base model {base}")  # the oracle trains exactly as long as the base did
    if oracle_recipe is not None and oracle_recipe != recipe:
        raise UserError(f"--oracle-recipe {oracle_recipe}: the oracle must be trained with the recipe of the model it "
                        f"controls for ({recipe}), or its relearning speed is not comparable; drop the option")
    return Subjects(str(Path(model_dir).resolve()), forgotten, str(oracle_dir(Path(base), base_cfg, forgotten, seed)), True,
                    _check_original(original, cfg), str(Path(base).resolve()))


def _check_trained_alike(oracle: Path, o_cfg: dict[str, Any], base: str, base_cfg: dict[str, Any]) -> None:
    """The oracle is the control for the model's base: trained with its recipe (overrides included) for as many
    steps, or its relearning speed says nothing about the model's."""
    from privgen.unlearn.run import trained_steps

    steps = trained_steps(base_cfg, f"the base model {base}")
    if o_cfg.get("recipe") != base_cfg.get("recipe") or o_cfg.get("steps") != steps:
        raise UserError(f"--oracle {oracle} was not trained like the model's base {base} (recipe "
                        f"{o_cfg.get('recipe', {}).get('name')}, {o_cfg.get('steps')} steps against "
                        f"{base_cfg['recipe'].get('name')}, {steps} steps, or other recipe settings); retrain it with "
                        f"privgen unlearn run --method retrain from {base}, or drop --oracle")


def _check_original(original: Path | None, cfg: dict[str, Any]) -> str | None:
    if original is None:
        return None
    o_cfg = _config(original, "--original")
    if not (Path(original) / "metrics.json").exists():
        raise UserError(f"--original {original} is an unfinished run (no metrics.json); finish it first")
    diff = _same_data(cfg, o_cfg)
    if diff:
        raise UserError(f"--original {original} was trained on other data than the model ({', '.join(diff)} differ)")
    return str(Path(original).resolve())


def oracle_dir(base: Path, base_cfg: dict[str, Any], forgotten: Forgotten, seed: int) -> Path:
    """The benchmark's cache entry for this base's retrain oracle, so the audit and the benchmark share it.
    Keyed on the recipe and steps the base really trained with (its config.json), which `unlearn` retrains
    the oracle with: a base trained with `--steps 200` gets a 200-step oracle, not the recipe's default."""
    from privgen.bench.unlearning_tasks import BenchSettings, MethodSpec, unlearned_dir

    s = BenchSettings(data=base_cfg["data"], forget=forgotten.forget_class, seed=seed, recipe=base_cfg["recipe"]["name"], aux="retain",
                      unlearn_steps=None, unlearn_lr=None, attack_steps=1, attack_lr=1.0, attack_batch=1,
                      curve_points=1, n_per_class=10, curve_n=1, eval_steps=1, guidance=1.0, device="cpu",
                      data_hash=base_cfg.get("data_hash"), forget_attribute=forgotten.attribute)
    return unlearned_dir(s, MethodSpec("retrain", "retrain"), base=base.resolve(), base_cfg=base_cfg)


def check_regimes(regimes: tuple[Regime, ...], model_dir: str, forgotten: Forgotten) -> None:
    """Build every cheap attacker's data once now, so a regime this model cannot have (k above the class's
    images, public data of other classes) fails before anything is written."""
    from privgen.audit.unlearning.battery import build_attack_data
    from privgen.diffusion.store import describe_model

    from privgen.diffusion.store import model_split

    model = describe_model(model_dir)
    have = forgotten.count_in(model, model_split(model).train)
    for regime in regimes:
        if regime.k is not None and regime.k > have:
            raise UserError(f"--regimes {regime.name}: the model's training split has only {have} images of "
                            f"{forgotten.label(model.class_names)}; use a k of at most {have}")
        if regime.source != "generated":
            build_attack_data(model, _attack(regime, 1e-4, AuditSettings(steps=2, probe_steps=(1,))), forgotten, None)


def _attack(regime: Regime, lr: float, s: AuditSettings) -> Attack:
    return Attack(regime.source, lr, s.points, s.batch_size, s.seed, regime.k)


# ---------------------------------------------------------------------------------------------- tasks


def task_oracle(base: str, forgotten: Forgotten, out: str, seed: int, device: str, quiet: bool = True) -> dict[str, Any]:
    """Retrain the oracle into the shared cache (nothing when it is there)."""
    from privgen.cache import entry_lock
    from privgen.unlearn import unlearn

    with entry_lock(Path(out)):
        if not (Path(out) / "metrics.json").exists():
            unlearn(base, "retrain", forgotten.forget_class, out, seed=seed, device=device, overwrite=True, quiet=quiet,
                    forget_attribute=forgotten.attribute)
    return {"dir": out}


def task_cell(s: AuditSettings, role: str, model_dir: str, regime_name: str, lr: float, forgotten: Forgotten,
              classifier_dir: str, quiet: bool = True) -> dict[str, Any]:
    """One attack of the battery: `role` is model, oracle or original; the oracle's also measures quality."""
    from privgen.attacks.aux import aux_version_key
    from privgen.audit.unlearning.battery import cached_attack_data, cached_quality, run_attack
    from privgen.bench.unlearning_tasks import model_key, slug
    from privgen.cache import cache_path, digest
    from privgen.checks import resolve_device
    from privgen.diffusion.model import apply_threads
    from privgen.diffusion.store import load_model
    from privgen.eval import load_classifier
    from privgen.serial import to_dict

    dev = resolve_device(s.device)
    clf, _ = load_classifier(classifier_dir, dev)
    clf_key = digest(read_json(Path(classifier_dir) / "config.json"))
    model = load_model(model_dir, dev)
    apply_threads(model.recipe, dev)
    regime = parse_regimes(regime_name)[0]
    attack = _attack(regime, lr, s)
    probe = s.probe()
    quality = s.quality() if role == ORACLE else None
    m_key = model_key(Path(model_dir))
    key = {"model": m_key, "regime": regime.name, "source": regime.source, "k": regime.k,
           **aux_version_key(regime.source), "forget": forgotten.key, "lr": lr, "points": attack.points,
           "batch": attack.batch_size, "seed": s.seed, "probe": to_dict(probe),
           "quality": to_dict(quality) if quality is not None else None, "classifier": clf_key,
           "probe_records": FORGOTTEN_QUALITY}
    path = cache_path("attacked", "audit", f"{slug(Path(model_dir).name)}-{regime.name}-lr{lr:g}-{digest(key)}")
    real = q0 = None
    real_forgotten = forgotten.real_forgotten(clf, model)
    if quality is not None:
        real = forgotten.real_retained(clf, model)
        q0 = cached_quality(model, m_key, clf, real, quality, clf_key, forgotten)
    start = time.perf_counter()
    aux = None if (path / "metrics.json").exists() else cached_attack_data(model, m_key, attack, forgotten, clf, clf_key)
    metrics = run_attack(path, model, attack, probe, forgotten, clf, {**key, "role": role}, aux=aux, quality=quality,
                         quality_at_start=q0, real=real, real_forgotten=real_forgotten, quiet=quiet)
    return {"dir": str(path), "metrics": metrics, "seconds": round(time.perf_counter() - start, 2)}


def plan(s: AuditSettings, regimes: tuple[Regime, ...], subjects: Subjects, classifier_dir: str, quiet: bool):
    from privgen.bench.pool import Task

    tasks = []
    if subjects.train_oracle:
        tasks.append(Task("oracle", task_oracle, (subjects.base, subjects.forgotten, subjects.oracle, s.seed, s.device,
                                                   quiet)))
    roles = [(ORACLE, subjects.oracle), (MODEL, subjects.model)]
    if subjects.original is not None:
        roles.append((ORIGINAL, subjects.original))
    if subjects.model == subjects.oracle:  # auditing the oracle itself: its attacks are the oracle's
        roles = [r for r in roles if r[0] != MODEL]
    for regime in regimes:
        for lr in s.lrs:
            for role, path in roles:
                deps = ("oracle",) if role == ORACLE and subjects.train_oracle else ()
                tasks.append(Task(cell_name(role, regime.name, lr), task_cell,
                                  (s, role, path, regime.name, lr, subjects.forgotten, classifier_dir, quiet), deps))
    return tasks


def cell_name(role: str, regime: str, lr: float) -> str:
    return f"{role} {regime} lr {lr:g}"


def run_audit(model_dir: Path, out: Path, s: AuditSettings, *, forget: str | None = None, oracle: Path | None = None,
              oracle_recipe: str | None = None, original: Path | None = None, workers: int = 2,
              overwrite: bool = False, quiet: bool = False) -> RunDir:
    """The whole audit: validate, run (or reuse) every attack, score, write metrics.json and report.md."""
    from privgen.audit.unlearning.report import write_report
    from privgen.audit.unlearning.summary import summarise
    from privgen.bench.pool import run_graph
    from privgen.data.reference import stored_data
    from privgen.eval import cached_classifier
    from privgen.serial import to_dict

    regimes = s.validate()
    s = dataclasses.replace(s, num_inference_steps=s.steps_of_sampler())  # the config records the steps run
    checks.positive_int("--workers", workers)
    subjects = resolve_subjects(model_dir, forget, oracle, oracle_recipe, original, s.seed)
    check_regimes(regimes, subjects.model, subjects.forgotten)
    cfg = read_json(Path(subjects.model) / "config.json")
    config = {"settings": to_dict(s), "model": subjects.model, **subjects.forgotten.summary(),
              "oracle": subjects.oracle, "oracle_trained_here": subjects.train_oracle, "original": subjects.original}
    run = RunDir.create(out, KIND, config, overwrite=overwrite, resume=True)
    start = time.perf_counter()
    _, _, clf_dir = cached_classifier(stored_data(cfg), int(cfg["image_size"]), int(cfg.get("split_seed", 0)),
                                      device=s.device, quiet=quiet, class_names=cfg["class_names"])
    results = run_graph(plan(s, regimes, subjects, str(clf_dir), quiet), workers, desc="audit unlearning", quiet=quiet)
    if subjects.model == subjects.oracle:
        results.update({cell_name(MODEL, r.name, lr): results[cell_name(ORACLE, r.name, lr)]
                        for r in regimes for lr in s.lrs})
    payload = summarise(s, regimes, subjects, results, read_json(Path(clf_dir) / "metrics.json"))
    payload["class_names"] = cfg.get("class_names")
    payload["wall_seconds"] = round(time.perf_counter() - start, 1)
    payload["attack_task_seconds"] = {role: round(sum(v["seconds"] for k, v in results.items()
                                                      if k.startswith(role + " ") and "seconds" in v), 1)
                                      for role in (MODEL, ORACLE, ORIGINAL)}
    write_report(run, payload)
    run.write_metrics(payload)
    return run
