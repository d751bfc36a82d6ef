"""The new user's path (issue 33), each on tiny settings and run from a directory other than the data's:
a folder of named class images → train → unlearn → attack → evaluate → audit; two party CSVs (different ID
column names, shuffled, some IDs in one file only) → train → generate → evaluate → DP → publish → audit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from test_vfl_user_data import write_user_parties

WORDS = ("one", "two", "three")  # sorted: 0 one, 1 three, 2 two


def write_named_digits(root: Path, per_class: int = 24) -> None:
    """sklearn's 8x8 digits 1, 2, 3 as PNGs in sub-folders named by their words."""
    from sklearn.datasets import load_digits

    d = load_digits()
    for digit, word in enumerate(WORDS, start=1):
        (root / word).mkdir(parents=True)
        for i, img in enumerate(d.images[d.target == digit][:per_class]):
            Image.fromarray((img * 255 / 16).astype(np.uint8), mode="L").save(root / word / f"{i}.png")


def ok(result) -> str:
    assert result.code == 0, (result.out, result.err)
    return result.out


def test_image_folder_train_unlearn_attack_eval_audit(cli, tmp_path, monkeypatch, one_thread) -> None:
    write_named_digits(tmp_path / "data" / "digits_png")
    monkeypatch.chdir(tmp_path / "data")
    dev = ["--device", "cpu", "--quiet"]
    ok(cli("diffusion", "train", "--data", "digits_png", "--recipe", "tiny8", "--steps", 6,
           "--out", tmp_path / "runs" / "base", *dev))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # every later command runs away from the data
    runs = tmp_path / "runs"

    out = ok(cli("unlearn", "run", "--model", runs / "base", "--method", "dimum", "--forget", "two", "--steps", 2,
                 "--batch-size", 8, "--out", runs / "dimum", *dev))
    assert 'class 2 "two"' in out
    cfg = json.loads((runs / "dimum" / "config.json").read_text())
    assert cfg["data"] == str((tmp_path / "data" / "digits_png").resolve()) and len(cfg["data_hash"]) == 64

    ok(cli("attack", "relearn", "--model", runs / "dimum", "--aux", "retain", "--steps", 2, "--batch-size", 8,
           "--out", runs / "attacked", *dev))
    attack = json.loads((runs / "attacked" / "config.json").read_text())["attack"]
    from privgen.data import load_images, train_test_split

    train = train_test_split(load_images(tmp_path / "data" / "digits_png", 8), 0.2, 0).train
    assert attack["n_aux"] == int((train.y != 2).sum())  # the retained training images, read from the data's folder

    ok(cli("eval", "generation", "--model", runs / "dimum", "--n-per-class", 10, "--out", runs / "eval", *dev))
    m = json.loads((runs / "eval" / "metrics.json").read_text())
    assert m["forgotten"]["classes"] == ["two"] and m["retained"]["classes"] == ["one", "three"]
    assert 0.0 <= m["forgotten"]["forget_accuracy"] <= 1.0

    out = ok(cli("audit", "unlearning", "--model", runs / "dimum", "--regimes", "retain", "--lrs", "1e-3",
                 "--steps", 3, "--probe-steps", "1,2", "--batch-size", 8, "--n-per-class", 4,
                 "--quality-n-per-class", 5, "--workers", 1, "--out", runs / "audit", *dev))
    report = (runs / "audit" / "report.md").read_text()
    assert '"two"' in report
    oracle = json.loads((Path(json.loads((runs / "audit" / "config.json").read_text())["oracle"]) / "config.json")
                        .read_text())
    assert oracle["steps"] == 6 and oracle["data_hash"] == cfg["data_hash"]  # trained like the base it stands for


def test_party_csvs_train_generate_eval_dp_publish_audit(cli, tmp_path, monkeypatch) -> None:
    write_user_parties(tmp_path / "data")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    files = ["--party-file", "../data/a.csv", "--party-file", "../data/b.csv",
             "--id-column", "patient_id", "--id-column", "pid"]
    tiny = ["--size", "tiny", "--iterations", 2, "--batch-size", 16, "--device", "cpu", "--quiet"]

    out = ok(cli("vfl", "train", *files, "--out", "run", *tiny))
    assert "a.csv 55 of 60 rows matched, b.csv 55 of 60 rows matched" in out
    monkeypatch.chdir(tmp_path)  # the run recorded where its files are
    ok(cli("vfl", "generate", "--model", "work/run", "--n", 40, "--out", "synth.csv"))
    ok(cli("eval", "synthetic", "--synthetic", "synth.csv", "--model", "work/run", "--out", "eval"))
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert 0.0 <= m["utility_baseline"] <= 1.0 and "utility" in m

    files = [f.replace("../", "") for f in files]
    ok(cli("vfl", "schema", *files, "--out", "schema.json"))
    doc = json.loads((tmp_path / "schema.json").read_text())
    del doc["template"]
    doc["source"], doc["n"] = "edited by hand: bounds from the study's data dictionary", 55
    (tmp_path / "schema.json").write_text(json.dumps(doc))
    out = ok(cli("vfl", "train", *files, "--dp", "sound", "--epsilon", 5, "--schema", "schema.json",
                 "--out", "dp", *tiny))
    assert "ε" in out or "epsilon" in out
    ok(cli("vfl", "publish", "dp", "--out", "release"))
    statement = json.loads((tmp_path / "release" / "dp_statement.json").read_text())
    assert statement["guarantee"] is True and statement["epsilon"] <= 5 + 1e-9
    assert {p.name for p in (tmp_path / "release").iterdir()} == {"synthetic.csv", "dp_statement.json", "README.md"}

    ok(cli("audit", "synthetic", "--model", "work/run", "--shadow-pairs", 5, "--features", "naive", "--workers", 1,
           "--quiet", "--out", "audit"))
    cfg = json.loads((tmp_path / "audit" / "config.json").read_text())
    assert cfg["n_rows"] == 44 and cfg["audited_run"] == str((tmp_path / "work" / "run").resolve())
    assert pd.read_csv(tmp_path / "synth.csv").shape[0] == 40
