"""Messages between parties and the server, and an in-process transport that logs every one of them.

Only three kinds of message exist: `control` (row indices, latent seed, interpolation weights: no data),
`features` (a bottom network's output, or a shared generator's hidden layer) and `feature_grad` (the
gradient of a loss with respect to such features). The transport copies each tensor and cuts its autograd
graph, so the receiver can only use what was actually sent; its log is what the privacy tests inspect.

The sound DP mode (privgen.privacy) adds two `control` messages per party and critic step: `sq_norms` (the
party's per-example squared gradient norms, b numbers, up) and `clip_factors` (b numbers, down). They are
statistics of gradients, like the row indices are of the schedule: no row, feature or gradient crosses.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch

from privgen.vfl.messages import KINDS, MessageValidator


@dataclass(frozen=True)
class Record:
    step: int
    sender: str
    receiver: str
    kind: str
    tag: str
    shape: tuple[int, ...]
    nbytes: int


class InProcessTransport:
    """Delivers tensors within one process; keeps the first `keep` records and running byte totals."""

    def __init__(self, keep: int = 2000) -> None:
        self.keep = keep
        self.records: list[Record] = []
        self.step = 0
        self.bytes_by_kind: Counter[str] = Counter()
        self.messages = 0
        self.validator = MessageValidator()

    def next_step(self) -> None:
        self.step += 1

    def send(self, sender: str, receiver: str, kind: str, tag: str, tensor: torch.Tensor) -> torch.Tensor:
        self.validator.check(sender, receiver, kind, tag, tensor)  # on receipt: nothing bad is delivered
        delivered = tensor.detach().clone()
        nbytes = delivered.numel() * delivered.element_size()
        self.bytes_by_kind[kind] += nbytes
        self.messages += 1
        if len(self.records) < self.keep:
            self.records.append(Record(self.step, sender, receiver, kind, tag, tuple(delivered.shape), nbytes))
        return delivered

    def counters(self) -> torch.Tensor:
        """Step, message count and bytes per kind as one int64 tensor (saved in training checkpoints)."""
        return torch.tensor([self.step, self.messages, *(self.bytes_by_kind[k] for k in KINDS)], dtype=torch.int64)

    def restore_counters(self, counters: torch.Tensor) -> None:
        step, messages, *per_kind = (int(v) for v in counters.tolist())
        self.step, self.messages = step, messages
        self.bytes_by_kind = Counter(dict(zip(KINDS, per_kind)))

    def step_bytes(self, step: int, kinds: tuple[str, ...] = ("features", "feature_grad")) -> int:
        """Bytes of the given kinds sent during one logged step."""
        return sum(r.nbytes for r in self.records if r.step == step and r.kind in kinds)
