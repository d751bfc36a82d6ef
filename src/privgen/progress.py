"""Progress wherever privgen runs: a tqdm bar in a terminal or a notebook, a heartbeat line otherwise.

Without a terminal (a log file, `nohup`, CI) a bar would print nothing useful, so `Heartbeat` prints one
line every `PRIVGEN_HEARTBEAT_SECONDS` (30 by default; the first after a third of that) with the step, the
rate and the time left. Inside a benchmark worker a `sink` is installed: bars forward their state to the
parent process, which shows it (see `privgen.bench.pool`).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
HEARTBEAT_ENV = "PRIVGEN_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT = 30.0
FORWARD_SECONDS = 2.0  # how often a worker's bar reports to the parent

# Set in a benchmark worker: called with {"desc", "n", "total", "rate", "postfix", "done"} now and then.
_sink: Callable[[dict[str, Any]], None] | None = None


def set_sink(sink: Callable[[dict[str, Any]], None] | None) -> None:
    global _sink
    _sink = sink


def heartbeat_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(HEARTBEAT_ENV, DEFAULT_HEARTBEAT)))
    except ValueError:
        return DEFAULT_HEARTBEAT


def in_notebook() -> bool:
    """A Jupyter kernel: tqdm.auto draws a widget there, although stderr is no terminal."""
    shell = sys.modules.get("IPython")
    ip = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Heartbeat:
    """The tqdm calls privgen uses (update, set_postfix, set_description, close, iteration), as a line on
    stderr every `interval` seconds instead of a redrawn bar."""

    disable = False

    def __init__(self, iterable: Iterable[T] | None = None, total: int | None = None, desc: str = "",
                 interval: float | None = None, stream: Any = None) -> None:
        self.iterable, self.total, self.desc = iterable, total, desc
        self.n, self.postfix = 0, ""
        self.interval = heartbeat_seconds() if interval is None else interval
        self.stream = stream
        self.start = time.monotonic()
        # The first line comes after a third of the interval (10 s by default): a log file shows that a long
        # loop started well within its first interval, then a line per interval.
        self.last = self.start - self.interval * 2 / 3 if self.interval != float("inf") else self.start
        self.lines = 0

    def __iter__(self) -> Iterator[T]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> "Heartbeat":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        self.tick()

    def set_postfix(self, **kwargs: object) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in kwargs.items())

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text
        if refresh:
            self.tick()

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def refresh(self) -> None:
        self.tick()

    def tick(self) -> None:
        """Print a line when the interval has passed (called on every update, and by waiting loops)."""
        if time.monotonic() - self.last >= self.interval:
            self.emit()

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc}: {self.n}" + (f"/{self.total} ({100 * self.n / self.total:.0f}%)" if self.total else "")]
        if rate > 0:
            parts.append(f"{rate:.3g} it/s" if rate >= 1 else f"{1 / rate:.3g} s/it")
            if self.total:
                parts.append(f"ETA {fmt_seconds((self.total - self.n) / rate)}")
        parts.append(f"elapsed {fmt_seconds(elapsed)}")
        if self.postfix:
            parts.append(self.postfix)
        return ", ".join(parts)

    def emit(self) -> None:
        print(self.line(), file=self.stream or sys.stderr, flush=True)
        self.last = time.monotonic()
        self.lines += 1

    def close(self) -> None:
        if self.lines:  # it spoke before: say where it ended
            self.emit()
            self.lines = 0
        self.interval = float("inf")


class Forwarder(Heartbeat):
    """A bar inside a benchmark worker: sends its state to the parent every FORWARD_SECONDS."""

    def __init__(self, sink: Callable[[dict[str, Any]], None], iterable: Iterable[T] | None = None,
                 total: int | None = None, desc: str = "") -> None:
        super().__init__(iterable, total, desc, interval=FORWARD_SECONDS)
        self.sink = sink
        self.emit()

    def emit(self) -> None:
        elapsed = time.monotonic() - self.start
        self.sink({"desc": self.desc, "n": self.n, "total": self.total, "elapsed": elapsed, "postfix": self.postfix,
                   "done": False})
        self.last = time.monotonic()

    def close(self) -> None:
        if self.interval != float("inf"):
            self.sink({"desc": self.desc, "n": self.n, "total": self.total, "elapsed": time.monotonic() - self.start,
                       "postfix": self.postfix, "done": True})
        self.interval = float("inf")


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
             quiet: bool = False, leave: bool = False) -> Any:
    """A progress display for a loop: tqdm in a terminal or notebook (tqdm.auto), a heartbeat line on stderr
    otherwise, forwarded to the parent inside a benchmark worker, nothing with `quiet`."""
    from tqdm.auto import tqdm

    if _sink is not None:  # a benchmark worker: the parent decides what to show (it set no sink when quiet)
        return Forwarder(_sink, iterable, total, desc)
    if quiet:
        return tqdm(iterable, total=total, desc=desc, disable=True)
    if sys.stderr.isatty() or in_notebook():
        return tqdm(iterable, total=total, desc=desc, leave=leave, dynamic_ncols=True)
    return Heartbeat(iterable, total, desc)
