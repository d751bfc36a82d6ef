"""Training hyper-parameters shared by every VFL model (one dataclass, saved in the run's config)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GanConfig:
    batch_size: int = 64
    lr: float = 2e-4
    n_critic: int = 5
    lambda_gp: float = 40.0
    lambda_local: float = 1.0

    def to_json(self) -> dict:
        return asdict(self)
