"""What every demo stage is given: where to write, how loud to be, and whether to use shipped models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class DemoContext:
    out: Path
    quiet: bool = False
    from_scratch: bool = False  # train every model here instead of installing the shipped checkpoints


def scratch_source(name: str) -> dict[str, Any]:
    """Where a --from-scratch model came from (the shipped ones carry `privgen.checkpoints.provenance`)."""
    return {"name": name, "source": "trained by this demo (--from-scratch)"}


Stage = Callable[[DemoContext], tuple[str, dict[str, Any]]]
