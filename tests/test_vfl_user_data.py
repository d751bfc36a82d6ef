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


def test_generated_numbers_stay_inside_the_observed_range(cli, tmp_path) -> None:
    """A positive column (area) never comes out negative: decoded numbers are clipped to the training rows'
    observed range (no DP), and the count of clipped values is reported. (30 iterations at lr 1e-3 drive the
    tiny generator outside the range: without the clip this run writes area -1.68 and age -31.)"""
    a, b = write_user_parties(tmp_path / "d")
    pd.read_csv(b).rename(columns={"pid": "patient_id"}).to_csv(b, index=False)
    r = cli("vfl", "train", "--party-file", a, "--party-file", b, "--id-column", "patient_id", "--out", tmp_path / "run",
            *TINY[:2], "--iterations", "30", "--batch-size", "16", "--lr", "1e-3", "--device", "cpu", "--quiet")
    assert r.code == 0, r.err
    r = cli("vfl", "generate", "--model", tmp_path / "run", "--n", "400", "--out", tmp_path / "s.csv")
    assert r.code == 0, r.err
    synth, real = pd.read_csv(tmp_path / "s.csv"), pd.read_csv(a)
    assert synth["area"].min() >= real["area"].min() - 1e-9 and synth["area"].max() <= real["area"].max() + 1e-9
    assert synth["age"].between(real["age"].min(), real["age"].max()).all()
    layout = json.loads((tmp_path / "run" / "layout.json").read_text())
    codec = next(c for e in layout["encoders"] for c in e if c["name"] == "area")
    assert codec["lo"] > 0 and codec["hi"] < real["area"].max() + 1e-9
    assert "clipped to the columns' bounds: age" in r.out and "area" in r.out
    r = cli("eval", "synthetic", "--model", tmp_path / "run", "--n", "400", "--out", tmp_path / "e")
    assert r.code == 0, r.err
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert m["clipped_values"] == sum(m["clipped_by_column"].values()) > 0 and set(m["clipped_by_column"]) <= {"age", "area", "bmi"}


def test_dp_runs_keep_the_observed_range_private(tmp_path) -> None:
    """Under DP the observed range is a statistic no noise covers: only a schema's bounds are kept."""
    from privgen.vfl.run import train_vfl_run
    from privgen.vfl.sources import data_spec
    from privgen.vfl.nets import SIZE_PRESETS
    from privgen.vfl.config import GanConfig

    a, b = write_user_parties(tmp_path / "d")
    spec = data_spec(None, 2, [str(a), str(b)], ["patient_id", "pid"])
    run = train_vfl_run(spec, "vflgan", tmp_path / "dp", iterations=1, sizes=SIZE_PRESETS["tiny"],
                        cfg=GanConfig(batch_size=16), device="cpu", quiet=True, dp="paper", sigma=1.0)
    layout = json.loads((run.path / "layout.json").read_text())
    assert all("lo" not in c and "hi" not in c for e in layout["encoders"] for c in e)


def test_eval_any_synthetic_file_beside_the_majority_rate(user_run, cli, tmp_path) -> None:
    """--synthetic FILE is evaluated against the run's real rows or the party files; utility sits beside the
    majority-class rate (always predicting the most common outcome)."""
    run, a, b = user_run
    assert cli("vfl", "generate", "--model", run, "--n", "50", "--out", tmp_path / "s.csv").code == 0
    r = cli("eval", "synthetic", "--synthetic", tmp_path / "s.csv", "--model", run, "--out", tmp_path / "e1")
    assert r.code == 0, r.err
    m1 = json.loads((tmp_path / "e1" / "metrics.json").read_text())
    r2 = cli("eval", "synthetic", "--synthetic", tmp_path / "s.csv", *parties(a, b), "--out", tmp_path / "e2")
    assert r2.code == 0, r2.err
    m2 = json.loads((tmp_path / "e2" / "metrics.json").read_text())
    assert m1["fd"] == pytest.approx(m2["fd"]) and m1["utility"] == pytest.approx(m2["utility"])
    # the baseline by hand: the same split as training, the train rows' most common outcome scored on the test rows
    from privgen.vfl.sources import load_vertical

    data = load_vertical(json.loads((run / "config.json").read_text())["data_spec"])
    common = data.raw_train["outcome"].mode().iloc[0]
    assert m1["utility_baseline"] == pytest.approx((data.raw_test["outcome"] == common).mean())
    assert m1["utility_task"] == "accuracy predicting outcome" and "majority-class rate" in m1["utility_baseline_rule"]
    assert f"(baseline {m1['utility_baseline']:.4g}, real" in r.out
    assert "majority-class rate" in (tmp_path / "e1" / "report.md").read_text()


