"""What the audit trains: any generator with fit(rows) -> sample(n), by name from a registry.

The audit is not tied to VFLGAN: a `GeneratorSpec` names a registered factory and its options, so the
spec can cross a process boundary (shadow models train in worker processes) and be stored in the
audit's config. Two planted generators calibrate the audit itself: one that leaks its training rows
verbatim (the attack must find the target) and one that ignores its data (the attack must not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd


class AuditedGenerator(Protocol):
    def fit(self, rows: pd.DataFrame, seed: int) -> None: ...

    def sample(self, n: int, seed: int) -> pd.DataFrame: ...


@dataclass(frozen=True)
class GeneratorSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "options": self.options}


class Memoriser:
    """Publishes its training rows themselves, shuffled (a maximally leaky generator)."""

    def fit(self, rows: pd.DataFrame, seed: int) -> None:
        self.rows = rows.reset_index(drop=True)

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        order = np.random.default_rng(seed).permutation(len(self.rows))
        return self.rows.iloc[np.resize(order, n)].reset_index(drop=True)


class DataBlind:
    """Publishes rows drawn from a fixed public table, whatever it was trained on (leaks nothing)."""

    def __init__(self, public: list[dict[str, Any]]) -> None:
        self.public = pd.DataFrame.from_records(public)

    def fit(self, rows: pd.DataFrame, seed: int) -> None:
        pass

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        idx = np.random.default_rng(seed).integers(len(self.public), size=n)
        return self.public.iloc[idx].reset_index(drop=True)


class VflGenerator:
    """A VFL model (vflgan, vertigan, centralized) trained in-process on the party columns of `rows`.

    Each fit runs the whole pipeline on the rows it is given, encoders included, as a real run would:
    what the preprocessing reads is part of what the audit measures.
    """

    def __init__(self, model: str, groups: list[list[str]], target: str | None, size: str = "small",
                 iterations: int = 500, batch_size: int = 64, lr: float = 2e-4, lambda_gp: float = 40.0,
                 dp: str = "none", epsilon: float | None = None, sigma: float | None = None, delta: float = 1e-5,
                 clip: float = 1.0, schema: str | None = None, n_public: int | None = None) -> None:
        self.model_name, self.groups, self.target = model, groups, target
        self.size, self.iterations = size, iterations
        self.cfg_kwargs = {"batch_size": batch_size, "lr": lr, "lambda_gp": lambda_gp}
        self.dp = {"mode": dp, "epsilon": epsilon, "sigma": sigma, "delta": delta, "clip": clip}
        self.schema = schema  # the sound mode's public encoding; otherwise encoders are fitted on the rows
        # One public N for the models with and without the target, so they run the same mechanism (same q, T).
        self.n_public = n_public

    def fit(self, rows: pd.DataFrame, seed: int) -> None:
        import torch

        from privgen.data.tabular import TableEncoder
        from privgen.privacy.vfl_plan import plan_dp
        from privgen.seeding import seed_everything
        from privgen.vfl.config import GanConfig
        from privgen.vfl.nets import SIZE_PRESETS
        from privgen.vfl.partition import TableLayout
        from privgen.vfl.store import build_model
        from privgen.vfl.trainer import train

        if self.schema:
            from privgen.privacy.schema import encoder_from_schema, load_schema

            public = load_schema(self.schema)
            self.layout = TableLayout([encoder_from_schema(public, g) for g in self.groups], self.target)
        else:
            self.layout = TableLayout([TableEncoder.fit(rows[g]) for g in self.groups], self.target)
            if self.dp["mode"] == "none":  # as `vfl train` does: observed bounds without DP only
                self.layout.observe_bounds(rows)
        cfg = GanConfig(**self.cfg_kwargs)
        d = self.dp
        dp_cfg, _ = plan_dp(d["mode"], d["epsilon"], d["delta"], d["sigma"], "improved", d["clip"],
                            self.n_public or len(rows), cfg.batch_size, self.iterations * cfg.n_critic)
        seed_everything(seed)
        parts = [torch.from_numpy(np.asarray(p, dtype=np.float32)) for p in self.layout.split(rows)]
        self.model = build_model(self.model_name, self.layout.dims(), self.layout, SIZE_PRESETS[self.size], cfg,
                                 parts=parts, device=torch.device("cpu"), dp=dp_cfg)
        train(self.model, len(rows), self.iterations, seed, quiet=True)

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        from privgen.vfl.publish import sample_table

        return sample_table(self.model, self.layout, n, seed)

    def intermediate(self, rows: pd.DataFrame) -> list[np.ndarray]:
        """Each party's bottom-critic features D_Ck on the given real rows (what ASIF attacks)."""
        import torch

        parties = getattr(self.model, "parties", None)
        if not parties:
            raise ValueError(f"{self.model_name} has no party critics")
        with torch.no_grad():
            return [p.bottom(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()
                    for p, x in zip(parties, self.layout.split(rows))]


GENERATORS: dict[str, Callable[..., AuditedGenerator]] = {
    "vfl": VflGenerator,
    "memoriser": Memoriser,
    "data-blind": DataBlind,
}


def make_generator(spec: GeneratorSpec) -> AuditedGenerator:
    return GENERATORS[spec.name](**spec.options)
