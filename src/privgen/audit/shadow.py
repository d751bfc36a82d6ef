"""Shadow models: K trained with the target row and K without it, each reduced to its feature vectors.

Only the feature vectors are kept (one .npz per model, written atomically), so an audit that was killed
resumes by training just the models whose file is missing. Workers are separate processes (joblib's
loky backend), one torch thread each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from privgen.audit.features import matrix_features, table_features
from privgen.audit.generators import GeneratorSpec, make_generator
from privgen.runs import atomic_write_npz
from privgen.vfl.partition import TableLayout

SHADOW_DIR = "shadow"


@dataclass(frozen=True)
class ShadowJob:
    """One shadow model: member says whether the target row is in its training rows."""

    index: int
    member: bool
    seed: int

    @property
    def name(self) -> str:
        return f"{'in' if self.member else 'out'}-{self.index:04d}"


def shadow_jobs(pairs: int, seed: int) -> list[ShadowJob]:
    """2K jobs; every model gets its own seed (all models are independent draws of the training process)."""
    rng = np.random.default_rng(seed)
    seeds = rng.choice(2**31 - 1, size=2 * pairs, replace=False)
    return [ShadowJob(i, member, int(seeds[2 * i + int(member)])) for i in range(pairs) for member in (True, False)]


def train_shadow(job: ShadowJob, spec: GeneratorSpec, rows: pd.DataFrame, target: int, reference: TableLayout,
                 n_synthetic: int, kinds: tuple[str, ...], on: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Fit one model (with or without row `target`) and return its feature vectors by name.

    "synthetic" (ASSD) featurises n_synthetic published rows in the reference encoding; "intermediate"
    (ASIF) featurises each party's D_Ck features on the rows every model shares (all but the target).
    """
    import torch

    torch.set_num_threads(1)
    others = rows.drop(index=target)
    train_rows = rows if job.member else others
    gen = make_generator(spec)
    gen.fit(train_rows.reset_index(drop=True), job.seed)
    out: dict[str, np.ndarray] = {}
    if "synthetic" in on:
        synth = gen.sample(n_synthetic, job.seed + 1)
        out.update({f"synthetic.{k}": v for k, v in table_features(synth, reference, kinds).items()})
    if "intermediate" in on:
        for k, feats in enumerate(gen.intermediate(others)):  # type: ignore[attr-defined]
            out.update({f"intermediate.party{k + 1}.{n}": v for n, v in matrix_features(feats, kinds).items()})
    return out


def save_shadow(folder: Path, job: ShadowJob, features: dict[str, np.ndarray]) -> None:
    atomic_write_npz(folder / f"{job.name}.npz", compressed=False, **features)


def load_shadow(folder: Path, job: ShadowJob) -> dict[str, np.ndarray] | None:
    path = folder / f"{job.name}.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
