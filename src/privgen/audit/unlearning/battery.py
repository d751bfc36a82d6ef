"""The battery's unit of work: one DiMRA attack on one model, probed along the way, cached.

`run_attack` is the only place an attack of the audit or of `privgen bench unlearning` runs: it builds the
attacker's data, fine-tunes a copy of the weights (`privgen.attacks.relearn`), measures the forget rate at
the probe steps (`privgen.attacks.probe.ForgetProbe`) and, when asked, the retained quality there too (what
the quality rule reads on the oracle), and writes it all under a cache key chosen by the caller. A finished
entry is returned as it is, so a killed audit resumes at the first attack it had not finished, and a lock
per entry keeps two processes from running the same attack at once.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

from privgen.attacks.aux import AuxData, aux_version_key, build_aux
from privgen.audit.unlearning.forgotten import Forgotten
from privgen.cache import cache_path, digest, entry_lock
from privgen.diffusion.solvers import DEFAULT_SAMPLER
from privgen.diffusion.store import DiffusionModel, save_unet
from privgen.runs import RunDir, atomic_write_json, atomic_write_npz, read_json


@dataclass(frozen=True)
class Probe:
    """How the forget rate is measured at each curve point: n samples under the forgotten class."""

    n: int
    guidance_scale: float
    num_inference_steps: int
    seed: int = 0
    sampler: str = DEFAULT_SAMPLER


@dataclass(frozen=True)
class Quality:
    """How retained quality is measured for the quality rule: FD of n_per_class samples per retained class
    against the real retained test images, at each guidance scale."""

    n_per_class: int
    guidance_scales: tuple[float, ...]
    num_inference_steps: int
    seed: int = 0
    sampler: str = DEFAULT_SAMPLER


@dataclass(frozen=True)
class Attack:
    """One attack: the attacker's data source (k for k-shot), the budget, and the steps to probe at."""

    source: str
    lr: float
    points: tuple[int, ...]  # probe steps after the start; the last one is the attack's length
    batch_size: int
    seed: int = 0
    k: int | None = None

    @property
    def steps(self) -> int:
        return self.points[-1]


def retained_quality(model: DiffusionModel, clf, real, *, n_per_class: int, guidance_scales: tuple[float, ...],
                     num_inference_steps: int, seed: int, sampler: str = DEFAULT_SAMPLER) -> dict[str, float]:
    """Retained FD per guidance scale ({"g1": .., "g3": ..}): the battery's one call into the evaluator, kept
    narrow so a change of evaluator is a change here only."""
    from privgen.eval.frechet import FewSamplesWarning
    from privgen.eval.forgetting import evaluate_forgetting

    with warnings.catch_warnings():
        # Few samples bias FD upward, but the rule only compares it with the same model's FD at the same count.
        warnings.simplefilter("ignore", FewSamplesWarning)
        metrics, _ = evaluate_forgetting(model, clf, real, n_per_class=n_per_class, guidance_scales=guidance_scales,
                                         sampler=sampler, num_inference_steps=num_inference_steps, seed=seed)
    return {f"g{g:g}": float(metrics[f"g{g:g}"]["fd_retained"]) for g in guidance_scales}


def measure_quality(model: DiffusionModel, clf, real, quality: Quality) -> dict[str, float]:
    return retained_quality(model, clf, real, n_per_class=quality.n_per_class, guidance_scales=quality.guidance_scales,
                            num_inference_steps=quality.num_inference_steps, seed=quality.seed, sampler=quality.sampler)


def _finished(path: Path) -> bool:
    return (path / "metrics.json").exists()


def cached_quality(model: DiffusionModel, model_key: str, clf, real, quality: Quality, clf_key: str,
                   forgotten: Forgotten) -> dict[str, float]:
    """The model's retained quality before any attack: the same for every regime and lr, so computed once."""
    from privgen.serial import to_dict

    key = {"model": model_key, "quality": to_dict(quality), "classifier": clf_key, "forget": forgotten.key}
    path = cache_path("evals", f"audit-quality-{digest(key)}")
    with entry_lock(path):
        if not (path / "metrics.json").exists():
            fd = forgotten.retained_quality(model, clf, real, quality)
            path.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path / "metrics.json", fd)
    return read_json(path / "metrics.json")


