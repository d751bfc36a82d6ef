"""`privgen audit synthetic`: the whole audit of published synthetic data, resumable, into a run directory.

Threat model (the seed paper's, and the usual one for auditing DP): the attacker knows the training
procedure and every training row but one, the target, and sees one published output; it must say
whether the target was in the training rows. Shadow models simulate both worlds, a set classifier
learns to tell them apart, and its error rates on held-out models bound ε from below.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privgen.audit.attack import AttackConfig, set_attack
from privgen.audit.generators import GeneratorSpec
from privgen.audit.shadow import SHADOW_DIR, ShadowJob, load_shadow, save_shadow, shadow_jobs, train_shadow
from privgen.errors import UserError
from privgen.progress import progress
from privgen.runs import RunDir
from privgen.vfl.partition import TableLayout

MIN_PAIRS = 5
KIND = "audit_synthetic"


@dataclass(frozen=True)
class AuditSettings:
    pairs: int = 50
    features: tuple[str, ...] = ("corr", "naive")
    on: tuple[str, ...] = ("synthetic",)
    n_synthetic: int | None = None  # rows published per model; default: as many as it trained on
    alpha: float = 0.05
    delta: float = 1e-5
    seed: int = 0

    def validate(self) -> None:
        if self.pairs < MIN_PAIRS:
            raise UserError(f"--shadow-pairs must be at least {MIN_PAIRS} (the 70/30 split needs test models of "
                            f"both kinds), got {self.pairs}")
        if not 0.0 < self.alpha < 1.0 or not math.isfinite(self.alpha):
            raise UserError(f"--alpha must be in (0, 1), got {self.alpha}")
        if not 0.0 <= self.delta < 1.0 or not math.isfinite(self.delta):
            raise UserError(f"--delta must be in [0, 1), got {self.delta}")
        if self.n_synthetic is not None and self.n_synthetic < 10:
            raise UserError(f"--n-synthetic must be at least 10, got {self.n_synthetic}")
        for f in self.features:
            if f not in ("corr", "naive"):
                raise UserError(f"--features {f!r} is unknown; choose corr, naive or both")
        for o in self.on:
            if o not in ("synthetic", "intermediate"):
                raise UserError(f"--on {o!r} is unknown; choose synthetic, intermediate or both")


def most_isolated_row(rows: pd.DataFrame, reference: TableLayout) -> int:
    """The row farthest from its nearest neighbour in the encoded table: outliers are the rows that leak."""
    from sklearn.neighbors import NearestNeighbors

    x = np.concatenate(reference.split(rows), axis=1)
    dist, _ = NearestNeighbors(n_neighbors=2).fit(x).kneighbors(x)
    return int(np.argmax(dist[:, 1]))


def planted_outlier(rows: pd.DataFrame) -> pd.DataFrame:
    """One row no real record resembles: every numeric column at its largest value and every categorical at
    its rarest category. It stays inside the table's domain (an encoder, or the sound mode's public schema,
    takes it as is), so it asks what the generator leaks about an extreme but valid record."""
    row = {}
    for name, col in rows.items():
        if pd.api.types.is_numeric_dtype(col):
            row[name] = col.max()
        else:
            counts = col.value_counts()
            row[name] = counts.index[-1]
    return pd.DataFrame([row], columns=rows.columns).astype(rows.dtypes.to_dict())


def with_target(target: str | int, rows: pd.DataFrame, reference: TableLayout) -> tuple[pd.DataFrame, int]:
    """The training rows and the target's position: `planted` appends `planted_outlier` as the target."""
    if str(target) == "planted":
        return pd.concat([rows, planted_outlier(rows)], ignore_index=True), len(rows)
    return rows, resolve_target(target, rows, reference)


def resolve_target(target: str | int, rows: pd.DataFrame, reference: TableLayout) -> int:
    if str(target) == "auto":
        return most_isolated_row(rows, reference)
    try:
        idx = int(target)
    except ValueError:
        raise UserError(f"--target must be 'auto', 'planted' or a row number, got {target!r}") from None
    if not 0 <= idx < len(rows):
        raise UserError(f"--target {idx} is outside the training rows (0 to {len(rows) - 1})")
    return idx


