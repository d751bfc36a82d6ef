"""`privgen vfl publish`: export only what a VFL run is meant to make public.

A DP guarantee covers an output, not a run directory: config.json (seed, data paths), metrics.json (N, byte
counts, timings), the log, the checkpoint (RNG states), the weights and a layout fitted on private rows are not
part of the release. The release folder holds the synthetic data and a DP statement built from a whitelist of
the mechanism's public parameters (`STATEMENT_KEYS`), nothing else. It appears whole or not at all: it is
written into a hidden sibling folder and renamed into place.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from privgen import __version__
from privgen.errors import UserError
from privgen.privacy.vfl_plan import GUARANTEE, STATEMENT_KEYS
from privgen.runs import METRICS, RunDir, atomic_write_json, atomic_write_text, describe_run, read_json

FORMATS = ("csv", "parquet")
STATEMENT = "dp_statement.json"
README = "README.md"
NO_DP = {"mode": "none", "guarantee": False}


def publish_run(run: Path | str, out: Path | str, n: int = 1000, seed: int = 0, allow_unguaranteed: bool = False,
                fmt: str | None = None, device: str = "cpu") -> dict[str, Any]:
    """Write `out`/ with synthetic data (n rows or images from latents seeded by `seed`) and a DP statement.

    `fmt`: csv (default) or parquet for a table model; an image model always writes synthetic.npz + .png.
    Every refusal (a UserError) happens before anything is written. Returns a summary (no private value)."""
    run, out = Path(run), Path(out)
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise UserError(f"--n must be a positive number of rows, got {n}")
    if fmt is not None and fmt not in FORMATS:
        raise UserError(f"--format {fmt!r} is unknown; choose {' or '.join(FORMATS)}")
    if out.exists() or out.is_symlink():
        raise UserError(f"--out {out} already exists; a release goes to a new folder: choose another path")
    rd = open_finished_vfl_run(run)
    dp = dp_block(rd)
    # a sound run of an earlier release (seeded noise, q from the private N) carries no public-N record
    legacy = dp.get("mode") == "sound" and "dp_public_n" not in rd.config
    guarantee = bool(GUARANTEE.get(str(dp.get("mode")), False)) and dp.get("guarantee", True) is True and not legacy
    if not guarantee and not allow_unguaranteed:
        raise UserError(_refusal(run, dp, legacy))
    if fmt == "parquet" and not (importlib.util.find_spec("pyarrow") or importlib.util.find_spec("fastparquet")):
        raise UserError("--format parquet needs pyarrow (pip install pyarrow); or use --format csv")

    from privgen.seeding import resolve_device, seed_everything
    from privgen.vfl.partition import TableLayout
    from privgen.vfl.publish import sample_table, write_images, write_table
    from privgen.vfl.store import load_model

    model, layout, _ = load_model(run, resolve_device(device))
    is_table = isinstance(layout, TableLayout)
    if not is_table and fmt is not None:
        raise UserError(f"--format {fmt} applies to table models; this image model writes synthetic.npz and a "
                        "synthetic.png grid: leave --format out")
    data_file = f"synthetic.{fmt or 'csv'}" if is_table else "synthetic.npz"
    published = (f"{data_file}: {n} rows generated from the trained generators" if is_table else
                 f"synthetic.npz (+ synthetic.png, a grid of the first {min(n, 100)}): {n} images generated from "
                 "the trained generators")
    statement = statement_from(dp, guarantee, published)

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the folder of --out {out}: {e.strerror or e}") from None
    tmp = out.parent / f".{out.name}.{secrets.token_hex(6)}.publishing"
    try:
        tmp.mkdir()
        seed_everything(seed)
        if is_table:
            write_table(sample_table(model, layout, n, seed), tmp / data_file)
        else:
            write_images(layout.join(model.sample(n, seed)), tmp / data_file)
        atomic_write_json(tmp / STATEMENT, statement)
        atomic_write_text(tmp / README, readme(statement))
        if out.exists():
            raise UserError(f"--out {out} appeared while the release was written; nothing was published there")
        os.rename(tmp, out)
    except OSError as e:
        raise UserError(f"cannot write --out {out}: {e.strerror or e}; check the folder's permissions and free "
                        "space (nothing was published)") from None
    finally:
        if tmp.exists():  # any failure: no half-written release is left behind
            shutil.rmtree(tmp)
    return {"out": out, "files": sorted(p.name for p in out.iterdir()), "mode": statement["mode"],
            "guarantee": guarantee, "rows": n}


def open_finished_vfl_run(run: Path) -> RunDir:
    """The run, checked to be a finished, in-process VFL run; each refusal names the fix."""
    from privgen.vfl.store import KIND

    if not run.is_dir():
        raise UserError(f"{run} does not exist or is not a folder; pass a run directory made by `privgen vfl train`")
    kind = describe_run(run)
    if kind != KIND:
        what = "is not a privgen run directory" if kind is None else f"holds a {kind!r} run, not a VFL run"
        raise UserError(f"{run} {what}; pass a run directory made by `privgen vfl train`")
    rd = RunDir.open(run, KIND, require_finished=False)
    if rd.config.get("transport") == "ray":
        raise UserError(f"{run} was trained with --transport ray: its generators live at the parties, not in this "
                        f"folder; publish with `privgen vfl generate --transport ray --model {run} ...`")
    if not rd.finished:
        raise UserError(f"{run} is an unfinished run (no {METRICS}): finish it by running the same `privgen vfl "
                        "train` command again (it resumes from its checkpoint), then publish")
    return rd


def dp_block(rd: RunDir) -> dict[str, Any]:
    """metrics.json's dp block ({mode: none} when absent), cross-checked with the mode config.json trained."""
    metrics = rd.metrics
    dp = metrics.get("dp", NO_DP) if isinstance(metrics, dict) else None
    if not isinstance(dp, dict):
        raise UserError(f"{rd.file(METRICS)} has no readable dp block; the run is corrupted (train it again)")
    trained = (rd.config.get("dp") or {}).get("mode", "none")
    if dp.get("mode", "none") != trained:
        raise UserError(f"{rd.file(METRICS)} reports dp mode {dp.get('mode')!r} but config.json trained "
                        f"{trained!r}; the run is corrupted or was edited (train it again)")
    return dp


