"""The DP settings a VFL model trains under (saved in the run's config.json as "dp")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

MODES = ("none", "paper", "sound")


@dataclass(frozen=True)
class DPConfig:
    """mode "none" trains exactly as without this config; "paper" and "sound" need sigma > 0.

    clip: the clip norm C (paper: 1.5/B on the first layer's batch gradient; sound: per example, joint).
    expected_batch: B; the sound mode divides the noisy sum by it (Poisson batches vary in size).
    sample_rate: q = B/N (sound: N is the public N, never the private row count).

    No seed: the randomness the guarantee rests on comes from the OS CSPRNG (`privgen.privacy.secret`).
    """

    mode: str = "none"
    sigma: float = 0.0
    clip: float = 0.0
    sample_rate: float = 0.0
    expected_batch: int = 0

    @property
    def on(self) -> bool:
        return self.mode != "none"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict | None) -> "DPConfig":
        """Runs of earlier releases stored a "seed" here (their noise was seeded); it is ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known}) if d else cls()


NO_DP = DPConfig()