def train_shadows(folder: Path, jobs: list[ShadowJob], spec: GeneratorSpec, rows: pd.DataFrame, target: int,
                  reference: TableLayout, settings: AuditSettings, workers: int, quiet: bool) -> dict[str, float]:
    """Train every shadow model whose features are not on disk yet, in `workers` processes."""
    from joblib import Parallel, delayed

    todo = [j for j in jobs if load_shadow(folder, j) is None]
    n_synth = settings.n_synthetic or len(rows)
    start = time.perf_counter()
    bar = progress(total=len(jobs), desc="shadow models", quiet=quiet)
    bar.update(len(jobs) - len(todo))
    args = (spec, rows, target, reference, n_synth, settings.features, settings.on)
    if workers == 1:
        results = ((j, train_shadow(j, *args)) for j in todo)
    else:
        results = Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered")(
            delayed(_job)(j, *args) for j in todo)
    for job, feats in results:
        save_shadow(folder, job, feats)
        bar.update(1)
    bar.close()
    return {"trained": len(todo), "reused": len(jobs) - len(todo), "seconds": round(time.perf_counter() - start, 2)}


def _job(job: ShadowJob, *args: Any) -> tuple[ShadowJob, dict[str, np.ndarray]]:
    return job, train_shadow(job, *args)


def feature_matrices(folder: Path, jobs: list[ShadowJob], features: tuple[str, ...]
                     ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One (X, labels, pair ids) per attack; "both" concatenates corr and naive of the same source."""
    loaded = [load_shadow(folder, j) for j in jobs]
    keys = sorted(loaded[0])  # type: ignore[arg-type]
    labels = np.array([int(j.member) for j in jobs])
    pairs = np.array([j.index for j in jobs])
    out = {k: (np.stack([m[k] for m in loaded]), labels, pairs) for k in keys}  # type: ignore[index]
    if set(features) == {"corr", "naive"}:
        sources = sorted({k.rsplit(".", 1)[0] for k in keys})
        for s in sources:
            out[f"{s}.both"] = (np.hstack([out[f"{s}.corr"][0], out[f"{s}.naive"][0]]), labels, pairs)
    return out


def verdict(epsilon_lb: float, claimed: float | None) -> str:
    if claimed is None:
        if epsilon_lb == 0:
            return "no DP claim; the audit could not prove any leakage about this target (ε lower bound 0)"
        return f"no DP claim; the audit proves ε ≥ {epsilon_lb:.3g} for this target"
    if epsilon_lb > claimed:
        return f"VIOLATES the claim: measured ε ≥ {epsilon_lb:.3g} > claimed ε = {claimed:.3g}"
    return f"consistent with the claim: measured ε ≥ {epsilon_lb:.3g} ≤ claimed ε = {claimed:.3g}"


def run_audit(rows: pd.DataFrame, reference: TableLayout, spec: GeneratorSpec, settings: AuditSettings,
              out: Path | str, target: str | int = "auto", claimed_epsilon: float | None = None,
              workers: int = 0, overwrite: bool = False, quiet: bool = False,
              extra_config: dict[str, Any] | None = None) -> RunDir:
    """The library call: audit any registered generator on `rows` (a table) for one target row."""
    settings.validate()
    if workers < 0:
        raise UserError(f"--workers must be 0 (every core) or positive, got {workers}")
    rows, row = with_target(target, rows, reference)
    config = {"generator": spec.to_json(), **asdict(settings), "target_row": row,
              "claimed_epsilon": claimed_epsilon, "n_rows": len(rows), **(extra_config or {})}
    if str(target) == "planted":  # only then, so audit directories of earlier versions still resume
        config["planted"] = True
    run = RunDir.create(out, KIND, config, overwrite=overwrite, resume=True)
    jobs = shadow_jobs(settings.pairs, settings.seed)
    folder = run.file(SHADOW_DIR)
    folder.mkdir(exist_ok=True)
    import os

    n_workers = workers or os.cpu_count() or 1
    timing = train_shadows(folder, jobs, spec, rows, row, reference, settings, n_workers, quiet)
    run.log(event="shadows", **timing)
    matrices = feature_matrices(folder, jobs, settings.features)
    # every attack is one more test: each runs at α / (number of attacks), so the best bound holds at 1 − α
    cfg = AttackConfig(alpha=settings.alpha / len(matrices), delta=settings.delta)
    attacks = {name: set_attack(x, y, p, cfg, settings.seed) for name, (x, y, p) in matrices.items()}
    # the headline attack: the largest proven ε; among equal bounds (often all 0) the largest AUC
    best = max(attacks, key=lambda k: (attacks[k]["epsilon_lb"], np.nan_to_num(attacks[k]["auc_mean"])))
    eps = attacks[best]["epsilon_lb"]
    metrics = {"target_row": row, "target": rows.iloc[row].to_dict(), "pairs": settings.pairs,
               "attacks": attacks, "best_attack": best, "epsilon_lb": eps, "claimed_epsilon": claimed_epsilon,
               "verdict": verdict(eps, claimed_epsilon), "shadow_training": timing, "workers": n_workers}
    from privgen.audit.report import write_audit_report

    write_audit_report(run, metrics)
    run.write_metrics(metrics)
    return run