def _refusal(run: Path, dp: dict[str, Any], legacy: bool = False) -> str:
    if legacy:
        why = ("was trained in --dp sound mode by an earlier privgen whose noise and sampling were seeded from --seed "
               "(replayable) and whose rate q used the private row count: its ε does not hold")
    elif dp.get("mode", "none") == "none":
        why = "was trained without DP (--dp none): nothing bounds what the synthetic data reveals about the rows"
    elif dp.get("mode") == "paper":
        why = (f"trained in --dp paper mode: its ε = {dp.get('epsilon', float('nan')):.4g} is the published "
               "DP-VFLGAN mechanism's claim for one layer's gradients, which is not a guarantee over the published "
               "data")
    else:
        why = f"reports no DP guarantee (mode {dp.get('mode')!r})"
    return (f"{run} {why}; retrain with --dp sound, or pass --allow-unguaranteed to publish it with a statement "
            "that says guarantee: false")


def statement_from(dp: dict[str, Any], guarantee: bool, published: str) -> dict[str, Any]:
    """Only the whitelisted public parameters of the mechanism; any other key in the dp block is dropped."""
    out: dict[str, Any] = {}
    for key in STATEMENT_KEYS:
        if key not in dp:
            continue
        value = dp[key]
        ok = (isinstance(value, (str, int, float, bool)) or
              (isinstance(value, list) and all(isinstance(v, str) for v in value)))
        if not ok:
            raise UserError(f"metrics.json's dp.{key} is not a number, text or list of text; the run is corrupted "
                            "or was edited (train it again)")
        out[key] = value
    out["mode"] = str(dp.get("mode", "none"))
    out["guarantee"] = guarantee
    out["published"] = published
    out["privgen_version"] = __version__
    return out


def readme(s: dict[str, Any]) -> str:
    """The statement in words: what is claimed, under which parameters, what is and is not covered."""
    mode = s["mode"]
    lines = ["# Synthetic data release\n", f"Published: {s['published']}.\n",
             f"**guarantee: {'true' if s['guarantee'] else 'false'}**\n"]
    if mode == "none":
        lines.append("The generators were trained without differential privacy: no ε applies, and nothing formally "
                     "bounds what the synthetic data reveals about the training rows.\n")
    else:
        if mode == "paper":
            lines.append("Trained in paper mode (DP-VFLGAN as published): its ε is the published mechanism's claim "
                         "and not a guarantee over the published data.\n")
        elif s["guarantee"]:
            lines.append(f"The synthetic data is ({_num(s.get('epsilon'))}, {_num(s.get('delta'))})-DP with respect "
                         "to the training rows: it is post-processing of the DP-trained critics.\n")
        rows = [("mode", mode), ("mechanism", s.get("mechanism")), ("ε (epsilon)", _num(s.get("epsilon"))),
                ("δ (delta)", _num(s.get("delta"))), ("adjacency", s.get("adjacency")),
                ("accountant", s.get("accountant")), ("conversion", s.get("conversion")),
                ("RDP order", _num(s.get("order"))), ("σ (noise multiplier)", _num(s.get("sigma"))),
                ("q (sampling rate)", _num(s.get("sample_rate"))), ("sampling", s.get("sampling")),
                ("planned critic steps", s.get("steps")), ("C (clip norm)", _num(s.get("clip_norm"))),
                ("noise std", _num(s.get("noise_std")))]
        table = "".join(f"| {k} | {v} |\n" for k, v in rows if v is not None)
        lines.append("| parameter | value |\n|---|---|\n" + table)
        if s.get("claim"):
            lines.append(f"Claim: {s['claim']}.\n")
        if s.get("covers"):
            lines.append("Covered:\n\n" + "".join(f"- {x}\n" for x in s["covers"]))
        if s.get("not_covered"):
            lines.append("Not covered:\n\n" + "".join(f"- {x}\n" for x in s["not_covered"]))
    lines.append("This folder holds only the synthetic data and its DP claim (dp_statement.json, the same in JSON); "
                 f"it was written by privgen {s['privgen_version']}.\n")
    return "\n".join(lines)


def _num(x: Any) -> str | None:
    return None if x is None else (f"{x:.4g}" if isinstance(x, float) else str(x))
