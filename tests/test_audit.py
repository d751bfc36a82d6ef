"""The synthetic-data membership audit: ε lower bounds, the set attack on planted generators, resume, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from privgen.audit import shadow as shadow_mod
from privgen.audit.bounds import cp_lower, cp_upper, epsilon_lower_bound
from privgen.audit.features import correlation_features
from privgen.audit.generators import GeneratorSpec
from privgen.audit.run import AuditSettings, most_isolated_row, planted_outlier, run_audit
from privgen.data.tabular import TableEncoder
from privgen.vfl.partition import TableLayout

from conftest import assert_user_error


def test_epsilon_bound_against_hand_computed_values() -> None:
    # 1000 runs per side, TP = 500, FP = 0, α = 0.05, δ = 1e-5: ln((0.4685 - δ) / 0.003682) ≈ 4.85
    assert epsilon_lower_bound(500, 500, 0, 1000, alpha=0.05, delta=1e-5) == pytest.approx(4.846, abs=2e-3)
    assert cp_upper(0, 1000, 0.025) == pytest.approx(1 - 0.025 ** (1 / 1000))
    assert cp_lower(1000, 1000, 0.025) == pytest.approx(0.025 ** (1 / 1000))
    # a coin-flip attack proves nothing; a perfect one on 15 per side proves little
    assert epsilon_lower_bound(50, 50, 50, 50) == 0.0
    assert 0.5 < epsilon_lower_bound(15, 0, 0, 15, alpha=0.05) < 2.5
    # the second inequality: a perfect "out" detector with no false negatives
    assert epsilon_lower_bound(0, 0, 0, 1000) == 0.0


def test_correlation_features_are_the_upper_triangle() -> None:
    x = np.random.default_rng(0).normal(size=(500, 4))
    x[:, 1] = 2 * x[:, 0] + 1
    x[:, 3] = 7.0  # constant: correlations 0, not NaN
    f = correlation_features(x)
    assert f.shape == (6,)
    c = np.corrcoef(x[:, :3], rowvar=False)
    np.testing.assert_allclose(f[[0, 1, 3]], [c[0, 1], c[0, 2], c[1, 2]], atol=1e-9)
    assert f[0] == pytest.approx(1.0)
    np.testing.assert_array_equal(f[[2, 4, 5]], 0.0)


def small_table(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, TableLayout]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                       "c": rng.choice(["x", "y"], size=n), "d": rng.normal(size=n)})
    df.loc[7, ["a", "b"]] = [12.0, -9.0]  # the planted outlier
    groups = [["a", "b"], ["c", "d"]]
    return df, TableLayout([TableEncoder.fit(df[g]) for g in groups], "d")


def test_auto_target_is_the_planted_outlier() -> None:
    df, layout = small_table()
    assert most_isolated_row(df, layout) == 7


def test_planted_target_is_an_extreme_valid_row_added_to_the_data(tmp_path) -> None:
    df, layout = small_table()
    row = planted_outlier(df).iloc[0]
    assert row["a"] == df["a"].max() and row["b"] == df["b"].max() and row["d"] == df["d"].max()
    assert row["c"] == df["c"].value_counts().index[-1]
    settings = AuditSettings(pairs=20, features=("naive",), n_synthetic=61, seed=0)
    run = run_audit(df, layout, GeneratorSpec("memoriser"), settings, tmp_path / "p", target="planted",
                    workers=1, quiet=True)
    m = run.metrics
    assert m["target_row"] == len(df) and run.config["planted"] is True and run.config["n_rows"] == len(df) + 1
    assert m["target"]["a"] == df["a"].max()
    assert m["attacks"]["synthetic.naive"]["accuracy_mean"] == pytest.approx(1.0)  # a memoriser leaks it


def test_memorising_generator_is_caught_and_a_data_blind_one_is_not(tmp_path) -> None:
    df, layout = small_table()
    settings = AuditSettings(pairs=150, features=("naive",), n_synthetic=60, seed=0)
    leaky = run_audit(df, layout, GeneratorSpec("memoriser"), settings, tmp_path / "leaky", workers=1, quiet=True)
    m = leaky.metrics
    assert m["target_row"] == 7
    assert m["attacks"]["synthetic.naive"]["accuracy_mean"] == pytest.approx(1.0)
    assert m["epsilon_lb"] > 2.0  # 45 test models per side, all right: ε ≥ 2.2 at 95%
    public = small_table(seed=1)[0].to_dict("records")
    blind = run_audit(df, layout, GeneratorSpec("data-blind", {"public": public}), settings, tmp_path / "blind",
                      workers=1, quiet=True)
    b = blind.metrics["attacks"]["synthetic.naive"]
    assert 0.35 < b["accuracy_mean"] < 0.65
    assert blind.metrics["epsilon_lb"] == 0.0
    assert "consistent" not in blind.metrics["verdict"]  # no claim given
    assert (tmp_path / "leaky" / "roc.png").is_file() and "ε lower bound" in (tmp_path / "leaky" / "report.md").read_text()


def test_verdict_compares_with_the_claim(tmp_path) -> None:
    df, layout = small_table()
    settings = AuditSettings(pairs=150, features=("naive",), n_synthetic=60)
    run = run_audit(df, layout, GeneratorSpec("memoriser"), settings, tmp_path / "a", claimed_epsilon=1.0,
                    workers=1, quiet=True)
    assert run.metrics["verdict"].startswith("VIOLATES")


def test_resume_reuses_finished_shadow_models(tmp_path, monkeypatch) -> None:
    df, layout = small_table()
    settings = AuditSettings(pairs=6, features=("corr", "naive"), n_synthetic=60)
    real_train = shadow_mod.train_shadow
    calls: list[str] = []

    def killed_after_five(job, *args):
        if len(calls) == 5:
            raise KeyboardInterrupt  # the user's Ctrl-C, mid-audit
        calls.append(job.name)
        return real_train(job, *args)

    import privgen.audit.run as run_mod

    monkeypatch.setattr(run_mod, "train_shadow", killed_after_five)
    with pytest.raises(KeyboardInterrupt):
        run_audit(df, layout, GeneratorSpec("memoriser"), settings, tmp_path / "a", workers=1, quiet=True)
    assert len(list((tmp_path / "a" / "shadow").glob("*.npz"))) == 5
    calls.clear()
    monkeypatch.setattr(run_mod, "train_shadow", lambda job, *a: (calls.append(job.name), real_train(job, *a))[1])
    run = run_audit(df, layout, GeneratorSpec("memoriser"), settings, tmp_path / "a", workers=1, quiet=True)
    assert len(calls) == 12 - 5
    assert set(run.metrics["attacks"]) == {"synthetic.corr", "synthetic.naive", "synthetic.both"}
    assert run.metrics["shadow_training"]["reused"] == 5


AUDIT = ["audit", "synthetic", "--data", "wine", "--parties", "2", "--size", "tiny", "--iterations", "2",
         "--batch-size", "16", "--max-rows", "60", "--quiet", "--workers", "1"]


def test_cli_audit_of_a_vfl_model_with_intermediate_features(cli, tmp_path) -> None:
    out = tmp_path / "a"
    r = cli(*AUDIT, "--shadow-pairs", "5", "--on", "both", "--features", "naive", "--out", out)
    assert r.code == 0, r.err
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["attacks"]) == {"synthetic.naive", "intermediate.party1.naive", "intermediate.party2.naive"}
    assert m["claimed_epsilon"] is None and m["target_row"] >= 0
    a = m["attacks"]["intermediate.party1.naive"]
    assert len(a["repeats"]) == 5 and a["repeats"][0]["n_test_models"] == 2  # 5 pairs: 4 train, 1 tests


@pytest.mark.parametrize("args, fragment", [
    (["--shadow-pairs", "4"], "at least 5"),
    (["--target", "100000"], "outside the training rows"),
    (["--target", "x"], "'auto', 'planted' or a row number"),
    (["--model-type", "centralized", "--on", "intermediate"], "has none"),
    (["--alpha", "1.5"], "--alpha must be in (0, 1)"),
    (["--alpha", "0"], "--alpha must be in (0, 1)"),
    (["--features", "mean"], "--features 'mean' is unknown"),
    (["--data", "digits"], "image dataset"),
])
def test_bad_input_is_one_line_and_writes_nothing(cli, tmp_path, args, fragment) -> None:
    out = tmp_path / "a"
    assert_user_error(cli(*AUDIT, "--shadow-pairs", "5", *args, "--out", out), fragment)
    assert not out.exists()


def test_an_audit_of_other_options_is_refused(cli, tmp_path) -> None:
    out = tmp_path / "a"
    assert cli(*AUDIT, "--shadow-pairs", "5", "--features", "naive", "--out", out).code == 0
    before = (out / "metrics.json").read_bytes()
    assert_user_error(cli(*AUDIT, "--shadow-pairs", "6", "--features", "naive", "--out", out), "pairs")
    assert (out / "metrics.json").read_bytes() == before


def test_worker_processes_give_the_same_features_as_one_process(tmp_path) -> None:
    df, layout = small_table()
    settings = AuditSettings(pairs=5, features=("corr",), n_synthetic=60)
    runs = [run_audit(df, layout, GeneratorSpec("memoriser"), settings, tmp_path / f"w{w}", workers=w, quiet=True)
            for w in (1, 2)]
    a, b = (sorted((r.path / "shadow").glob("*.npz")) for r in runs)
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 10
    for pa, pb in zip(a, b):
        with np.load(pa) as za, np.load(pb) as zb:
            assert all(np.array_equal(za[k], zb[k]) for k in za.files)


def test_cli_audit_under_paper_dp_sets_the_bound_beside_the_accountant(cli, tmp_path) -> None:
    out = tmp_path / "a"
    r = cli(*AUDIT, "--shadow-pairs", "5", "--features", "naive", "--dp", "paper", "--sigma", "1.0", "--out", out)
    assert r.code == 0, r.err
    m = json.loads((out / "metrics.json").read_text())
    assert m["claimed_epsilon"] > 0 and m["verdict"].startswith("consistent")  # 2 test models prove nothing
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["generator"]["options"]["dp"] == "paper" and cfg["dp"] == "paper"


@pytest.mark.parametrize("args, fragment", [
    (["--dp", "paper"], "--epsilon"),
    (["--dp", "paper", "--sigma", "1", "--claimed-epsilon", "3"], "one or the other"),
    (["--dp", "sound", "--sigma", "1"], "schema"),
    (["--dp", "paper", "--sigma", "1", "--model-type", "vertigan"], "VertiGAN"),
])
def test_bad_dp_input(cli, tmp_path, args, fragment) -> None:
    out = tmp_path / "a"
    assert_user_error(cli(*AUDIT, "--shadow-pairs", "5", *args, "--out", out), fragment)
    assert not out.exists()
