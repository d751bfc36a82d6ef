"""The Ray executor of a benchmark's task graph: every task a Ray task, on every core of a cluster.

A task is submitted as soon as the tasks it depends on have finished (the driver binds their results into
its arguments, as the local pool does), with one CPU and one torch thread, so a cluster with C cores runs
up to C tasks side by side. The task functions are the local pool's, and they key their results in the
privgen cache as they always do; `PRIVGEN_CACHE` is handed to the cluster's workers, so a cluster whose
nodes share that folder (NFS) shares its models with laptop runs, and a local Ray run with the local pool.
"""

from __future__ import annotations

import os
from typing import Any

from privgen.bench.pool import POLL_SECONDS, Graph, Task
from privgen.cache import cache_root
from privgen import ray_cluster


def require_ray() -> Any:
    return ray_cluster.require_ray("--executor ray")


def worker_env() -> dict[str, str]:
    """What every Ray worker must see as this process does: the cache folder, and a thread override."""
    env = {"PRIVGEN_CACHE": str(cache_root().resolve())}
    if os.environ.get("PRIVGEN_THREADS"):
        env["PRIVGEN_THREADS"] = os.environ["PRIVGEN_THREADS"]
    return env


def connect(address: str | None, workers: int) -> bool:
    """Join the cluster at `address` (its workers get `worker_env`), or start a local one with `workers` CPUs
    (its workers inherit this environment); True if this call did."""
    return ray_cluster.connect(address, workers, "--executor ray", env_vars=worker_env())


def _run_remote(name: str, fn: Any, *args: Any) -> Any:
    """In the Ray worker: one torch thread (the task shares the node with others), privgen's warnings."""
    from privgen.bench.pool import _run_task, _single_thread
    from privgen.warn import install

    _single_thread()
    install()
    return _run_task(name, fn, *args)


def run_ray(tasks: list[Task], workers: int = 2, desc: str = "bench", quiet: bool = False,
            address: str | None = None) -> dict[str, Any]:
    """Run the graph as Ray tasks; a failing task stops the graph with its own exception."""
    ray = require_ray()
    started = connect(address, workers)
    remote = ray.remote(num_cpus=1, max_retries=0)(_run_remote)
    graph = Graph(tasks, desc, quiet)
    running: dict[Any, str] = {}
    try:
        while graph.pending or running:
            for t in graph.ready():
                running[remote.remote(t.name, t.fn, *graph.args_of(t))] = t.name
            if not running:
                raise graph.cycle()
            graph.running(list(running.values()))
            done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_SECONDS)
            graph.bar.refresh()
            for ref in done:
                name = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as e:
                    for other in running:
                        ray.cancel(other, force=True)
                    cause = getattr(e, "cause", None)  # the task's own exception: a UserError stays one line
                    raise (cause if isinstance(cause, Exception) else e) from None
                graph.finished(name, result)
    finally:
        graph.bar.close()
        if started:
            ray.shutdown()
    return graph.results
