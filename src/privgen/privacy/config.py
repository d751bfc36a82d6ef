"""The DP settings a VFL model trains under (saved in the run's config.json as "dp")."""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import torch

MODES = ("none", "paper", "sound")


@dataclass(frozen=True)
class DPConfig:
    """mode "none" trains exactly as without this config; "paper" and "sound" need sigma > 0.

    clip: the clip norm C (paper: 1.5/B on the first layer's batch gradient; sound: per example, joint).
    expected_batch: B; the sound mode divides the noisy sum by it (Poisson batches vary in size).
    sample_rate: q = B/N.
    """

    mode: str = "none"
    sigma: float = 0.0
    clip: float = 0.0
    sample_rate: float = 0.0
    expected_batch: int = 0
    seed: int = 0

    @property
    def on(self) -> bool:
        return self.mode != "none"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict | None) -> "DPConfig":
        return cls(**d) if d else cls()

    def noise_generator(self, owner: str) -> torch.Generator:
        """Each party (and the server) draws its own noise from its own generator: no one else sees it."""
        return torch.Generator().manual_seed((self.seed * 1_000_003 + zlib.crc32(owner.encode())) % (2**63))


NO_DP = DPConfig()
