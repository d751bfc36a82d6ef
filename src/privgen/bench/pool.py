"""Run a small graph of tasks on worker processes, with one progress bar for the whole graph.

On the 2-core reference CPU two single-threaded workers beat one two-threaded process for these small
models (docs/diffusion.md), so independent stages of a benchmark (pretraining and the retrain oracle;
the unlearning methods; the attacks) run side by side. `workers=1` runs everything in this process.

Progress inside a task is not lost in a worker: its bars forward their state through a queue (see
`privgen.progress.set_sink`), and the graph's own bar (or heartbeat line) shows each running task's step,
rate and ETA, so a log file sees more than one line per finished task.

Where the tasks run is an executor (`EXECUTORS`): `local` (this machine's process pool, the default) or
`ray` (Ray tasks on every core of a cluster, `privgen.bench.ray_executor`). Both run the same task
functions with the same arguments, so their results, and the cache entries they write, are the same.
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


class Graph:
    """The bookkeeping every executor shares: which tasks are ready, their bound arguments, the results,
    and one progress bar for the whole graph."""

    def __init__(self, tasks: list[Task], desc: str, quiet: bool) -> None:
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError("task names must be unique")
        unknown = {d for t in tasks for d in t.deps} - set(names)
        if unknown:
            raise ValueError(f"unknown dependencies: {sorted(unknown)}")
        self.total, self.desc, self.quiet = len(tasks), desc, quiet
        self.results: dict[str, Any] = {}
        self.pending = list(tasks)
        self.bar = progress(total=len(tasks), desc=desc, quiet=quiet, leave=True)
        self.start = time.perf_counter()

    def ready(self) -> list[Task]:
        """Tasks whose deps are done, in plan order; they leave `pending`."""
        out = [t for t in self.pending if all(d in self.results for d in t.deps)]
        for t in out:
            self.pending.remove(t)
        return out

    def args_of(self, t: Task) -> tuple:
        return t.bind({d: self.results[d] for d in t.deps}) if t.bind else t.args

    def cycle(self) -> ValueError:
        return ValueError(f"dependency cycle among {[t.name for t in self.pending]}")

    def finished(self, name: str, result: Any) -> None:
        self.results[name] = result
        self.bar.update(1)
        if isinstance(self.bar, progress_mod.Heartbeat) and not self.quiet:  # no terminal: a line per finished stage too
            print(f"{self.desc}: {len(self.results)}/{self.total} done, {name} "
                  f"({time.perf_counter() - self.start:.0f} s)", file=sys.stderr, flush=True)

    def running(self, names: list[str]) -> None:
        self.bar.set_description(f"{self.desc}: {', '.join(sorted(names))}")


def run_graph(tasks: list[Task], workers: int = 2, desc: str = "bench", quiet: bool = False,
              executor: str = "local", address: str | None = None) -> dict[str, Any]:
    """Run every task once its deps are done, on `executor`; returns {name: result}. A failing task stops
    the graph. `address` joins a running Ray cluster (executor `ray`; without it a local one is started
    with `workers` CPUs)."""
    ex = executor_of(executor)
    if ex.joins_clusters:
        return ex.run(tasks, workers, desc, quiet, address)
    return ex.run(tasks, workers, desc, quiet)


def run_local(tasks: list[Task], workers: int = 2, desc: str = "bench", quiet: bool = False) -> dict[str, Any]:
    """This machine's process pool (spawned workers, one torch thread each); `workers=1`: this process."""
    graph = Graph(tasks, desc, quiet)
    results, bar = graph.results, graph.bar
    inner: dict[str, str] = {}  # running task -> its latest forwarded progress

    def on_event(ev: dict[str, Any]) -> None:
        if ev.get("done"):
            inner.pop(ev["task"], None)
        else:
            inner[ev["task"]] = describe_inner(ev)
        if not bar.disable:
            bar.set_postfix_str("; ".join(f"[{k}] {v}" for k, v in inner.items()))

    def finished(name: str, result: Any) -> None:
        inner.pop(name, None)
        graph.finished(name, result)

    if workers <= 1:
        global _current_task
        previous = progress_mod._sink
        if not quiet:  # the tasks' own bars report here, as a worker's would
            progress_mod.set_sink(lambda ev: on_event({**ev, "task": _current_task}))
        try:
            while graph.pending:
                batch = graph.ready()
                if not batch:
                    raise graph.cycle()
                for t in batch:
                    graph.running([t.name])
                    finished(t.name, _run_task(t.name, t.fn, *graph.args_of(t)))
        finally:
            progress_mod.set_sink(previous)
        bar.close()
        return results
    ctx = mp.get_context("spawn")
    events = None if quiet else ctx.Queue()
    running: dict[Future, str] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(events,)) as pool:
        while graph.pending or running:
            for t in graph.ready():
                running[pool.submit(_run_task, t.name, t.fn, *graph.args_of(t))] = t.name
            if not running:
                raise graph.cycle()
            graph.running(list(running.values()))
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
                finished(name, fut.result())
    bar.close()
    return results


def _run_ray(*args: Any) -> dict[str, Any]:
    from privgen.bench.ray_executor import run_ray

    return run_ray(*args)


def _require_ray() -> None:
    from privgen.bench.ray_executor import require_ray

    require_ray()


def _always_there() -> None:
    return None


@dataclass(frozen=True)
class Executor:
    """Where a graph runs: `run(tasks, workers, desc, quiet[, address])`; `check()` raises a UserError when
    the executor cannot run here (Ray not installed), so a command refuses before it writes anything."""

    run: Callable[..., dict[str, Any]]
    check: Callable[[], None] = _always_there
    joins_clusters: bool = False  # takes an `address` (a running cluster to join)


EXECUTORS: dict[str, Executor] = {"local": Executor(run_local),
                                  "ray": Executor(_run_ray, _require_ray, joins_clusters=True)}


def executor_of(name: str) -> Executor:
    from privgen.errors import UserError

    if name not in EXECUTORS:
        raise UserError(f"--executor must be one of {', '.join(EXECUTORS)}, got {name!r}")
    return EXECUTORS[name]


def check_executor(name: str, address: str | None) -> None:
    """A known executor that can run here; --address only for one that joins clusters."""
    from privgen.errors import UserError

    ex = executor_of(name)
    if address is not None and not ex.joins_clusters:
        raise UserError(f"--address joins a Ray cluster; add --executor ray (got --executor {name})")
    ex.check()
