"""Run a small graph of tasks on worker processes, with one progress bar for the whole graph.

On the 2-core reference CPU two single-threaded workers beat one two-threaded process for these small
models (docs/diffusion.md), so independent stages of a benchmark (pretraining and the retrain oracle;
the unlearning methods; the attacks) run side by side. `workers=1` runs everything in this process.

Progress inside a task is not lost in a worker: its bars forward their state through a queue (see
`privgen.progress.set_sink`), and the graph's own bar (or heartbeat line) shows each running task's step,
rate and ETA, so a log file sees more than one line per finished task.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable

from privgen import progress as progress_mod
from privgen.progress import fmt_seconds, progress
from privgen.warn import install as install_warnings

POLL_SECONDS = 1.0  # how often the parent looks at forwarded progress while tasks run


@dataclass
class Task:
    name: str
    fn: Callable[..., Any]          # a module-level function (it is pickled to the worker)
    args: tuple = ()
    deps: tuple[str, ...] = ()
    # Called in this process with the results of the deps, to finish the args just before submitting.
    bind: Callable[[dict[str, Any]], tuple] | None = field(default=None, repr=False)


def _single_thread() -> None:
    from privgen.threads import mark_shared_worker

    mark_shared_worker()


_current_task = ""


def _worker_init(events: Any) -> None:
    """One torch thread; bars forward to the parent through `events` (None when the parent is quiet)."""
    _single_thread()
    install_warnings()
    if events is not None:
        progress_mod.set_sink(lambda ev: events.put({**ev, "task": _current_task}))


def _run_task(name: str, fn: Callable[..., Any], *args: Any) -> Any:
    global _current_task
    _current_task = name
    return fn(*args)


def describe_inner(ev: dict[str, Any]) -> str:
    """`diffusion train 120/300, 2.1 it/s, ETA 57s` from one forwarded bar state."""
    n, total, elapsed = ev["n"], ev["total"], ev["elapsed"]
    text = f"{ev['desc']} {n}" + (f"/{total}" if total else "")
    rate = n / elapsed if elapsed > 0 else 0.0
    if rate > 0:
        text += f", {rate:.3g} it/s" if rate >= 1 else f", {1 / rate:.3g} s/it"
        if total:
            text += f", ETA {fmt_seconds((total - n) / rate)}"
    return text


def run_graph(tasks: list[Task], workers: int = 2, desc: str = "bench", quiet: bool = False) -> dict[str, Any]:
    """Run every task once its deps are done; returns {name: result}. A failing task stops the graph."""
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError("task names must be unique")
    unknown = {d for t in tasks for d in t.deps} - set(names)
    if unknown:
        raise ValueError(f"unknown dependencies: {sorted(unknown)}")
    results: dict[str, Any] = {}
    pending = list(tasks)
    bar = progress(total=len(tasks), desc=desc, quiet=quiet, leave=True)
    start = time.perf_counter()
    inner: dict[str, str] = {}  # running task -> its latest forwarded progress

    def on_event(ev: dict[str, Any]) -> None:
        if ev.get("done"):
            inner.pop(ev["task"], None)
        else:
            inner[ev["task"]] = describe_inner(ev)
        if not bar.disable:
            bar.set_postfix_str("; ".join(f"[{k}] {v}" for k, v in inner.items()))

    def finished(name: str) -> None:
        inner.pop(name, None)
        bar.update(1)
        if isinstance(bar, progress_mod.Heartbeat) and not quiet:  # no terminal: a line per finished stage too
            print(f"{desc}: {len(results)}/{len(tasks)} done, {name} ({time.perf_counter() - start:.0f} s)",
                  file=sys.stderr, flush=True)

    def ready() -> list[Task]:
        out = [t for t in pending if all(d in results for d in t.deps)]
        for t in out:
            pending.remove(t)
        return out

    def args_of(t: Task) -> tuple:
        return t.bind({d: results[d] for d in t.deps}) if t.bind else t.args

    if workers <= 1:
        global _current_task
        previous = progress_mod._sink
        if not quiet:  # the tasks' own bars report here, as a worker's would
            progress_mod.set_sink(lambda ev: on_event({**ev, "task": _current_task}))
        try:
            while pending:
                batch = ready()
                if not batch:
                    raise ValueError(f"dependency cycle among {[t.name for t in pending]}")
                for t in batch:
                    bar.set_description(f"{desc}: {t.name}")
                    results[t.name] = _run_task(t.name, t.fn, *args_of(t))
                    finished(t.name)
        finally:
            progress_mod.set_sink(previous)
        bar.close()
        return results
    ctx = mp.get_context("spawn")
    events = None if quiet else ctx.Queue()
    running: dict[Future, str] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(events,)) as pool:
        while pending or running:
            for t in ready():
                running[pool.submit(_run_task, t.name, t.fn, *args_of(t))] = t.name
            if not running:
                raise ValueError(f"dependency cycle among {[t.name for t in pending]}")
            bar.set_description(f"{desc}: {', '.join(sorted(running.values()))}")
            done: set[Future] = set()
            while not done:
                done, _ = wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                while events is not None:
                    try:
                        on_event(events.get_nowait())
                    except queue_mod.Empty:
                        break
                bar.refresh()
            for fut in done:
                name = running.pop(fut)
                if fut.exception() is not None:
                    pool.shutdown(wait=False, cancel_futures=True)
                    bar.close()
                    raise fut.exception()
                results[name] = fut.result()
                finished(name)
    bar.close()
    return results
