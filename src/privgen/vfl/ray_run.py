"""`privgen vfl train --transport ray`: the parties as Ray actors, each holding only its own data.

Order of work, so that a bad input leaves nothing behind: options are checked, the actors start (each on
the node advertising its `--party-resource`), each reads and checks its own data, party files are aligned
by private set intersection (privgen.vfl.psi), the column names are checked for collisions, and only then
is the run directory created. Checkpoints: each party writes its own state on its own machine
(`parties/<name>/`), the driver the server's state and the schedule (`checkpoint.safetensors`); the same
command resumes from the last checkpoint all of them hold.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from privgen.errors import UserError
from privgen.runs import RunDir, save_tensors, verify_checksum
from privgen.seeding import seed_everything
from privgen.vfl.checkpoint import CHECKPOINT, load_unfinished, save_checkpoint
from privgen.vfl.config import GanConfig
from privgen.vfl.nets import NetSizes
from privgen.vfl.psi import align
from privgen.vfl.partition import check_id_kinds
from privgen.vfl.ray_transport import PartyLost, RayVFLGAN, check_resources, connect, gather, require_ray, start_workers
from privgen.vfl.store import KIND, WEIGHTS

ALIGNS = ("psi",)
FAULT_ENV = "PRIVGEN_TEST_KILL_PARTY"  # tests only: "party2@7" kills party2's process before generator iteration 7


def party_count(spec: dict[str, Any]) -> int:
    if spec.get("party_files"):
        return len(spec["party_files"])
    return len(spec["columns"]) if spec.get("columns") else int(spec["parties"])


def check_ray_options(model_name: str, dp: str, spec: dict[str, Any], resources: Sequence[str], align_mode: str,
                      schema: str | None) -> int:
    if model_name != "vflgan":
        raise UserError(f"--transport ray trains vflgan (parties with their own generators), not {model_name}; "
                        "train the others in-process (the default)")
    if dp != "none" or schema is not None:
        raise UserError("--dp with --transport ray is not supported yet (the sound mode's clip-factor messages are "
                        "not carried by the Ray transport); train DP runs in-process")
    if align_mode not in ALIGNS:
        raise UserError(f"--align {align_mode!r}: under --transport ray party files are aligned by private set "
                        f"intersection only (--align psi); the plain join is for the in-process transport")
    m = party_count(spec)
    if m < 2:
        raise UserError(f"vertical FL needs at least 2 parties, got {m}")
    if resources and len(resources) != m:
        raise UserError(f"give --party-resource once per party: {len(resources)} given for {m} parties")
    if len(set(resources)) != len(resources):
        raise UserError("--party-resource names must differ: each party's resource pins it to its own node")
    return m


def _check_columns(infos: list[dict[str, Any]]) -> None:
    owner: dict[str, str] = {}
    for k, info in enumerate(infos):
        for c in info["columns"]:
            if c in owner:
                raise UserError(f"column {c!r} is present in {owner[c]} and in {info['source']} (party {k + 1}); "
                                "each column belongs to one party")
            owner[c] = f"{info['source']} (party {k + 1})"
    if all("id_kind" in i for i in infos):
        check_id_kinds([i["source"] for i in infos], [i["id_column"] for i in infos], [i["id_kind"] for i in infos])


def _fault(model: RayVFLGAN) -> None:
    spec = os.environ.get(FAULT_ENV)
    if spec:
        name, _, at = spec.partition("@")
        model.fault = (name, int(at))


def train_ray_run(spec: dict[str, Any], out: Path | str, seed: int, n_iter_for, sizes: NetSizes, cfg: GanConfig,
                  config: dict[str, Any], overwrite: bool, quiet: bool, address: str | None,
                  resources: Sequence[str], m: int, checkpoint_every: int = 200) -> RunDir:
    """Train vflgan with remote parties; `n_iter_for(n_rows)` gives the iterations once the rows are known."""
    ray = require_ray()
    from privgen.vfl.run import expected_bytes
    from privgen.vfl.report import write_training_report
    from privgen.vfl.trainer import train

    started = connect(address, m)
    workers: list[Any] = []
    names = [f"party{k + 1}" for k in range(m)]
    try:
        check_resources(resources)
        workers = start_workers(spec, str(Path(out).resolve()), seed, m, resources)
        hosts = gather(names, [w.where.remote() for w in workers], "start-up")
        infos = gather(names, [w.open.remote() for w in workers], "loading its data")
        _check_columns(infos)
        shared = None
        if spec.get("party_files"):
            shared = align(m, lambda k, meth, *a: workers[k].psi_call.remote(meth, *a),
                           lambda ref: gather(["a party"], [ref], "private ID alignment")[0])
        prep = gather(names, [w.prepare.remote() for w in workers], "encoding its data")
        n = prep[0]["rows"]
        if any(p["rows"] != n for p in prep):
            raise RuntimeError(f"parties disagree on the number of aligned rows: {[p['rows'] for p in prep]}")
        if n < cfg.batch_size:
            raise UserError(f"only {n} training rows; need at least one batch of {cfg.batch_size}")
        dims = [p["dim"] for p in prep]
        n_iter = n_iter_for(n)
        config = {**config, "iterations": n_iter, "party_columns": [len(i["columns"]) for i in infos]}
        if not overwrite and (Path(out) / CHECKPOINT).is_file():
            verify_checksum(Path(out) / CHECKPOINT)
        run = RunDir.create(out, KIND, config, overwrite=overwrite, resume=True,
                            budget=("iterations", "--iterations/--epochs"))
        seed_everything(seed)
        model = RayVFLGAN(workers, dims, sizes, cfg, seed)
        _fault(model)
        ckpt = run.file(CHECKPOINT)

        def resume(sched) -> int:
            if not ckpt.exists():
                return 0
            done = load_unfinished(ckpt, model, sched, n_iter, run.path)
            model.gather(lambda w: w.load_checkpoint.remote(done), "resuming")
            run.log(event="resumed", iteration=done)
            return done

        def checkpoint(done: int, sched) -> None:
            model.gather(lambda w: w.save_checkpoint.remote(done), "checkpointing")  # parties first: the
            save_checkpoint(ckpt, model, sched, done)  # server's file names an iteration every party holds

        try:
            stats = train(model, n, n_iter, seed, quiet=quiet, on_log=lambda e: run.log(**e), resume=resume,
                          on_checkpoint=checkpoint, checkpoint_every=checkpoint_every)
        except PartyLost as e:
            last = _checkpoint_iteration(ckpt)
            raise UserError(f"{e}; the last checkpoint (iteration {last}) is kept: start the party again and run the "
                            "same command to resume") from None
        for name, module in model.modules().items():
            save_tensors(run.file(WEIGHTS.format(name)), module.state_dict())
        model.gather(lambda w: w.save_model.remote(), "saving its model")
        records = model.transport.records
        metrics = {**stats, "n_train": n, "parties": m, "party_dims": dims, "transport": "ray",
                   "party_hosts": hosts, "aligned_rows": shared,
                   "expected_bytes": expected_bytes("vflgan", dims, sizes, cfg),
                   "bytes_first_critic_step": model.transport.step_bytes(records[0].step) if records else 0,
                   "bytes_per_party_per_iteration": bytes_per_party(model),
                   "message_kinds": sorted({r.kind for r in records})}
        write_training_report(run, "vflgan")
        run.write_metrics(metrics)
        return run
    finally:
        for w in workers:
            ray.kill(w)
        if started:
            ray.shutdown()


def bytes_per_party(model: RayVFLGAN) -> dict[str, dict[str, int]]:
    """Bytes each party sent and received in the first logged iteration (n_critic critic steps and one
    generator step; every iteration has the same shapes), data and control apart."""
    recs = model.transport.records
    if not recs:
        return {}
    first = recs[0].step
    one = [r for r in recs if first <= r.step <= first + model.cfg.n_critic]
    out = {}
    for name in model.names:
        out[name] = {"data_sent": sum(r.nbytes for r in one if r.sender == name and r.kind != "control"),
                     "data_received": sum(r.nbytes for r in one if r.receiver == name and r.kind != "control"),
                     "control_received": sum(r.nbytes for r in one if r.receiver == name and r.kind == "control")}
    return out


def _checkpoint_iteration(path: Path) -> int:
    if not path.is_file():
        return 0
    from privgen.runs import load_tensors

    return int(load_tensors(path)["state.iteration"].item())


def generate_ray(model_dir: Path | str, n: int, seed: int, address: str | None, resources: Sequence[str]) -> Any:
    """Publication with remote parties: each party loads its own generator and encoder where it lives,
    runs it on the shared latent seeds (the chunking of `VflModel.sample`) and decodes its own columns;
    the columns are joined by row position (no ID anywhere). Returns a DataFrame or an image array."""
    import numpy as np
    import pandas as pd

    ray = require_ray()
    run = RunDir.open(model_dir, KIND)
    cfg = run.config
    if cfg.get("transport") != "ray":
        raise UserError(f"{model_dir} was trained in-process; generate from it without --transport ray")
    m = len(cfg["party_columns"])
    if resources and len(resources) != m:
        raise UserError(f"give --party-resource once per party: {len(resources)} given for {m} parties")
    started = connect(address, m)
    workers: list[Any] = []
    names = [f"party{k + 1}" for k in range(m)]
    try:
        check_resources(resources)
        workers = start_workers(cfg["data_spec"], str(Path(model_dir).resolve()), int(cfg["seed"]), m, resources)
        pieces = gather(names, [w.load_model.remote(cfg["sizes"], cfg["gan"]) for w in workers], "loading its model")
        rng, chunks = np.random.default_rng(seed), []
        for start in range(0, n, 1024):
            z = int(rng.integers(2**31 - 1))
            cols = gather(names, [w.publish.remote(z, min(1024, n - start)) for w in workers], "publication")
            chunks.append(pd.concat(cols, axis=1) if pieces[0]["kind"] == "table" else np.concatenate(cols, axis=2))
        return pd.concat(chunks, ignore_index=True) if pieces[0]["kind"] == "table" else np.concatenate(chunks)
    finally:
        for w in workers:
            ray.kill(w)
        if started:
            ray.shutdown()
