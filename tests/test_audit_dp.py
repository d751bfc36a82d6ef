"""`privgen audit dp`: a one-run canary audit that refutes broken DP claims and passes a correct one."""

from __future__ import annotations

import json

import pytest

from privgen.audit.dp_audit import DpAuditSettings, run_dp_audit
from privgen.vfl.sources import data_spec
from conftest import assert_user_error

SPEC = data_spec("adult", 3, max_rows=1000)


def _audit(tmp_path, dp: str, epsilon: float | None, planted: str | None = None, grad: int = 400, **kw) -> dict:
    settings = DpAuditSettings(canaries=200, gradient_canaries=grad, iterations=150, size="tiny", planted=planted,
                               score="gradient", **kw)
    run = run_dp_audit(SPEC, "vflgan", dp, epsilon, None, 1e-5, settings, tmp_path / "audit", quiet=True)
    return run.metrics


def test_without_dp_one_run_certifies_more_than_2(tmp_path, one_thread) -> None:
    m = _audit(tmp_path, "none", None)
    assert m["claimed_epsilon"] is None and m["verdict"] == "no DP claim"
    assert m["eps_lower_bound"] >= 2.0, m["scores"]
    assert {"eps_lower_bound", "claimed_epsilon", "verdict", "max_certifiable_epsilon", "canaries", "access"} <= set(m)
    text = (tmp_path / "audit" / "report.md").read_text()
    assert "scores.png" in text and (tmp_path / "audit" / "scores.png").is_file()


@pytest.mark.parametrize("bug", ["noise-0.1x", "replayable"])
def test_a_planted_dp_bug_is_refuted(bug, tmp_path, one_thread) -> None:
    m = _audit(tmp_path, "sound", 1.0, planted=bug)
    assert m["verdict"] == "claim refuted at 95%", m["scores"]
    assert m["eps_lower_bound"] > m["claimed_epsilon"] == pytest.approx(1.0, rel=1e-3)


def test_the_correct_sound_mode_is_consistent(tmp_path, one_thread) -> None:
    m = _audit(tmp_path, "sound", 1.0)
    assert m["verdict"] == "consistent", m["scores"]
    assert m["eps_lower_bound"] <= 1.0 < m["max_certifiable_epsilon"]
    # the coins are never written: nothing in the audit folder lists which canary was in
    for f in (tmp_path / "audit").iterdir():
        if f.suffix in (".json", ".md", ".jsonl"):
            assert "coins" not in f.read_text()
    assert isinstance(m["scores"]["white-box: gradient canaries (spike likelihood ratio)"]["included"], int)


@pytest.mark.parametrize("args,needle", [
    (["--canaries", "1"], "--canaries must be"),
    (["--canaries", "900", "--max-rows", "500"], "more than the 500 training rows"),
    (["--access", "black-box", "--gradient-canaries", "10"], "need --access white-box"),
    (["--access", "grey-box"], "--access 'grey-box' is unknown"),
    (["--dp", "none", "--claimed-epsilon", "2"], "carries no ε"),
    (["--dp", "sound", "--epsilon", "2", "--claimed-epsilon", "5"], "the run carries ε = 2"),
    (["--dp", "paper", "--epsilon", "2", "--gradient-canaries", "10"], "--dp paper clips the first layer"),
    (["--score", "gradient"], "--score gradient needs --gradient-canaries"),
])
def test_bad_input_is_one_line_and_writes_nothing(args, needle, tmp_path, cli) -> None:
    out = tmp_path / "audit"
    base = ["audit", "dp", "--data", "adult", "--size", "tiny", "--iterations", "1", "--quiet", "--out", out]
    if "--max-rows" not in args:
        base += ["--max-rows", "1000"]
    if "--dp" not in args:
        base += ["--dp", "sound", "--epsilon", "2"]
    assert_user_error(cli(*base, *args), needle)
    assert not out.exists()


def test_the_paper_mode_keeps_n_fixed_with_fillers(tmp_path, one_thread) -> None:
    """Replace-one adjacency: every canary slot holds the canary or a filler row, so the training size does
    not depend on the coins, and the report names the claim for what it is."""
    settings = DpAuditSettings(canaries=50, iterations=2, size="tiny", score="all", access="black-box")
    run = run_dp_audit(SPEC, "vflgan", "paper", 2.0, None, 1e-5, settings, tmp_path / "audit", quiet=True)
    assert json.loads((tmp_path / "audit" / "config.json").read_text())["n_public"] == 1000 + 50
    assert "not a guarantee" in run.file("report.md").read_text()
