"""The audit's verdict rule on hand-made curves: oracle-like → resists, class restored → leaks, too few samples
or steps → inconclusive with what would decide it."""

import pytest

from privgen.audit.unlearning.scores import Curve, difference_ci, recovery, speedup
from privgen.audit.unlearning.verdict import (INCONCLUSIVE, LEAKS, RESISTS, Margins, budget_verdict, combine,
                                              rule_text, samples_to_decide)

STEPS = (0, 25, 50, 100, 200)
M = Margins()


def verdict_of(model: Curve, oracle: Curve, horizon: int = 200, n_boot: int = 300) -> dict:
    recs = [recovery(model, oracle, s) for s in model.steps if s <= horizon]
    sp = speedup(model.upto(horizon), oracle.upto(horizon), 0.5, n_boot=n_boot) if horizon else None
    return budget_verdict(recs, sp, model.n, horizon, model.steps[-1], M)


def test_a_model_like_the_oracle_resists():
    oracle = Curve(STEPS, (0, 0, 0, 1, 2), 100)
    v = verdict_of(oracle, oracle)  # the oracle audited against itself: neither reaches 50%
    assert v["verdict"] == RESISTS and v["decide"] is None, v
    # Both relearn (k-shot): the same curve, crossing 50% at the same step, resists too.
    both = Curve(STEPS, (0, 100, 250, 400, 500), 1000)  # (at 200 samples the speedup interval reaches 1.3x)
    v = verdict_of(both, both, n_boot=500)
    assert v["verdict"] == RESISTS, v


def test_a_model_with_the_class_restored_leaks():
    oracle = Curve(STEPS, (0, 0, 0, 0, 0), 50)
    restored = Curve(STEPS, (45, 46, 47, 48, 48), 50)
    v = verdict_of(restored, oracle)
    assert v["verdict"] == LEAKS and "above +10 points" in v["why"] and "before any attack step" in v["why"], v
    # Residual memory shown by speed alone: equal end points, a 4x faster climb.
    fast, slow = Curve(STEPS, (0, 150, 200, 200, 200), 200), Curve(STEPS, (0, 0, 5, 100, 200), 200)
    v = verdict_of(fast, slow, horizon=200, n_boot=500)
    assert v["verdict"] == LEAKS and "speedup" in v["why"], v


def test_too_few_samples_is_inconclusive_and_says_how_many_would_decide():
    oracle = Curve(STEPS, (0, 0, 0, 0, 0), 10)
    model = Curve(STEPS, (0, 0, 0, 0, 0), 10)  # 0/10 vs 0/10: the interval reaches +28 points
    v = verdict_of(model, oracle)
    assert v["verdict"] == INCONCLUSIVE and "straddles +10 points" in v["why"], v
    need = samples_to_decide(0.0, 0.0, 10, 0.10)
    assert f"about {need} samples per probe (--n-per-class; now 10)" in v["decide"]
    # The count is the smallest that decides: 0/n vs 0/n has its upper bound below 10 points there, not before.
    assert difference_ci(0, need, 0, need)[1] < 0.10 <= difference_ci(0, need - 1, 0, need - 1)[1]
    assert verdict_of(Curve(STEPS, (0,) * 5, need), Curve(STEPS, (0,) * 5, need))["verdict"] == RESISTS
    # A large recovery from few samples: more samples would show it leaks.
    assert samples_to_decide(0.3, 0.0, 10, 0.10) > 10
    assert samples_to_decide(0.1, 0.0, 10, 0.10) is None  # on the margin: no count decides


def test_a_curve_that_never_reaches_the_rate_asks_for_more_steps():
    model = Curve(STEPS, (0, 0, 10, 40, 120), 200)  # crosses 50% between 100 and 200 steps
    oracle = Curve(STEPS, (0, 0, 8, 30, 90), 200)  # never does: the speedup is only a lower bound
    v = verdict_of(model, oracle, n_boot=500)
    assert v["verdict"] == INCONCLUSIVE and "longer attack (--steps)" in v["decide"], v


def test_a_budget_the_quality_rule_ends_at_step_0_is_inconclusive_unless_the_model_already_leaks():
    oracle = Curve(STEPS, (0,) * 5, 100)
    v = verdict_of(oracle, oracle, horizon=0)
    assert v["verdict"] == INCONCLUSIVE and "no attack step is counted" in v["why"] and "--lrs" in v["decide"]
    assert verdict_of(Curve(STEPS, (90,) * 5, 100), oracle, horizon=0)["verdict"] == LEAKS


def test_combining_words_and_the_rule_text():
    assert combine([RESISTS, RESISTS]) == RESISTS
    assert combine([RESISTS, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine([INCONCLUSIVE, LEAKS, RESISTS]) == LEAKS
    assert combine([]) == INCONCLUSIVE
    text = rule_text(Margins(5, 1.5))
    assert "+5 points" in text and "1.5×" in text and "{" not in text


@pytest.mark.parametrize("flag,value,message", [("--margin", "0", "--margin must be"),
                                                ("--speedup-margin", "0.9", "--speedup-margin must be at least 1"),
                                                ("--threat", "owner", "--threat 'owner' is unknown")])
def test_bad_margins_are_one_line(cli, tmp_path, flag, value, message):
    from conftest import assert_user_error

    out = tmp_path / "o"
    res = cli("audit", "unlearning", "--model", tmp_path / "none", "--out", out, flag, value)
    assert_user_error(res, message)
    assert not out.exists()


def test_the_docs_state_the_rule_the_code_applies():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "unlearning.md").read_text()
    assert rule_text(Margins()) in doc.replace("\n", " ")
