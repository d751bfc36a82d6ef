"""A user's own table in two party files, end to end (issue 33): shuffled differently, some IDs in one file
only, a different ID column name per file; train, generate, evaluate any synthetic CSV, audit the user's rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_user_error

TINY = ["--size", "tiny", "--iterations", "2", "--batch-size", "16", "--device", "cpu", "--quiet"]


def write_user_parties(folder: Path, n: int = 60, seed: int = 0) -> tuple[Path, Path]:
    """Patients 0..59 in a.csv (column patient_id), 5..64 in b.csv (column pid), each file shuffled its own way:
    55 IDs match. `area` is positive and skewed (a synthetic negative area would be nonsense)."""
    rng = np.random.default_rng(seed)
    ids_a, ids_b = np.arange(n), np.arange(5, n + 5)
    a = pd.DataFrame({"patient_id": ids_a, "age": rng.integers(18, 80, n), "area": rng.exponential(2.0, n) + 0.01})
    b = pd.DataFrame({"pid": ids_b, "bmi": rng.normal(25, 4, n), "outcome": rng.choice(["ill", "well"], n, p=[0.3, 0.7])})
    folder.mkdir(parents=True, exist_ok=True)
    a.sample(frac=1, random_state=1).to_csv(folder / "a.csv", index=False)
    b.sample(frac=1, random_state=2).to_csv(folder / "b.csv", index=False)
    return folder / "a.csv", folder / "b.csv"


def parties(a: Path, b: Path) -> list[str]:
    return ["--party-file", str(a), "--party-file", str(b), "--id-column", "patient_id", "--id-column", "pid"]


@pytest.fixture(scope="module")
def user_run(tmp_path_factory) -> tuple[Path, Path, Path]:
    from privgen.cli import main

    root = tmp_path_factory.mktemp("user")
    a, b = write_user_parties(root / "data")
    with pytest.raises(SystemExit) as e:
        main(["vfl", "train", *parties(a, b), "--out", str(root / "run"), *TINY])
    assert e.value.code in (0, None)
    return root / "run", a, b


def test_an_id_column_per_file_and_matched_ids_per_party(user_run, cli, tmp_path) -> None:
    """Different ID names per file join; metrics and the CLI say how many of each file's IDs matched."""
    run, a, b = user_run
    m = json.loads((run / "metrics.json").read_text())
    assert m["aligned_rows"] == 55
    assert m["party_rows"] == [{"file": "a.csv", "rows": 60, "matched": 55}, {"file": "b.csv", "rows": 60, "matched": 55}]
    r = cli("vfl", "train", *parties(a, b), "--out", tmp_path / "r2", *TINY)
    assert r.code == 0, r.err
    assert "joined on ID: a.csv 55 of 60 rows matched, b.csv 55 of 60 rows matched" in r.out


def test_id_columns_must_be_one_or_one_per_file(cli, tmp_path) -> None:
    a, b = write_user_parties(tmp_path / "d")
    r = cli("vfl", "train", "--party-file", a, "--party-file", b, "--id-column", "patient_id", "--id-column", "pid",
            "--id-column", "x", "--out", tmp_path / "o", *TINY)
    assert_user_error(r, "3 --id-column for 2 --party-file")
    assert not (tmp_path / "o").exists()


def test_ids_of_different_types_get_privgens_own_message(cli, tmp_path) -> None:
    """int IDs in one file and text IDs in the other: one privgen line, not pandas' advice to use pd.concat."""
    a, b = write_user_parties(tmp_path / "d")
    df = pd.read_csv(b).rename(columns={"pid": "patient_id"})
    df["patient_id"] = [f"P{i:03d}" for i in df["patient_id"]]
    df.to_csv(b, index=False)
    r = cli("vfl", "train", "--party-file", a, "--party-file", b, "--id-column", "patient_id", "--out", tmp_path / "o", *TINY)
    assert_user_error(r, "numbers in some files and text in others", "a.csv ('patient_id'): numbers",
                      "b.csv ('patient_id'): text", "write the IDs the same way in every file")
    assert "pd.concat" not in r.err and not (tmp_path / "o").exists()


def test_a_header_only_csv_is_refused_in_one_line(cli, tmp_path) -> None:
    a, b = write_user_parties(tmp_path / "d")
    pd.read_csv(b).rename(columns={"pid": "patient_id"}).iloc[:0].to_csv(b, index=False)
    r = cli("vfl", "train", "--party-file", a, "--party-file", b, "--id-column", "patient_id", "--out", tmp_path / "o", *TINY)
    assert_user_error(r, "b.csv has a header but no rows")


def test_size_defaults_to_small_like_the_other_commands(cli, tmp_path) -> None:
    a, b = write_user_parties(tmp_path / "d")
    pd.read_csv(b).rename(columns={"pid": "patient_id"}).to_csv(b, index=False)
    r = cli("vfl", "train", "--party-file", a, "--party-file", b, "--id-column", "patient_id", "--out", tmp_path / "o", "--iterations", "1", "--batch-size", "16",
            "--device", "cpu", "--quiet")
    assert r.code == 0, r.err
    from privgen.vfl.nets import SIZE_PRESETS

    cfg = json.loads((tmp_path / "o" / "config.json").read_text())
    assert cfg["sizes"] == json.loads(json.dumps(SIZE_PRESETS["small"].to_json()))


def test_transport_help_shows_the_ray_extra(cli) -> None:
    r = cli("vfl", "train", "--help")
    text = " ".join(r.out.replace("│", " ").split())
    assert "pip install 'privgen[ray]'" in text, text[-2000:]
