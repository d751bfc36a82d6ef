"""Loss history of a training run: means over a regular interval, appended to the run's log.jsonl.

Logging reads numbers the loop already computed; it draws no random numbers and touches no weights, so a
run with the same seed trains the same weights with or without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

LOSS_EVENT = "loss"
# At least ~20 points on a short run's curve, and a line every 50 steps at most on a long one.
MAX_INTERVAL, POINTS = 50, 20


class Logger(Protocol):
    def log(self, **event: Any) -> None: ...


def log_interval(total_steps: int) -> int:
    return max(1, min(MAX_INTERVAL, total_steps // POINTS))


class LossLog:
    """Average each loss part over `every` steps and log one `loss` event per interval.

    `extra` values (a learning rate) are logged as their last value, not averaged."""

    def __init__(self, run: Logger | None, every: int) -> None:
        self.run, self.every = run, max(1, every)
        self._sums: dict[str, float] = {}
        self._count = 0
        self._extra: dict[str, Any] = {}

    def add(self, step: int, parts: dict[str, float], **extra: Any) -> None:
        for k, v in parts.items():
            self._sums[k] = self._sums.get(k, 0.0) + float(v)
        self._count += 1
        self._extra.update(extra)
        if step % self.every == 0:
            self.flush(step)

    def flush(self, step: int) -> None:
        if not self._count or self.run is None:
            return
        means = {k: v / self._count for k, v in self._sums.items()}
        self.run.log(event=LOSS_EVENT, step=step, **means, **self._extra)
        self._sums, self._count, self._extra = {}, 0, {}


def read_loss_events(log_path: Path) -> list[dict[str, Any]]:
    """The `loss` events of a log.jsonl, one per step: a resumed run may have logged a step twice (before it
    was interrupted and after resuming from an earlier checkpoint); the later line wins."""
    path = Path(log_path)
    if not path.is_file():
        return []
    by_step: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill: the rest of the log is still good
            continue
        if isinstance(event, dict) and event.get("event") == LOSS_EVENT and isinstance(event.get("step"), int):
            by_step[event["step"]] = event
    return [by_step[s] for s in sorted(by_step)]
