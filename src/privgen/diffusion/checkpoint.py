"""Training checkpoints: raw weights, EMA, AdamW state, step and RNG states in ONE safetensors file.

Everything is a tensor (the torch generator state is a uint8 tensor), so resuming restores the exact
stream of batches, timesteps, noise and dropout masks: resumed == uninterrupted, bit for bit, on CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from privgen.errors import UserError
from privgen.runs import check_state, load_tensors, save_tensors
from privgen.train_state import optimizer_tensors, restore_optimizer, restore_rng, section


def save_checkpoint(path: Path, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer, step: int,
                    generator: torch.Generator, extra: dict[str, torch.Tensor] | None = None) -> None:
    tensors: dict[str, torch.Tensor] = {}
    tensors.update({f"model.{k}": v for k, v in model.state_dict().items()})
    tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    tensors.update({f"optim.{k}": v for k, v in optimizer_tensors(opt).items()})
    tensors["state.step"] = torch.tensor([step], dtype=torch.int64)
    tensors["state.generator"] = generator.get_state()
    tensors["state.torch_rng"] = torch.get_rng_state()
    for k, v in (extra or {}).items():
        tensors[f"extra.{k}"] = v
    save_tensors(path, tensors, metadata={"format": "privgen-diffusion-checkpoint", "step": str(step)})


def load_checkpoint(path: Path, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer,
                    generator: torch.Generator) -> int:
    """Restore everything in place and return the step; any mismatch is a UserError."""
    tensors = load_tensors(path)
    for name, module in (("model", model), ("ema", ema)):
        part = section(tensors, name)
        check_state(module.state_dict(), part, f"{path} ({name})")
        module.load_state_dict(part)
    state = section(tensors, "state")
    if not {"step", "generator", "torch_rng"} <= set(state):
        raise UserError(f"{path} lacks the step/RNG state; the checkpoint is corrupted")
    restore_optimizer(opt, section(tensors, "optim"), str(path))
    restore_rng(state, {"generator": generator}, str(path))
    return int(state["step"].item())


def load_module_section(module: nn.Module, path: Path, part: str) -> None:
    """Load one module's weights ('model' = raw training weights, 'ema') from a checkpoint, validated."""
    state = section(load_tensors(path), part)
    check_state(module.state_dict(), state, f"{path} ({part})")
    module.load_state_dict(state)
