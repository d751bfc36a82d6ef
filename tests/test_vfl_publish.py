"""`privgen vfl publish`: the release folder holds the synthetic data and a whitelisted DP statement, nothing
private; runs without a guarantee need --allow-unguaranteed; every bad input: exit 2, one line, nothing written."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_user_error
from privgen.privacy.vfl_plan import STATEMENT_KEYS
from privgen.vfl.config import GanConfig
from privgen.vfl.nets import SIZE_PRESETS
from privgen.vfl.run import train_vfl_run
from privgen.vfl.sources import data_spec

TRAIN_SEED = 97531  # distinctive: it must not show up in any published file
SAMPLE_SEED = 86420
ROWS = 400
TABLE_FILES = {"synthetic.csv", "dp_statement.json", "README.md"}
# Private things a release must not carry, searched in every file. "state" as in RNG states / state dicts;
# the word "statement" (dp_statement.json) is allowed.
FORBIDDEN = [r'"seed"', r"n_train", r"batch_rows", r"bytes", r"rng", r"state(?!ment)"]


def _train(root: Path, name: str, dp: str = "none", data: str = "adult", **extra) -> Path:
    """A tiny finished run (adult, 2 parties, ROWS training rows unless `extra` says otherwise)."""
    kw: dict = {"sigma": 1.0} if dp != "none" else {}
    if dp == "sound":
        kw["n_public"] = 500  # a public N (the sound mode's q and steps come from it)
    spec = data_spec(data, 2, max_rows=extra.pop("max_rows", ROWS))
    out = root / name
    train_vfl_run(spec, "vflgan", out, seed=TRAIN_SEED, iterations=3, sizes=SIZE_PRESETS["tiny"],
                  cfg=GanConfig(batch_size=32), device="cpu", quiet=True, dp=dp, **kw, **extra)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    try:
        made = {mode: _train(root, mode, mode) for mode in ("sound", "paper", "none")}
        made["image"] = _train(root, "image", data="mnist5k", max_rows=64)
    finally:
        torch.set_num_threads(threads)
    assert json.loads((made["sound"] / "metrics.json").read_text())["n_train"] == ROWS
    return made


def _fixed_texts() -> list[str]:
    """The mechanism's description (privgen.privacy.vfl_plan constants, the same for every run), raw and as JSON
    writes it: it may name RNGs or --seed when it says how noise is drawn, which is no private value."""
    from privgen.privacy import vfl_plan

    texts = [t for table in (vfl_plan.COVERS, vfl_plan.NOT_COVERED) for ts in table.values() for t in ts]
    texts += [t for name in ("CLAIM_NOTE", "ADJACENCY") for t in getattr(vfl_plan, name, {}).values()]
    return sorted({form for t in texts for form in (t, json.dumps(t)[1:-1])}, key=len, reverse=True)


def _no_private_strings(folder: Path) -> None:
    fixed = _fixed_texts()
    for path in sorted(folder.rglob("*")):
        data = path.read_bytes()
        text = data.decode("utf-8", errors="replace")
        statement = path.suffix in (".json", ".md")
        for t in fixed if statement else []:
            text = text.replace(t, "")
        for pat in FORBIDDEN:  # data files case-sensitively: Adult's public category "State-gov" is no state
            flags = re.IGNORECASE if statement else 0
            assert not re.search(pat, text, flags), f"{path.name} holds {pat!r}"
        for seed in (TRAIN_SEED, SAMPLE_SEED):
            assert not re.search(rf"(?<![\d.]){seed}(?!\d)", text), f"{path.name} holds the seed {seed}"


def test_sound_run_publishes_only_data_and_statement(runs, cli, tmp_path) -> None:
    out = tmp_path / "release"
    r = cli("vfl", "publish", runs["sound"], "--out", out, "--n", "50", "--seed", SAMPLE_SEED)
    assert r.code == 0, r.err
    assert {p.name for p in out.iterdir()} == TABLE_FILES
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left
    _no_private_strings(out)
    df = pd.read_csv(out / "synthetic.csv")
    assert len(df) == 50 and "age" in df.columns
    statement = json.loads((out / "dp_statement.json").read_text())
    assert set(statement) <= set(STATEMENT_KEYS) | {"published", "privgen_version"}
    assert statement["mode"] == "sound" and statement["guarantee"] is True
    assert {"epsilon", "delta", "sigma", "sample_rate", "steps", "clip_norm"} <= set(statement)
    assert "synthetic.csv: 50 rows" in statement["published"]
    readme = (out / "README.md").read_text()
    assert "guarantee: true" in readme and "ε" in readme and "Not covered" in readme
    for text in (readme, (out / "dp_statement.json").read_text()):
        assert not re.search(rf"(?<![\d.]){ROWS}(?!\d)", text), "the training's N is published"


def test_parquet_format(runs, cli, tmp_path) -> None:
    pytest.importorskip("pyarrow")
    out = tmp_path / "release"
    r = cli("vfl", "publish", runs["sound"], "--out", out, "--n", "10", "--format", "parquet")
    assert r.code == 0, r.err
    assert {p.name for p in out.iterdir()} == {"synthetic.parquet", "dp_statement.json", "README.md"}
    assert len(pd.read_parquet(out / "synthetic.parquet")) == 10


@pytest.mark.parametrize("mode,why", [("paper", "is not a guarantee over the published data"),
                                      ("none", "trained without DP")])
def test_unguaranteed_runs_need_the_flag(mode, why, runs, cli, tmp_path) -> None:
    out = tmp_path / "release"
    assert_user_error(cli("vfl", "publish", runs[mode], "--out", out, "--n", "20"), why, "--allow-unguaranteed")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    r = cli("vfl", "publish", runs[mode], "--out", out, "--n", "20", "--allow-unguaranteed")
    assert r.code == 0, r.err
    assert {p.name for p in out.iterdir()} == TABLE_FILES
    _no_private_strings(out)
    statement = json.loads((out / "dp_statement.json").read_text())
    assert statement["guarantee"] is False and statement["mode"] == mode
    assert set(statement) <= set(STATEMENT_KEYS) | {"published", "privgen_version"}
    readme = (out / "README.md").read_text()
    assert "guarantee: false" in readme
    if mode == "paper":
        assert "its ε is the published mechanism's claim and not a guarantee" in readme
    else:
        assert "without differential privacy" in readme and "ε (epsilon)" not in readme


def test_bad_inputs_write_nothing(runs, cli, tmp_path) -> None:
    unfinished = tmp_path / "unfinished"
    shutil.copytree(runs["paper"], unfinished)
    (unfinished / "metrics.json").unlink()
    ray = tmp_path / "ray"
    shutil.copytree(runs["sound"], ray)
    cfg = json.loads((ray / "config.json").read_text())
    (ray / "config.json").write_text(json.dumps({**cfg, "transport": "ray"}))
    legacy = tmp_path / "legacy"  # a sound run of an earlier release: seeded noise, q from the private N
    shutil.copytree(runs["sound"], legacy)
    cfg = json.loads((legacy / "config.json").read_text())
    (legacy / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if k != "dp_public_n"}))
    existing = tmp_path / "existing"
    existing.mkdir()
    not_run = tmp_path / "plain"
    not_run.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "release"
    cases = [
        ((unfinished, "--out", out), ("unfinished run", "same `privgen vfl train` command")),
        ((runs["sound"], "--out", existing), ("already exists",)),
        ((runs["sound"], "--out", out, "--n", "0"), ("--n must be a positive",)),
        ((not_run, "--out", out), ("not a privgen run directory", "privgen vfl train")),
        ((tmp_path / "missing", "--out", out), ("does not exist",)),
        ((ray, "--out", out), ("--transport ray", "privgen vfl generate --transport ray")),
        ((legacy, "--out", out), ("by an earlier privgen", "replayable", "retrain with --dp sound")),
        ((runs["sound"], "--out", out, "--format", "xlsx"), ("--format 'xlsx' is unknown",)),
        ((runs["image"], "--out", out, "--format", "csv", "--allow-unguaranteed"), ("applies to table models",)),
    ]
    for args, fragments in cases:
        assert_user_error(cli("vfl", "publish", *args), *fragments)
        assert sorted(p.name for p in tmp_path.iterdir()) == before, args
        assert list(existing.iterdir()) == []


def test_image_model_publishes_npz_and_grid(runs, cli, tmp_path) -> None:
    out = tmp_path / "release"
    r = cli("vfl", "publish", runs["image"], "--out", out, "--n", "12", "--allow-unguaranteed")
    assert r.code == 0, r.err
    assert {p.name for p in out.iterdir()} == {"synthetic.npz", "synthetic.png", "dp_statement.json", "README.md"}
    with np.load(out / "synthetic.npz") as z:
        assert list(z.files) == ["x"] and z["x"].shape == (12, 1, 28, 28)
    assert "12 images" in json.loads((out / "dp_statement.json").read_text())["published"]
    _no_private_strings(out)


def test_a_failure_while_writing_leaves_nothing(runs, cli, tmp_path, monkeypatch) -> None:
    """The release is written into a hidden sibling folder and renamed: a failure half-way removes it."""
    from privgen.errors import UserError
    from privgen.vfl import publish

    def full_disk(*_a, **_k) -> None:
        raise UserError("cannot write synthetic.csv: No space left on device")

    monkeypatch.setattr(publish, "write_table", full_disk)
    out = tmp_path / "release"
    assert_user_error(cli("vfl", "publish", runs["sound"], "--out", out), "No space left")
    assert list(tmp_path.iterdir()) == []
