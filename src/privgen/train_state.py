"""Optimizer state as flat named tensors, so a training checkpoint is one safetensors file (no pickle).

Shared by the diffusion and the VFL checkpoints: `optimizer_tensors` flattens `opt.state_dict()["state"]`
into "<param index>.<name>" entries and `restore_optimizer` validates them against the live parameters
before loading, so a checkpoint from another model is a clear error rather than a silent mismatch.
"""

from __future__ import annotations

import torch

from privgen.errors import UserError


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"{i}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return out


def section(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under "prefix.", with the prefix cut off."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load the flat state made by `optimizer_tensors`; any entry that does not fit is a UserError."""
    params = [p for g in opt.param_groups for p in g["params"]]
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        i, _, name = k.partition(".")
        if not i.isdigit() or int(i) >= len(params):
            raise UserError(f"{source}: optimizer tensor {k} does not belong to this model; the checkpoint is corrupted")
        per_param.setdefault(int(i), {})[name] = v
    for i, st in per_param.items():
        for name in ("exp_avg", "exp_avg_sq"):
            if name in st and st[name].shape != params[i].shape:
                raise UserError(f"{source}: optimizer tensor {i}.{name} has shape {tuple(st[name].shape)}, the "
                                f"parameter has {tuple(params[i].shape)}; the checkpoint is corrupted")
    sd = opt.state_dict()
    sd["state"] = per_param
    opt.load_state_dict(sd)


def restore_rng(tensors: dict[str, torch.Tensor], generators: dict[str, torch.Generator], source: str) -> None:
    """Set torch's global RNG ("torch_rng") and each named generator from their saved uint8 states."""
    try:
        for name, gen in generators.items():
            gen.set_state(tensors[name])
        torch.set_rng_state(tensors["torch_rng"])
    except (KeyError, RuntimeError) as e:
        raise UserError(f"{source}: RNG state is missing or not valid ({e}); the checkpoint is corrupted") from None
