"""`privgen bench vfl --transport ray`: what real parties cost.

1. Step time: the same VFLGAN (party RNG streams) once in-process and once with every party a Ray actor
   on this machine, one iteration of each in turn (load from other processes hits both alike), median
   over the timed iterations; bytes per iteration as the transport counts them next to the bytes the
   agreed shapes imply; and whether both ended with the same weights (they must).
2. Private ID alignment: the PSI chain and hand-out (privgen.vfl.psi) for n IDs per party with 50%
   of them shared by all parties, 2 and 3 parties, timed in one process (the PSI arithmetic is the cost).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from privgen.report import markdown_table, write_markdown
from privgen.runs import RunDir
from privgen.seeding import seed_everything
from privgen.vfl.config import GanConfig
from privgen.vfl.models.vflgan import VFLGAN
from privgen.vfl.nets import SIZE_PRESETS
from privgen.vfl.run import expected_bytes
from privgen.vfl.sources import data_spec, load_vertical
from privgen.vfl.trainer import Schedule, run_iteration

SCENARIOS = (("adult", "adult", 3), ("mnist_halves", "mnist5k", 2))


def _data_bytes(model) -> int:
    return model.transport.bytes_by_kind["features"] + model.transport.bytes_by_kind["feature_grad"]


def ray_step_time(name: str, data: str, parties: int, seed: int, iterations: int, size: str, warmup: int = 2) -> dict[str, Any]:
    from privgen.bench.vfl import _interleave
    from privgen.vfl.ray_transport import RayVFLGAN, gather, require_ray, start_workers

    ray = require_ray()
    spec = data_spec(data, parties)
    vd = load_vertical(spec)
    sizes, cfg = SIZE_PRESETS[size], GanConfig()
    parts = [torch.from_numpy(np.asarray(p, dtype=np.float32)) for p in vd.train]
    models: dict[str, Any] = {"inprocess": VFLGAN(parts, vd.layout.spans(), sizes, cfg, rng_seed=seed)}
    workers = start_workers(spec, "/nonexistent-bench-writes-nothing", seed, parties)
    try:
        names = [f"party{k + 1}" for k in range(parties)]
        gather(names, [w.open.remote() for w in workers], "loading its data")
        dims = [p["dim"] for p in gather(names, [w.prepare.remote() for w in workers], "encoding its data")]
        models["ray"] = RayVFLGAN(workers, dims, sizes, cfg, seed)
        scheds = {n: Schedule(vd.n, cfg.batch_size, seed) for n in models}
        times = _interleave(models, scheds, iterations)
        sent = {}
        for n, m in models.items():  # one more iteration each, its bytes counted by the transport
            before = _data_bytes(m)
            run_iteration(m, scheds[n])
            sent[n] = _data_bytes(m) - before
        same = all(torch.equal(a, b) for a, b in zip(models["inprocess"].server.critic.state_dict().values(),
                                                      models["ray"].server.critic.state_dict().values()))
        from privgen.vfl.ray_run import bytes_per_party

        return {"scenario": name, "data": data, "parties": parties, "size": size, "iterations": iterations,
                "iteration_time_s": times, "ratio_ray_over_inprocess": times["ray"] / times["inprocess"],
                "bytes_per_iteration": sent, "bytes_per_iteration_from_shapes": expected_bytes("vflgan", dims, sizes, cfg)["iteration"],
                "bytes_per_party_per_iteration": bytes_per_party(models["ray"]), "same_server_weights": same}
    finally:
        for w in workers:
            ray.kill(w)


def psi_time(n: int, parties: int, seed: int) -> dict[str, Any]:
    """n IDs per party, n/2 of them shared by all parties, each party's own half distinct, shuffled."""
    from privgen.vfl.psi import PsiParticipant, align_local

    rng = np.random.default_rng(seed)
    shared = [f"id-{i}" for i in range(n // 2)]
    sets = []
    for k in range(parties):
        own = shared + [f"id-{k}-{i}" for i in range(n - n // 2)]
        sets.append([own[i] for i in rng.permutation(n)])
    t0 = time.perf_counter()
    found = align_local([PsiParticipant(s, f"party{k + 1}") for k, s in enumerate(sets)])
    return {"ids_per_party": n, "parties": parties, "shared": found, "seconds": time.perf_counter() - t0,
            "psi_runs": 2 * (parties - 1)}


def run_ray_bench(out: Path | str, seed: int, iterations: int, size: str, psi_sizes: list[int], psi_parties: list[int],
                  scenarios: list[str], overwrite: bool, quiet: bool) -> Path:
    from privgen.vfl.ray_transport import connect, require_ray

    ray = require_ray()
    run = RunDir.create(out, "bench_vfl_ray", {"seed": seed, "iterations": iterations, "size": size,
                                               "psi_sizes": psi_sizes, "psi_parties": psi_parties,
                                               "scenarios": scenarios}, overwrite=overwrite)
    seed_everything(seed)
    torch.set_num_threads(1)  # as each actor: the same arithmetic on both sides
    start = time.perf_counter()
    steps, psis = [], []
    text = ["# Real parties: Ray actors vs in-process, and PSI alignment time\n"]
    if scenarios:
        started = connect(None, max(p for _, _, p in SCENARIOS))
        try:
            for name, data, parties in SCENARIOS:
                if name in scenarios:
                    steps.append(ray_step_time(name, data, parties, seed, iterations, size))
                    run.log(scenario=name, seconds=round(time.perf_counter() - start, 1))
        finally:
            if started:
                ray.shutdown()
        rows = [[s["scenario"], s["parties"], f"{s['iteration_time_s']['inprocess'] * 1000:.1f}",
                 f"{s['iteration_time_s']['ray'] * 1000:.1f}", f"**{s['ratio_ray_over_inprocess']:.2f}**",
                 s["bytes_per_iteration"]["inprocess"], s["bytes_per_iteration"]["ray"], s["bytes_per_iteration_from_shapes"],
                 s["same_server_weights"]] for s in steps]
        text.append(f"## Step time (`{size}` networks, batch 64, n_critic 5; median of {iterations} interleaved "
                    "iterations of 5 critic + 1 generator steps; one torch thread per process)\n\n" + markdown_table(
                        ["scenario", "parties", "in-process ms", "Ray ms", "Ray / in-process", "bytes/iter in-process",
                         "bytes/iter Ray", "bytes/iter from shapes", "same weights"], rows))
    for n in psi_sizes:
        for m in psi_parties:
            psis.append(psi_time(n, m, seed))
            run.log(psi=psis[-1])
    if psis:
        text.append("## Private ID alignment (PSI chain + hand-out, one process, 50% of each party's IDs shared)\n\n"
                    + markdown_table(["IDs per party", "parties", "PSI runs", "shared found", "seconds"],
                                     [[p["ids_per_party"], p["parties"], p["psi_runs"], p["shared"], f"{p['seconds']:.1f}"]
                                      for p in psis]))
    wall = time.perf_counter() - start
    text.append(f"Bench wall time: {wall / 60:.1f} min.\n")
    write_markdown(run.file("report.md"), "\n".join(text))
    run.write_metrics({"step_time": steps, "psi": psis, "wall_seconds": wall})
    return run.file("report.md")