def test_eval_synthetic_file_refusals(user_run, cli, tmp_path) -> None:
    run, _, _ = user_run
    assert cli("vfl", "generate", "--model", run, "--n", "20", "--out", tmp_path / "s.csv").code == 0
    s = pd.read_csv(tmp_path / "s.csv")
    s.drop(columns=["bmi"]).assign(extra=1).to_csv(tmp_path / "cols.csv", index=False)
    assert_user_error(cli("eval", "synthetic", "--synthetic", tmp_path / "cols.csv", "--model", run, "--out", tmp_path / "e"),
                      "does not have the real data's columns: missing bmi; not in the real data extra")
    s.iloc[:0].to_csv(tmp_path / "empty.csv", index=False)
    assert_user_error(cli("eval", "synthetic", "--synthetic", tmp_path / "empty.csv", "--model", run, "--out", tmp_path / "e"),
                      "empty.csv has a header but no rows")
    assert not (tmp_path / "e").exists()


AUDIT_TINY = ["--shadow-pairs", "5", "--features", "naive", "--quiet", "--workers", "1"]


def test_audit_synthetic_audits_the_users_joined_rows(user_run, cli, tmp_path) -> None:
    """--party-file/--id-column: the shadow models train on the user's 55 joined rows (44 training rows after
    the split), not on the embedded adult table; --model RUN audits the run's own recipe."""
    run, a, b = user_run
    r = cli("audit", "synthetic", *parties(a, b), "--model-type", "vflgan", "--size", "tiny", "--iterations", "2",
            "--batch-size", "16", *AUDIT_TINY, "--out", tmp_path / "files")
    assert r.code == 0, r.err
    cfg = json.loads((tmp_path / "files" / "config.json").read_text())
    assert cfg["n_rows"] == 44 and cfg["generator"]["options"]["groups"] == [["age", "area"], ["bmi", "outcome"]]
    assert cfg["id_column"] == ["patient_id", "pid"]
    r = cli("audit", "synthetic", "--model", run, *AUDIT_TINY, "--out", tmp_path / "run")
    assert r.code == 0, r.err
    cfg2 = json.loads((tmp_path / "run" / "config.json").read_text())
    opts = cfg2["generator"]["options"]
    assert (opts["model"], opts["size"], opts["iterations"], opts["batch_size"]) == ("vflgan", "tiny", 2, 16)
    assert cfg2["n_rows"] == 44 and cfg2["audited_run"] == str(run.resolve())


def test_audit_model_means_a_run_directory(user_run, cli, tmp_path) -> None:
    run, a, b = user_run
    assert_user_error(cli("audit", "synthetic", "--model", run, "--data", "wine", "--out", tmp_path / "x"),
                      "supplies the data", "drop --data")
    assert_user_error(cli("audit", "synthetic", "--model", tmp_path / "nope", "--out", tmp_path / "x"),
                      "is not a directory", "--model-type")
    r = cli("audit", "synthetic", "--model", "vertigan", "--model-type", "vflgan", "--out", tmp_path / "x")
    assert_user_error(r, "give only --model-type")
    assert not (tmp_path / "x").exists()


def test_a_party_file_edited_after_training_is_refused(cli, tmp_path) -> None:
    """A run records each party file's content hash; a later command on an edited file refuses in one line
    instead of evaluating against rows the model never saw."""
    a, b = write_user_parties(tmp_path / "d")
    assert cli("vfl", "train", *parties(a, b), "--out", tmp_path / "run", *TINY).code == 0
    spec = json.loads((tmp_path / "run" / "config.json").read_text())["data_spec"]
    assert all(len(h) == 64 for h in spec["party_hashes"])
    pd.read_csv(b).iloc[:-3].to_csv(b, index=False)
    assert_user_error(cli("eval", "synthetic", "--model", tmp_path / "run", "--out", tmp_path / "e"),
                      f"the data at {b.resolve()} changed since the run was trained")
    assert not (tmp_path / "e").exists()


def test_eval_of_a_synthetic_file_says_whose_split_its_test_rows_are(user_run, cli, tmp_path) -> None:
    run, a, b = user_run
    assert cli("vfl", "generate", "--model", run, "--n", "30", "--out", tmp_path / "s.csv").code == 0
    assert cli("eval", "synthetic", "--synthetic", tmp_path / "s.csv", "--model", run, "--out", tmp_path / "e").code == 0
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["reference_split"] == "the run's own held-out rows"
    # a Ray run on party files ordered its rows by a secret key: the split here is not its own, and it says so
    metrics = json.loads((run / "metrics.json").read_text())
    ray_run = tmp_path / "ray-run"
    import shutil

    shutil.copytree(run, ray_run)
    (ray_run / "metrics.json").write_text(json.dumps({**metrics, "transport": "ray"}))
    r = cli("eval", "synthetic", "--synthetic", tmp_path / "s.csv", "--model", ray_run, "--out", tmp_path / "e2")
    assert r.code == 0, r.err
    assert "are not its held-out rows" in r.err
    assert json.loads((tmp_path / "e2" / "metrics.json").read_text())["reference_split"].startswith("not the run's")
