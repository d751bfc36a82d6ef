"""`privgen bench audit`: shadow-model training speed on 1 worker against W workers, same jobs, same run.

The audit's cost is its shadow models; they are independent, so W processes should approach a W-fold
speed-up. Both timings train the same models (same seeds) in fresh folders, one after the other.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from privgen.audit.generators import GeneratorSpec
from privgen.audit.run import AuditSettings, resolve_target, train_shadows
from privgen.audit.shadow import shadow_jobs
from privgen.vfl.sources import data_spec, load_vertical


def shadow_speed(data: str = "adult", parties: int = 3, pairs: int = 4, iterations: int = 200, size: str = "small",
                 max_rows: int | None = 5000, workers: int = 0, seed: int = 0) -> dict[str, Any]:
    vd = load_vertical(data_spec(data, parties, max_rows=max_rows))
    spec = GeneratorSpec("vfl", {"model": "vflgan", "groups": vd.layout.party_columns(), "target": vd.layout.target,
                                 "size": size, "iterations": iterations})
    settings = AuditSettings(pairs=max(pairs, 5), features=("corr", "naive"), seed=seed)
    jobs = shadow_jobs(settings.pairs, seed)[:2 * pairs]
    target = resolve_target("auto", vd.raw_train, vd.layout)
    w = workers or os.cpu_count() or 1
    seconds = {}
    for n in (1, w):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            train_shadows(Path(tmp), jobs, spec, vd.raw_train, target, vd.layout, settings, n, quiet=True)
            seconds[n] = time.perf_counter() - t0
    return {"models": len(jobs), "iterations": iterations, "size": size, "rows": len(vd.raw_train), "data": data,
            "parties": parties, "workers": w, "cpu_count": os.cpu_count(),
            "seconds_1_worker": seconds[1], f"seconds_{w}_workers": seconds[w], "speedup": seconds[1] / seconds[w]}
