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


def _optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"{i}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return out


def save_checkpoint(path: Path, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer, step: int,
                    generator: torch.Generator, extra: dict[str, torch.Tensor] | None = None) -> None:
    tensors: dict[str, torch.Tensor] = {}
    tensors.update({f"model.{k}": v for k, v in model.state_dict().items()})
    tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    tensors.update({f"optim.{k}": v for k, v in _optimizer_tensors(opt).items()})
    tensors["state.step"] = torch.tensor([step], dtype=torch.int64)
    tensors["state.generator"] = generator.get_state()
    tensors["state.torch_rng"] = torch.get_rng_state()
    for k, v in (extra or {}).items():
        tensors[f"extra.{k}"] = v
    save_tensors(path, tensors, metadata={"format": "privgen-diffusion-checkpoint", "step": str(step)})


def _section(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def load_checkpoint(path: Path, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer,
                    generator: torch.Generator) -> int:
    """Restore everything in place and return the step; any mismatch is a UserError."""
    tensors = load_tensors(path)
    for name, module in (("model", model), ("ema", ema)):
        part = _section(tensors, name)
        check_state(module.state_dict(), part, f"{path} ({name})")
        module.load_state_dict(part)
    state = _section(tensors, "state")
    if not {"step", "generator", "torch_rng"} <= set(state):
        raise UserError(f"{path} lacks the step/RNG state; the checkpoint is corrupted")
    params = [p for g in opt.param_groups for p in g["params"]]
    optim = _section(tensors, "optim")
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in optim.items():
        i, _, name = k.partition(".")
        if not i.isdigit() or int(i) >= len(params):
            raise UserError(f"{path}: optimizer tensor {k} does not belong to this model; the checkpoint is corrupted")
        per_param.setdefault(int(i), {})[name] = v
    for i, st in per_param.items():
        for name in ("exp_avg", "exp_avg_sq"):
            if name in st and st[name].shape != params[i].shape:
                raise UserError(f"{path}: optimizer tensor {i}.{name} has shape {tuple(st[name].shape)}, the "
                                f"parameter has {tuple(params[i].shape)}; the checkpoint is corrupted")
    sd = opt.state_dict()
    sd["state"] = per_param
    opt.load_state_dict(sd)
    try:
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
    except RuntimeError as e:
        raise UserError(f"{path}: RNG state is not valid ({e}); the checkpoint is corrupted") from None
    return int(state["step"].item())


def load_module_section(module: nn.Module, path: Path, part: str) -> None:
    """Load one module's weights ('model' = raw training weights, 'ema') from a checkpoint, validated."""
    state = _section(load_tensors(path), part)
    check_state(module.state_dict(), state, f"{path} ({part})")
    module.load_state_dict(state)
