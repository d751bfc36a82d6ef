"""Data parallelism for the diffusion side, through Hugging Face accelerate (`accelerate launch`).

Without `accelerate launch` (or torchrun) nothing here is active: `current()` is a single process, the
UNet is called as before and every file is written as before, so a plain run gives the same weights as
before this module existed.

Under a launcher with N processes, every step works on ONE global batch of B images (B = --batch-size,
B % N == 0). Every process holds the whole data set and draws the whole batch's randomness (indices,
timesteps, noise, condition dropout) from the same seeded generator, exactly as one process would; the
UNet then runs forward and backward only on this process's B/N rows (`Sharded`), and the outputs are
gathered so that every process computes the loss of the whole batch. Gradients are averaged across
processes (`sync_grads`), so the update equals one process's full-batch update up to float summation
order, and every process makes the same update. Why not `accelerator.prepare(model)` (torch DDP): the
unlearning methods call the UNet several times per step, and some twice per backward (GA, EraseDiff,
SalUn's mask), which DDP's one-forward-one-backward reducer does not allow; the collective here is the
same averaging DDP does, one all-reduce per step.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from privgen.errors import UserError

# Set by every `accelerate launch` (and torchrun sets WORLD_SIZE): the process was started to run in parallel.
LAUNCH_MARKERS = ("ACCELERATE_MIXED_PRECISION",)
PRECISIONS = ("no", "bf16")  # fp16 needs loss scaling, which the shared loops do not do


def launched() -> bool:
    """True when a launcher (accelerate launch, torchrun) started this process."""
    return any(k in os.environ for k in LAUNCH_MARKERS) or int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


@dataclass
class Parallel:
    """This process's place in a data-parallel run; `accelerator` is None for a plain single process."""

    accelerator: Any = None

    @property
    def enabled(self) -> bool:
        return self.accelerator is not None

    @property
    def num_processes(self) -> int:
        return self.accelerator.num_processes if self.enabled else 1

    @property
    def rank(self) -> int:
        return self.accelerator.process_index if self.enabled else 0

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process if self.enabled else True

    @property
    def mixed_precision(self) -> str:
        return self.accelerator.mixed_precision if self.enabled else "no"

    def config(self) -> dict[str, Any]:
        """What a run's config.json adds: nothing for one fp32 process (old configs and cache keys stay
        valid); the process count and precision otherwise (the weights depend on them at float level)."""
        out: dict[str, Any] = {}
        if self.num_processes > 1:
            out["processes"] = self.num_processes
        if self.mixed_precision != "no":
            out["mixed_precision"] = self.mixed_precision
        return out

    def check_batch(self, batch_size: int, option: str = "--batch-size") -> None:
        if batch_size % self.num_processes:
            raise UserError(f"{option} {batch_size} does not split over {self.num_processes} processes; give a "
                            f"multiple of {self.num_processes} (each process takes an equal share of the batch)")

    def local(self, n: int) -> slice:
        """This process's rows of a batch of n."""
        if n % self.num_processes:
            raise UserError(f"a batch of {n} images does not split over {self.num_processes} processes; give a "
                            f"--batch-size that is a multiple of {self.num_processes}")
        k = n // self.num_processes
        return slice(self.rank * k, (self.rank + 1) * k)

    def gather(self, local: torch.Tensor) -> torch.Tensor:
        """Every process's rows, in rank order; its gradient flows back to this process's rows only."""
        return _Gather.apply(local, self) if self.num_processes > 1 else local

    def sync_grads(self, module: nn.Module) -> None:
        """Average the gradients of `module` over processes (one all-reduce); nothing for one process."""
        if self.num_processes <= 1:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return
        flat = self.accelerator.reduce(torch.cat([g.reshape(-1) for g in grads]), reduction="mean")
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def wait(self) -> None:
        if self.enabled:
            self.accelerator.wait_for_everyone()

    def main_first(self) -> contextlib.AbstractContextManager:
        """Run a block on the main process first (e.g. filling a cache), then on the others."""
        return self.accelerator.main_process_first() if self.enabled else contextlib.nullcontext()

    def autocast(self) -> contextlib.AbstractContextManager:
        return self.accelerator.autocast() if self.enabled else contextlib.nullcontext()

    def quiet(self, quiet: bool) -> bool:
        """Progress output from the main process only."""
        return quiet or not self.is_main


class _Gather(torch.autograd.Function):
    """all-gather forward; backward keeps this process's slice of the incoming gradient, times N.

    Every process computes the same loss from the same gathered output, so the gradient reaching the gather
    is the same everywhere and no communication is needed to route it back. The factor N compensates the
    averaging in `sync_grads`: mean over processes of N * (grad of own rows) = grad of the whole batch,
    while a term outside the batch (an EWC penalty) has the same gradient on every process and keeps it."""

    @staticmethod
    def forward(ctx, local: torch.Tensor, par: Parallel) -> torch.Tensor:
        ctx.rows, ctx.n = par.local(local.shape[0] * par.num_processes), par.num_processes
        return par.accelerator.gather(local.contiguous())

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad[ctx.rows] * ctx.n, None


class Sharded(nn.Module):
    """A UNet called on a whole batch that runs only this process's rows and returns every row.

    Transparent to the losses: they draw and see the whole global batch, as in one process."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, sample: torch.Tensor, timestep: Any, class_labels: torch.Tensor | None = None, **kw: Any):
        from diffusers.models.unets.unet_2d import UNet2DOutput

        par = current()
        n = sample.shape[0]
        rows = par.local(n)
        if torch.is_tensor(timestep) and timestep.ndim > 0 and timestep.shape[0] == n:
            timestep = timestep[rows]
        labels = class_labels[rows] if class_labels is not None else None
        with par.autocast():
            out = self.module(sample[rows], timestep, class_labels=labels, **kw).sample
        return UNet2DOutput(sample=par.gather(out.float()))


def sharded(module: nn.Module) -> nn.Module:
    """`module` itself for a plain process (bit-for-bit the old path), else its `Sharded` wrapper."""
    return Sharded(module) if current().enabled else module


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, Sharded) else module


_current = Parallel()


def current() -> Parallel:
    return _current


def setup(device: str | torch.device = "auto") -> tuple[Parallel, torch.device]:
    """Join the launcher's process group when there is one; returns this process's state and device.

    Plain process: `resolve_device(device)` as always. Under a launcher: accelerate picks the device
    (one GPU per process, or the CPU with gloo for `--device cpu`); a fixed `cuda:N` is refused when there
    are several processes (each must take its own GPU)."""
    global _current
    from privgen.checks import resolve_device

    if not launched():
        return _current, resolve_device(device)
    name = str(device).strip()
    if _current.enabled:
        return _current, _local_device(_current)
    if name not in ("auto", "cpu", "cuda"):
        resolve_device(name)  # an unknown or unusable name: its usual error
        if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
            raise UserError(f"--device {name} under a launcher with several processes: each process takes its own "
                            "device; pass --device auto (or cpu)")
    elif name == "cuda":
        resolve_device(name)
    from accelerate import Accelerator

    acc = Accelerator(cpu=name == "cpu")
    if acc.mixed_precision not in PRECISIONS:
        raise UserError(f"--mixed_precision {acc.mixed_precision}: privgen trains in fp32 (no) or bf16; fp16 needs "
                        "loss scaling, which its loops do not do. Launch with --mixed_precision bf16 or no")
    _current = Parallel(acc)
    return _current, _local_device(_current)


def _local_device(par: Parallel) -> torch.device:
    dev = par.accelerator.device
    return torch.device("cpu") if dev.type == "cpu" else dev  # "cpu:0" would change config.json's device
