"""VFL training checkpoints: every module, every optimiser, the server's schedule, the RNG and the
transport's counters in ONE safetensors file, so a resumed run continues the uninterrupted one bit for bit
on CPU (the schedule's generator decides rows, latent seeds and α; torch's global RNG the Gumbel noise).

A DP run's secret randomness (noise, sampled rows, the sound mode's per-row draws, the parties' mask keys)
comes from the OS CSPRNG and is not here: there is no state of it to save, so a resumed DP run continues
with fresh draws, the same mechanism, and its accountant counts every planned step (docs/dp.md)."""

from __future__ import annotations

from pathlib import Path

import torch

from privgen.errors import UserError
from privgen.runs import check_state, load_tensors, save_tensors
from privgen.train_state import optimizer_tensors, restore_optimizer, restore_rng, section
from privgen.vfl.models import VflModel
from privgen.vfl.trainer import Schedule

CHECKPOINT = "checkpoint.safetensors"
_STATE = {"iteration", "schedule_generator", "schedule_perm", "schedule_pos", "torch_rng", "transport"}


def save_checkpoint(path: Path, model: VflModel, sched: Schedule, iteration: int) -> None:
    tensors: dict[str, torch.Tensor] = {}
    for name, module in model.modules().items():
        tensors.update({f"module.{name}.{k}": v for k, v in module.state_dict().items()})
    for name, opt in model.optimizers().items():
        tensors.update({f"optim.{name}.{k}": v for k, v in optimizer_tensors(opt).items()})
    state = {"iteration": torch.tensor([iteration], dtype=torch.int64), "torch_rng": torch.get_rng_state(),
             "transport": model.transport.counters(), **sched.state()}
    for name, gen in model.rng_streams().items():
        state[f"stream.{name}"] = gen.get_state()
    if model.dp.on:  # the accountant's state: with σ and q fixed in the config, ε is a function of the steps
        state["dp_steps"] = torch.tensor([iteration * model.cfg.n_critic], dtype=torch.int64)
    tensors.update({f"state.{k}": v for k, v in state.items()})
    save_tensors(path, tensors, metadata={"format": "privgen-vfl-checkpoint", "iteration": str(iteration)})


def load_checkpoint(path: Path, model: VflModel, sched: Schedule) -> int:
    """Restore everything in place and return the iterations done; any mismatch is a UserError."""
    tensors = load_tensors(path)
    for name, module in model.modules().items():
        part = section(tensors, f"module.{name}")
        check_state(module.state_dict(), part, f"{path} ({name})")
        module.load_state_dict(part)
    for name, opt in model.optimizers().items():
        restore_optimizer(opt, section(tensors, f"optim.{name}"), f"{path} ({name})")
    state = section(tensors, "state")
    if not _STATE <= set(state):
        raise UserError(f"{path} lacks {', '.join(sorted(_STATE - set(state)))}; the checkpoint is corrupted")
    streams = {f"stream.{name}": gen for name, gen in model.rng_streams().items()}
    if model.dp.on and "dp_steps" not in state:
        raise UserError(f"{path} holds no DP accountant state; it belongs to a run without --dp")
    restore_rng(state, {"schedule_generator": sched.gen, **streams}, str(path))
    try:
        sched.restore(state["schedule_perm"], int(state["schedule_pos"].item()))
    except ValueError as e:
        raise UserError(f"{path}: {e}; the checkpoint belongs to another run") from None
    model.transport.restore_counters(state["transport"])
    return int(state["iteration"].item())


def load_unfinished(path: Path, model: VflModel, sched: Schedule, planned: int, out: Path) -> int:
    """Resume from `path`: the iterations it holds, refused when the run already reached its budget."""
    done = load_checkpoint(path, model, sched)
    if done >= planned:
        raise UserError(f"--out {out} holds a checkpoint of {done} iterations already (the run stopped before "
                        "saving its model): ask for more --iterations/--epochs to continue it, or pass --overwrite")
    return done
