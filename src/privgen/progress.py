"""One progress-bar helper: tqdm, silent when stderr is not a terminal or when asked to be quiet."""

from __future__ import annotations

import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
             quiet: bool = False, leave: bool = False) -> tqdm:
    disable = quiet or not sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, disable=disable, leave=leave, dynamic_ncols=True)
