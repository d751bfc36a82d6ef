"""The README's main job (`make demo`): the project's two stories on embedded data, from shipped models.

Each area contributes a stage: a function that takes the demo's context and returns a Markdown section and
the numbers it shows. `run_demo` writes those numbers, the stage times and the machine's facts to
results.json, the one file the README's demo section is generated from (`python -m privgen.docs_tables`).
The diffusion model, its retrain oracle and the two MNIST-halves GANs ship inside privgen (privgen.checkpoints,
each checked against its manifest hash); `--from-scratch` trains them all instead.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from privgen.demo.context import DemoContext, Stage
from privgen.demo.foundation import foundation_stage
from privgen.demo.unlearning import unlearning_stage
from privgen.demo.vfl import dp_stage, vfl_stage
from privgen.report import markdown_table, write_markdown
from privgen.runs import atomic_write_json

STAGES: list[Stage] = [foundation_stage, unlearning_stage, vfl_stage, dp_stage]


def machine_facts() -> dict[str, Any]:
    """What a reader needs to compare a demo's times: cores, torch, Python (run_demo adds the load averages
    over 1, 5 and 15 min at its start and end). Whether other work shared the machine throughout cannot be
    measured from inside, so `contended` is null (unknown) until whoever ran it says."""
    import torch

    return {"cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "contended": None}


def _cpu_seconds() -> float:
    """User CPU of this process and its finished children (the benchmark's workers)."""
    return sum(resource.getrusage(who).ru_utime for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def run_demo(out: Path, quiet: bool = False, from_scratch: bool = False) -> Path:
    """Run every stage; write report.md and results.json (every number the report and the README show).

    `from_scratch`: use no shipped checkpoint; every model is trained here, with the cache in OUT/cache so
    nothing cached earlier (a shipped copy included) is reused."""
    out.mkdir(parents=True, exist_ok=True)
    if not from_scratch:
        return _run_stages(DemoContext(out, quiet, False))
    before = os.environ.get("PRIVGEN_CACHE")
    os.environ["PRIVGEN_CACHE"] = str((out / "cache").resolve())  # inherited by the benchmark's workers
    try:
        return _run_stages(DemoContext(out, quiet, True))
    finally:
        if before is None:
            os.environ.pop("PRIVGEN_CACHE", None)
        else:
            os.environ["PRIVGEN_CACHE"] = before


def _run_stages(ctx: DemoContext) -> Path:
    out, quiet = ctx.out, ctx.quiet
    sections, timings, facts = [], [], {}
    begin, cpu0, load0 = time.perf_counter(), _cpu_seconds(), os.getloadavg()
    for i, stage in enumerate(STAGES, 1):
        if not quiet:  # at once, so a log file shows the demo started and what it is doing
            summary = (stage.__doc__ or stage.__name__).strip().splitlines()[0]
            print(f"privgen demo [{i}/{len(STAGES)}] {stage.__name__.removesuffix('_stage')}: {summary}",
                  file=sys.stderr, flush=True)
        start = time.perf_counter()
        section, numbers = stage(ctx)
        sections.append(section)
        name = stage.__name__.removesuffix("_stage")
        facts[name] = numbers
        timings.append([name, round(time.perf_counter() - start, 1)])
    total = round(time.perf_counter() - begin, 1)
    machine = {**machine_facts(), "load_average_at_start": [round(v, 2) for v in load0],
               "load_average_at_end": [round(v, 2) for v in os.getloadavg()]}
    results = {"date": date.today().isoformat(), "machine": machine, "from_scratch": ctx.from_scratch,
               "stage_seconds": dict(timings), "total_seconds": total,
               "user_cpu_seconds": round(_cpu_seconds() - cpu0, 1), **facts}
    atomic_write_json(out / "results.json", results)
    report = ("# privgen demo\n\n" + "\n".join(sections) + "\n## Timings\n\n"
              + markdown_table(["stage", "seconds"], timings + [["total", total]])
              + "\nEvery number above is in [results.json](results.json).\n")
    return write_markdown(out / "report.md", report)


__all__ = ["run_demo", "STAGES"]
