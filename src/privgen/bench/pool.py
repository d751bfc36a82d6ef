"""Run a small graph of tasks on worker processes, with one progress bar for the whole graph.

On the 2-core reference CPU two single-threaded workers beat one two-threaded process for these small
models (docs/diffusion.md), so independent stages of a benchmark (pretraining and the retrain oracle;
the unlearning methods; the attacks) run side by side. `workers=1` runs everything in this process.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable

from privgen.progress import progress


@dataclass
class Task:
    name: str
    fn: Callable[..., Any]          # a module-level function (it is pickled to the worker)
    args: tuple = ()
    deps: tuple[str, ...] = ()
    # Called in this process with the results of the deps, to finish the args just before submitting.
    bind: Callable[[dict[str, Any]], tuple] | None = field(default=None, repr=False)


def _single_thread() -> None:
    import torch

    torch.set_num_threads(1)


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

    def finished(name: str) -> None:
        bar.update(1)
        if bar.disable and not quiet:  # no terminal (a log file, CI): one line per finished stage instead
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
        while pending:
            batch = ready()
            if not batch:
                raise ValueError(f"dependency cycle among {[t.name for t in pending]}")
            for t in batch:
                bar.set_description(f"{desc}: {t.name}")
                results[t.name] = t.fn(*args_of(t))
                finished(t.name)
        bar.close()
        return results
    ctx = mp.get_context("spawn")
    running: dict[Future, str] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_single_thread) as pool:
        while pending or running:
            for t in ready():
                running[pool.submit(t.fn, *args_of(t))] = t.name
            if not running:
                raise ValueError(f"dependency cycle among {[t.name for t in pending]}")
            bar.set_description(f"{desc}: {', '.join(sorted(running.values()))}")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
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
