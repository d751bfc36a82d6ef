"""What `audit synthetic` audits: a trained run directory's recipe (its data, columns, schema, model type,
network size, batch size, iterations and DP mode), so the shadow models retrain what the user trained."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privgen.errors import UserError


@dataclass(frozen=True)
class Recipe:
    data_spec: dict[str, Any]
    model_type: str
    size: str
    batch_size: int
    lr: float
    lambda_gp: float
    iterations: int
    dp: str
    sigma: float | None
    clip: float
    delta: float


def size_name(sizes: dict[str, Any]) -> str:
    """The --size preset a run's saved network sizes are (runs are only ever trained with a preset)."""
    from privgen.vfl.nets import SIZE_PRESETS, NetSizes

    found = NetSizes.from_json(sizes)
    for name, preset in SIZE_PRESETS.items():
        if preset == found:
            return name
    raise UserError(f"the run's network sizes {sizes} are none of the presets {', '.join(SIZE_PRESETS)}")


def run_recipe(path: Path) -> Recipe:
    """A finished `vfl train` run's recipe; a Ray run's party files must be readable here (the audit joins them)."""
    from privgen.runs import RunDir

    run = RunDir.open(path, "vfl")
    cfg, metrics = run.config, run.metrics
    dp = cfg.get("dp") or {"mode": "none"}
    gan = cfg.get("gan", {})
    return Recipe(data_spec=dict(cfg["data_spec"]), model_type=cfg["model"], size=size_name(cfg["sizes"]),
                  batch_size=int(gan.get("batch_size", 64)), lr=float(gan.get("lr", 2e-4)),
                  lambda_gp=float(gan.get("lambda_gp", 40.0)), iterations=int(cfg["iterations"]),
                  dp=dp["mode"], sigma=float(dp["sigma"]) if dp["mode"] != "none" else None,
                  clip=float(dp.get("clip") or 1.0) if dp["mode"] == "sound" else 1.0,
                  delta=float(metrics.get("dp", {}).get("delta", 1e-5)))
