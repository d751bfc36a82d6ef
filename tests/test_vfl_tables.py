"""Tabular encoding round trip, Gumbel-softmax spans, and metrics on hand-made tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from privgen.data.tabular import TableEncoder
from privgen.errors import UserError
from privgen.eval.tabular import (association_error, correlation_ratio, cramers_v, cross_party_pairs, pearson,
                                  pixel_association_error, utility)
from privgen.vfl.nets import SpanOutput


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"age": [20, 35, 50, 65, 35, 20], "colour": ["red", "blue", "red", "green", "blue", "red"],
                         "score": [0.5, 1.5, -2.0, 3.25, 0.0, 1.0]})


def test_categorical_decoding_round_trip(frame: pd.DataFrame) -> None:
    enc = TableEncoder.fit(frame)
    x = enc.encode(frame)
    assert x.shape == (6, 1 + 3 + 1)
    assert [s.kind for s in enc.spans()] == ["numeric", "categorical", "numeric"]
    back = TableEncoder.from_json(enc.to_json()).decode(x)
    assert list(back.columns) == list(frame.columns)
    assert back["colour"].tolist() == frame["colour"].tolist()
    assert back["age"].tolist() == frame["age"].tolist() and back["age"].dtype.kind == "i"
    np.testing.assert_allclose(back["score"], frame["score"], atol=1e-5)


def test_generator_output_decodes_to_known_categories(frame: pd.DataFrame) -> None:
    enc = TableEncoder.fit(frame)
    torch.manual_seed(0)
    out = SpanOutput(enc.spans(), tau=0.2)(torch.randn(50, enc.width)).numpy()
    cat = out[:, 1:4]
    assert set(np.unique(cat)) <= {0.0, 1.0} and np.all(cat.sum(axis=1) == 1)  # straight-through: exact one-hot
    assert set(enc.decode(out)["colour"]) <= {"red", "blue", "green"}


def test_unknown_category_is_a_user_error(frame: pd.DataFrame) -> None:
    enc = TableEncoder.fit(frame)
    with pytest.raises(UserError, match="unseen"):
        enc.encode(frame.assign(colour=["purple"] * 6))
    with pytest.raises(UserError, match="unknown category 'purple'"):
        enc.category_index("colour", "purple")


def test_association_measures_known_answers() -> None:
    x = np.arange(20, dtype=float)
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert pearson(x, -x) == pytest.approx(-1.0)
    assert pearson(x, np.ones(20)) == 0.0
    cats = np.array(["a", "b"] * 10)
    assert cramers_v(cats, cats) == pytest.approx(1.0)
    assert cramers_v(np.array(list("aabb") * 5), np.array(list("abab") * 5)) == pytest.approx(0.0)
    assert correlation_ratio(cats, np.where(cats == "a", 1.0, 5.0)) == pytest.approx(1.0)
    assert correlation_ratio(np.array(list("aabb") * 5), np.array([1.0, 2.0, 1.0, 2.0] * 5)) == pytest.approx(0.0)


def test_association_error_counts_only_cross_party_pairs() -> None:
    assert sorted(cross_party_pairs([["a", "b"], ["c"], ["d"]])) == [("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]
    real = pd.DataFrame({"x": [1.0, -1, 1, -1] * 5, "x2": [1.0, -1, 1, -1] * 5, "y": [1.0, -1, 1, -1] * 5})
    # synthetic: each column keeps its values, but y is exactly uncorrelated with x (pearson 0)
    synth = pd.DataFrame({"x": [1.0, -1, 1, -1] * 5, "x2": [1.0, -1, 1, -1] * 5, "y": [1.0, 1, -1, -1] * 5})
    res = association_error(real, synth, [["x", "x2"], ["y"]])
    assert res["pairs"] == 2 and res["association_error"] == pytest.approx(1.0)
    assert association_error(real, real, [["x", "x2"], ["y"]])["association_error"] == pytest.approx(0.0)
    # within-party association (x with x2) is not counted even when it is destroyed
    synth2 = real.assign(x2=[1.0, 1, -1, -1] * 5)
    assert association_error(real, synth2, [["x"], ["x2", "y"]])["association_error"] == pytest.approx(0.5)


def test_pixel_association_error_known_answer() -> None:
    a = np.array([1.0, -1, 1, -1] * 5)
    real = np.stack([a, a, np.zeros(20)], axis=1)  # third pixel is constant: left out
    synth = np.stack([a, np.array([1.0, 1, -1, -1] * 5), np.zeros(20)], axis=1)
    res = pixel_association_error(real, synth, [np.array([0]), np.array([1, 2])])
    assert res["pairs"] == 1 and res["association_error"] == pytest.approx(1.0)


def test_utility_train_on_real_is_perfect_on_a_separable_table() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=200)
    df = pd.DataFrame({"v": v, "noise": rng.normal(size=200), "label": np.where(v > 0, "pos", "neg")})
    res = utility(df.iloc[:100], df.iloc[:100], df.iloc[100:], "label")
    assert res["utility_real"] > 0.95 and res["utility"] == res["utility_real"]
    flipped = df.iloc[:100].assign(label=np.where(df["v"].iloc[:100] > 0, "neg", "pos"))
    assert utility(flipped, df.iloc[:100], df.iloc[100:], "label")["utility"] < 0.05