def run_attack(path: Path, model: DiffusionModel, attack: Attack, probe: Probe, forgotten: Forgotten, clf,
               record: dict[str, Any], *, aux: AuxData | None = None, quality: Quality | None = None,
               quality_at_start: dict[str, float] | None = None, real=None, real_forgotten=None,
               quiet: bool = True) -> dict[str, Any]:
    """Attack a copy of `model` with DiMRA and probe it; returns the entry's metrics (cached at `path`).

    `record` goes into the entry's config.json (the caller's key and labels). `aux` may be given when the
    caller built the attacker's data already (it is the same for every lr). With `quality`, the retained FD
    is measured at every probe point as well (`quality_at_start` is its value at step 0). With
    `real_forgotten` (features of the real test images of what was forgotten), every probe point also records what
    an attacker gets: the classifier's mean confidence in the class and the FD of the probe's samples."""
    with entry_lock(path):
        if not _finished(path):
            _attack(path, model, attack, probe, forgotten, clf, record, aux, quality, quality_at_start, real,
                    real_forgotten, quiet)
    return RunDir.open(path, "diffusion").metrics


def build_attack_data(model: DiffusionModel, attack: Attack, forgotten: Forgotten, clf) -> AuxData:
    return build_aux(attack.source, forgotten.aux_request(model, seed=attack.seed, k=attack.k, source=attack.source,
                                                          clf=clf))


def cached_attack_data(model: DiffusionModel, model_key: str, attack: Attack, forgotten: Forgotten, clf,
                       clf_key: str) -> AuxData | None:
    """The attacker's data when building it costs sampling (`generated`: 100 samples per condition), kept in
    the cache so that the attacks at every lr of one model share one build; None for the other sources,
    which read their data from disk in a moment."""
    if attack.source != "generated":
        return None
    import numpy as np
    import torch

    key = {"model": model_key, "source": attack.source, **aux_version_key(attack.source), "seed": attack.seed,
           "forget": forgotten.key, "classifier": clf_key}
    path = cache_path("aux", f"{attack.source}-{digest(key)}")
    with entry_lock(path):
        if not (path / "aux.json").exists():
            aux = build_attack_data(model, attack, forgotten, clf)
            path.mkdir(parents=True, exist_ok=True)
            atomic_write_npz(path / "aux.npz", x=aux.x.numpy(), y=aux.y.numpy())
            atomic_write_json(path / "aux.json", {"description": aux.description, "key": key})
    with np.load(path / "aux.npz") as f:
        x, y = torch.from_numpy(f["x"]), torch.from_numpy(f["y"])
    return AuxData(x, y, read_json(path / "aux.json")["description"])


def _attack(path: Path, model: DiffusionModel, attack: Attack, probe: Probe, forgotten: Forgotten, clf,
            record: dict[str, Any], aux: AuxData | None, quality: Quality | None,
            quality_at_start: dict[str, float] | None, real, real_forgotten, quiet: bool) -> None:
    from privgen.attacks import relearn
    from privgen.attacks.relearn import aux_loss
    from privgen.diffusion.preview import with_weights

    aux = aux if aux is not None else build_attack_data(model, attack, forgotten, clf)
    run = RunDir.create(path, "diffusion", {**model.config, "attack": {**record, "n_aux": len(aux)}}, overwrite=True)
    target = with_weights(model, copy.deepcopy(model.unet))  # relearn trains in place: the caller's model stays as it was
    forget_probe = forgotten.probe(target, clf, probe, real_forgotten)
    forget_probe(0, target.unet)
    initial_probe = forget_probe.seconds  # before the attack starts: never part of its time
    fd: list[dict[str, Any]] = []
    if quality is not None:
        fd.append({"step": 0, "fd_retained": quality_at_start})
    quality_seconds = 0.0
    wanted = set(attack.points)

    def hook(step: int, unet) -> None:
        nonlocal quality_seconds
        if step not in wanted:
            return
        forget_probe(step, unet)
        if quality is not None:
            t0 = time.perf_counter()
            fd.append({"step": step, "fd_retained": forgotten.retained_quality(with_weights(model, unet), clf, real,
                                                                               quality)})
            unet.train()
            quality_seconds += time.perf_counter() - t0

    loss0 = aux_loss(target.unet, aux, model.null_class)
    start = time.perf_counter()
    state = relearn(target, aux, steps=attack.steps, lr=attack.lr, batch_size=attack.batch_size, seed=attack.seed,
                    checkpoint_every=reduce(math.gcd, attack.points), on_checkpoint=hook, quiet=quiet)
    probe_seconds = forget_probe.seconds - initial_probe
    seconds = time.perf_counter() - start - probe_seconds - quality_seconds
    save_unet(state.unet, run)
    metrics: dict[str, Any] = {
        "attack_seconds": round(seconds, 2), "probe_seconds": round(probe_seconds, 2),
        "relearn_curve": forget_probe.curve(), "relearn_points": forget_probe.points,
        "aux_loss_before": loss0, "aux_loss_after": aux_loss(state.unet, aux, model.null_class),
        "n_aux": len(aux), "aux_description": aux.description}
    if quality is not None:
        metrics.update(quality=fd, quality_seconds=round(quality_seconds, 2))
    run.write_metrics(metrics)
