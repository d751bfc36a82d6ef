"""Train one VFL model into a run directory: validate data first, then create the run, train, save.

An unfinished run (or a finished one given more iterations) resumes from its checkpoint.safetensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from privgen import checks
from privgen.errors import UserError
from privgen.runs import RunDir, verify_checksum
from privgen.seeding import resolve_device, seed_everything
from privgen.vfl.checkpoint import CHECKPOINT, load_unfinished, save_checkpoint
from privgen.vfl.config import GanConfig
from privgen.vfl.evaluate import fd_probe
from privgen.vfl.models import MODELS
from privgen.vfl.partition import TableLayout
from privgen.vfl.report import write_training_report
from privgen.vfl.nets import NetSizes
from privgen.vfl.sources import is_embedded, is_table_spec, load_vertical, schema_row_count
from privgen.vfl.store import KIND, build_model, save_model
from privgen.vfl.rng import RNG_MODES
from privgen.vfl.trainer import iterations_for, train

TRANSPORTS = ("inprocess", "ray")


def expected_bytes(model_name: str, dims: list[int], sizes: NetSizes, cfg: GanConfig, bytes_per_float: int = 4) -> dict[str, int]:
    """Bytes that must cross per step, from the agreed shapes alone (checked against the transport's count)."""
    b, m, k = cfg.batch_size, sizes.feature_dim, len(dims)
    if model_name == "vflgan":  # 3 feature blocks up + 3 gradient blocks down per party; 1 + 1 for G
        critic, gen = 6 * b * m * k, 2 * b * m * k
    elif model_name == "vertigan":  # the shared hidden layer down, its gradient up in the G step
        h = sizes.gen_hidden[-1]
        critic, gen = b * h * k, 2 * b * h * k
    else:
        critic = gen = 0
    per_iter = (cfg.n_critic * critic + gen) * bytes_per_float
    return {"critic_step": critic * bytes_per_float, "generator_step": gen * bytes_per_float, "iteration": per_iter}


def check_gan_config(cfg: GanConfig) -> None:
    """Every hyper-parameter a user can set: NaN/inf and the wrong sign are refused, not trained on."""
    checks.positive_int("--batch-size", cfg.batch_size, minimum=2)
    checks.finite_positive("--lr", cfg.lr)
    checks.finite_nonnegative("--lambda-gp", cfg.lambda_gp)
    checks.finite_nonnegative("lambda_local", cfg.lambda_local)
    checks.positive_int("n_critic", cfg.n_critic)


def check_finite_weights(model, iteration: int) -> None:
    """Stop a run whose weights went NaN/inf (e.g. the centralized model, which sends no messages to check)."""
    for name, module in model.modules().items():
        for pname, p in module.named_parameters():
            if not bool(torch.isfinite(p).all()):
                raise UserError(f"training diverged by iteration {iteration}: {name}.{pname} holds NaN/inf; the "
                                "last good checkpoint is kept (lower --lr, or check the data)")


def train_vfl_run(spec: dict[str, Any], model_name: str, out: Path | str, seed: int = 0, epochs: int | None = 10,
                  iterations: int | None = None, sizes: NetSizes = NetSizes(), cfg: GanConfig = GanConfig(),
                  device: str = "auto", overwrite: bool = False, quiet: bool = False, probe_every: int = 0,
                  probe_rows: int = 2000, dp: str = "none", epsilon: float | None = None, delta: float = 1e-5,
                  sigma: float | None = None, conversion: str = "improved", clip: float = 1.0,
                  schema: str | None = None, rng: str = "global", transport: str = "inprocess",
                  address: str | None = None, party_resources: list[str] | None = None,
                  align: str | None = None, checkpoint_every: int = 200, n_public: int | None = None) -> RunDir:
    """Train (or resume) one model; with `probe_every`, the FD of `probe_rows` fresh samples is logged
    every so many iterations (`curve` in metrics.json), without changing the run.

    `dp` "paper" or "sound" trains under differential privacy (privgen.privacy; docs/dp.md), with σ from
    (epsilon, delta) over the planned critic steps or from `sigma`; "sound" encodes tables with a public
    `schema` (a JSON file; the embedded Adult table ships one).

    `n_public`: the public row count N of a "sound" run (q = B/N and the planned steps come from it, never from
    the private count); the schema's "n" or, for an embedded dataset, its public split size stand in for it.

    `rng` "party" gives each party (and the server) its own RNG stream (privgen.vfl.rng), what
    `transport` "ray" uses: parties as Ray actors, each holding only its own data (privgen.vfl.ray_run)."""
    from privgen.privacy.vfl_plan import check_dp_options, dp_metrics, dp_report, plan_dp, public_row_count

    if model_name not in MODELS:
        raise UserError(f"unknown model {model_name!r}; choose one of {', '.join(MODELS)}")
    checks.optional_positive_int("--iterations", iterations)
    if iterations is None:
        if epochs is None:
            raise UserError("give --epochs or --iterations (a positive integer)")
        checks.positive_int("--epochs", epochs)
    check_gan_config(cfg)
    checks.optional_positive_int("--n-public", n_public)
    check_dp_options(dp, model_name, epsilon, delta, sigma, conversion, clip, cfg.batch_size, probe_every,
                     bool(spec.get("impute")), n_public)
    if transport not in TRANSPORTS:
        raise UserError(f"--transport {transport!r} is unknown; choose one of {', '.join(TRANSPORTS)}")
    if rng not in RNG_MODES:
        raise UserError(f"--rng {rng!r} is unknown; choose one of {', '.join(RNG_MODES)}")
    if transport == "ray":
        return _train_ray(spec, model_name, out, seed, epochs, iterations, sizes, cfg, overwrite, quiet, probe_every,
                          dp, schema, address, party_resources or [], align or "psi", checkpoint_every)
    if address or party_resources:
        raise UserError("--address and --party-resource apply to --transport ray")
    if align is not None:
        raise UserError(f"--align {align}: in-process runs join party files on the ID in this process (a simulation "
                        "for local experiments); private alignment needs --transport ray")
    if rng == "party" and (model_name != "vflgan" or resolve_device(device).type != "cpu"):
        raise UserError("--rng party trains vflgan on the CPU (party streams are CPU generators)")
    if schema is not None or (dp == "sound" and is_table_spec(spec)):
        from privgen.privacy.schema import schema_ref

        spec = {**spec, "schema": schema_ref(spec.get("data"), schema)}
    dev = resolve_device(device)
    data = load_vertical(spec)  # every input check happens here, before anything is written
    if data.n < cfg.batch_size:
        raise UserError(f"only {data.n} training rows; need at least one batch of {cfg.batch_size}")
    if isinstance(data.layout, TableLayout) and dp == "none":  # under DP the range would leak: schema bounds only
        data.layout.observe_bounds(data.raw_train)
    n_dp, n_source = public_row_count(dp, is_embedded(spec), n_public, schema_row_count(spec), data.n)
    n_plan = n_dp or data.n  # the sound mode plans epochs over the public N: the private count must not set T
    n_iter = iterations if iterations else iterations_for(int(epochs), n_plan, cfg.batch_size, cfg.n_critic)
    dp_cfg, accounting = plan_dp(dp, epsilon, delta, sigma, conversion, clip, n_plan, cfg.batch_size,
                                 n_iter * cfg.n_critic)
    config = {"model": model_name, "data_spec": spec, "seed": seed, "epochs": epochs, "iterations": n_iter,
              "sizes": sizes.to_json(), "gan": cfg.to_json(), "device": str(dev), "quiet": quiet,
              "party_columns": [len(c) for c in data.layout.party_columns()]}
    if dp_cfg.on:  # absent for --dp none, so a non-DP run's config.json is as before
        config["dp"] = dp_cfg.to_json()
        if n_dp is not None:
            config["dp_public_n"] = {"n": n_dp, "source": n_source}
    if rng == "party":  # likewise absent in the legacy global-RNG mode
        config["rng"] = "party"
    if not overwrite and (Path(out) / CHECKPOINT).is_file():
        verify_checksum(Path(out) / CHECKPOINT)  # a corrupted checkpoint is refused before config.json is touched
    # a finished run is refused (naming any option that differs) before anything is written
    run = RunDir.create(out, KIND, config, overwrite=overwrite, resume=True, budget=("iterations", "--iterations/--epochs"))
    seed_everything(seed)
    parts = [torch.from_numpy(np.asarray(p, dtype=np.float32)).to(dev) for p in data.train]
    model = build_model(model_name, data.layout.dims(), data.layout, sizes, cfg, parts=parts, device=dev, dp=dp_cfg,
                        rng_seed=seed if rng == "party" else None)
    ckpt = run.file(CHECKPOINT)

    def resume(sched) -> int:
        if not ckpt.exists():
            return 0
        done = load_unfinished(ckpt, model, sched, n_iter, run.path)
        run.log(event="resumed", iteration=done)
        return done

    def checkpoint(done: int, sched) -> None:
        check_finite_weights(model, done)  # a poisoned model is never saved: the last good checkpoint stays
        save_checkpoint(ckpt, model, sched, done)

    probe = fd_probe(spec, data, min(probe_rows, data.n), seed, quiet) if probe_every else None
    stats = train(model, data.n, n_iter, seed, quiet=quiet, on_log=lambda e: run.log(**e), resume=resume,
                  on_checkpoint=checkpoint, probe=probe, probe_every=probe_every, checkpoint_every=checkpoint_every)
    save_model(run, model, data.layout)
    records = model.transport.records
    metrics = {**stats, "n_train": data.n, "parties": len(data.train), "party_dims": data.layout.dims(),
               "expected_bytes": expected_bytes(model_name, data.layout.dims(), sizes, cfg),
               "bytes_first_critic_step": model.transport.step_bytes(records[0].step) if records else 0,
               "message_kinds": sorted({r.kind for r in model.transport.records})}
    if "join" in data.info:  # party files: how many IDs each file had and how many matched (as Ray's aligned_rows)
        metrics.update(data.info["join"])
    if dp_cfg.on:
        metrics["dp"] = dp_metrics(dp_cfg, accounting)
        if n_dp is not None:
            metrics["dp"]["public_n"] = {"n": n_dp, "source": n_source}
    write_training_report(run, model_name, model, data.layout)
    if dp_cfg.on:
        from privgen.report import write_markdown

        report = run.file("report.md")
        write_markdown(report, (report.read_text() if report.exists() else f"# {model_name} training\n")
                       + dp_report(metrics["dp"]))
    run.write_metrics(metrics)
    return run


def _train_ray(spec: dict[str, Any], model_name: str, out: Path | str, seed: int, epochs: int | None,
               iterations: int | None, sizes: NetSizes, cfg: GanConfig, overwrite: bool, quiet: bool,
               probe_every: int, dp: str, schema: str | None, address: str | None, resources: list[str],
               align: str, checkpoint_every: int) -> RunDir:
    from privgen.vfl.ray_run import check_ray_options, train_ray_run

    m = check_ray_options(model_name, dp, spec, resources, align, schema)
    if probe_every:
        raise UserError("--probe-every needs every party's samples in one process; it is not available with --transport ray")

    def n_iter_for(n: int) -> int:
        return iterations if iterations else iterations_for(int(epochs), n, cfg.batch_size, cfg.n_critic)  # type: ignore[arg-type]

    config = {"model": model_name, "data_spec": spec, "seed": seed, "epochs": epochs, "sizes": sizes.to_json(),
              "gan": cfg.to_json(), "device": "cpu", "quiet": quiet, "rng": "party", "transport": "ray"}
    return train_ray_run(spec, out, seed, n_iter_for, sizes, cfg, config, overwrite, quiet, address, resources, m,
                         checkpoint_every)
