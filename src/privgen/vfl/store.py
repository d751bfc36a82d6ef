"""Save and load a VFL run directory (kind "vfl"): config.json, layout.json, weights.safetensors.

The layout (image bands or the parties' fitted encoders) is JSON and the weights are safetensors, so a
published model directory can be loaded without executing anything it contains.
"""

from __future__ import annotations

from pathlib import Path

import torch

from privgen.checks import resolve_device
from privgen.errors import UserError
from privgen.privacy.config import NO_DP, DPConfig
from privgen.runs import RunDir, atomic_write_json, load_state_into, read_json, record_checksum, verify_checksum
from privgen.vfl.config import GanConfig
from privgen.vfl.models import MODELS, VflModel
from privgen.vfl.nets import NetSizes
from privgen.vfl.partition import ImageLayout, TableLayout, layout_from_json

KIND = "vfl"
WEIGHTS = "{}.safetensors"
LAYOUT = "layout.json"


def save_model(run: RunDir, model: VflModel, layout: ImageLayout | TableLayout) -> None:
    atomic_write_json(run.file(LAYOUT), layout.to_json())
    record_checksum(run.file(LAYOUT))  # the encoders decide how rows decode: an edit must not go unnoticed
    from privgen.runs import save_tensors

    for name, module in model.modules().items():
        save_tensors(run.file(WEIGHTS.format(name)), module.state_dict())


def build_model(name: str, dims: list[int], layout: ImageLayout | TableLayout, sizes: NetSizes, cfg: GanConfig,
                parts: list[torch.Tensor] | None = None, device: torch.device | str = "cpu",
                dp: DPConfig = NO_DP, rng_seed: int | None = None) -> VflModel:
    """`rng_seed`: party-local RNG streams (privgen.vfl.rng; vflgan only); None: torch's global RNG."""
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    parts = parts if parts is not None else [torch.zeros(1, d, device=device) for d in dims]
    if rng_seed is not None:
        if name != "vflgan":
            raise UserError(f"--rng party (and --transport ray) train vflgan only, not {name}")
        return MODELS[name](parts, layout.spans(), sizes, cfg, dp=dp, rng_seed=rng_seed)
    if dp.on:
        return MODELS[name](parts, layout.spans(), sizes, cfg, dp=dp)
    return MODELS[name](parts, layout.spans(), sizes, cfg)


def load_model(path: Path | str, device: torch.device | str = "cpu") -> tuple[VflModel, ImageLayout | TableLayout, RunDir]:
    run = RunDir.open(path, KIND)
    cfg = run.config
    if cfg.get("transport") == "ray":
        raise UserError(f"{path} was trained with --transport ray: each party's generator and encoder stay on its "
                        "own machine (parties/<name>/); publish with `privgen vfl generate --transport ray --model "
                        f"{path} ...`")
    device = resolve_device(device)
    verify_checksum(run.file(LAYOUT))
    try:
        layout = layout_from_json(read_json(run.file(LAYOUT)))
        dims = layout.dims()
        if not dims or not all(isinstance(d, int) and d > 0 for d in dims):
            raise ValueError(f"party widths {dims} are not positive")
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise UserError(f"{run.file(LAYOUT)} does not describe the parties' data ({type(e).__name__}: {e}); "
                        "the model directory is corrupted or was edited (train it again)") from None
    try:
        sizes, gan, name = NetSizes.from_json(cfg["sizes"]), GanConfig(**cfg["gan"]), cfg["model"]
        dp = DPConfig.from_json(cfg.get("dp"))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserError(f"{run.file('config.json')} lacks the model's sizes or settings ({type(e).__name__}: {e}); "
                        "the model directory is corrupted or was edited (train it again)") from None
    rng_seed = int(cfg["seed"]) if cfg.get("rng") == "party" else None
    model = build_model(name, dims, layout, sizes, gan, device=device, dp=dp, rng_seed=rng_seed)
    for name, module in model.modules().items():
        load_state_into(module, run.file(WEIGHTS.format(name)))
    return model, layout, run
