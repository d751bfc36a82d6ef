"""Tabular metrics: association matrices (Pearson / correlation ratio / Cramér's V) and ML utility.

Association error compares real and synthetic association over column pairs held by *different*
parties: exactly what a vertical GAN can lose. Utility is train-on-synthetic, test-on-real.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from privgen.data.tabular import is_categorical


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def correlation_ratio(categories: np.ndarray, values: np.ndarray) -> float:
    """η: share of the numeric column's spread explained by the category (sqrt of between/total variance)."""
    values = np.asarray(values, float)
    total = ((values - values.mean()) ** 2).sum()
    if total == 0:
        return 0.0
    frame = pd.DataFrame({"c": np.asarray(categories).astype(str), "v": values})
    g = frame.groupby("c")["v"].agg(["mean", "count"])
    between = (g["count"] * (g["mean"] - values.mean()) ** 2).sum()
    return float(np.sqrt(between / total))


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V without bias correction: 1 for a one-to-one relation, 0 for independence."""
    table = pd.crosstab(np.asarray(a).astype(str), np.asarray(b).astype(str)).to_numpy()
    r, k = table.shape
    if min(r, k) < 2:
        return 0.0
    chi2 = chi2_contingency(table, correction=False)[0]
    return float(np.sqrt(chi2 / (table.sum() * (min(r, k) - 1))))


def association(df: pd.DataFrame, a: str, b: str, kinds: dict[str, bool]) -> float:
    """Signed Pearson for two numbers, η for number-category, Cramér's V for two categories."""
    ca, cb = kinds[a], kinds[b]
    if not ca and not cb:
        return pearson(df[a].to_numpy(), df[b].to_numpy())
    if ca and cb:
        return cramers_v(df[a].to_numpy(), df[b].to_numpy())
    cat, num = (a, b) if ca else (b, a)
    return correlation_ratio(df[cat].to_numpy(), df[num].to_numpy())


def cross_party_pairs(groups: list[list[str]]) -> list[tuple[str, str]]:
    return [(a, b) for i, ga in enumerate(groups) for gb in groups[i + 1:] for a in ga for b in gb]


def association_error(real: pd.DataFrame, synth: pd.DataFrame, groups: list[list[str]],
                      max_pairs: int | None = None, seed: int = 0) -> dict[str, float]:
    """Mean |assoc_real - assoc_synth| over column pairs from different parties (optionally a sample)."""
    pairs = cross_party_pairs(groups)
    if max_pairs is not None and len(pairs) > max_pairs:
        rng = np.random.default_rng(seed)
        pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), max_pairs, replace=False))]
    kinds = {c: is_categorical(real[c]) for g in groups for c in g}
    diffs = [abs(association(real, a, b, kinds) - association(synth, a, b, kinds)) for a, b in pairs]
    return {"association_error": float(np.mean(diffs)), "pairs": len(pairs)}


def pixel_association_error(real: np.ndarray, synth: np.ndarray, groups: list[np.ndarray]) -> dict[str, float]:
    """Pearson between pixels of different bands; pixels constant in the real data are left out."""
    live = real.std(axis=0) > 1e-6
    cols = [g[live[g]] for g in groups]
    keep = np.concatenate(cols)
    cr, cs = np.corrcoef(real[:, keep], rowvar=False), _safe_corr(synth[:, keep])
    pos = {c: i for i, c in enumerate(keep)}
    diffs = []
    for i, ga in enumerate(cols):
        ia = [pos[c] for c in ga]
        for gb in cols[i + 1:]:
            ib = [pos[c] for c in gb]
            diffs.append(np.abs(cr[np.ix_(ia, ib)] - cs[np.ix_(ia, ib)]).ravel())
    d = np.concatenate(diffs)
    return {"association_error": float(d.mean()), "pairs": int(d.size)}


def _safe_corr(x: np.ndarray) -> np.ndarray:
    """Correlation matrix where a constant column correlates 0 with everything (not NaN)."""
    x = x - x.mean(axis=0)
    sd = x.std(axis=0)
    z = np.divide(x, sd, out=np.zeros_like(x), where=sd > 1e-12)
    return (z.T @ z) / len(x)


def utility(train_synth: pd.DataFrame, train_real: pd.DataFrame, test_real: pd.DataFrame, target: str,
            seed: int = 0) -> dict[str, float | str]:
    """Train on synthetic vs train on real, both tested on real held-out rows (accuracy or R^2)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = [c for c in train_real.columns if c != target]
    cats = [c for c in features if is_categorical(train_real[c])]
    nums = [c for c in features if c not in cats]
    classify = is_categorical(train_real[target]) or train_real[target].nunique() <= 10

    def fit_score(train: pd.DataFrame) -> float:
        pre = ColumnTransformer([("num", StandardScaler(), nums),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), cats)])
        y = train[target].astype(str) if classify else train[target].astype(float)
        if classify and y.nunique() < 2:
            return float((test_real[target].astype(str) == y.iloc[0]).mean())
        est = LogisticRegression(max_iter=300) if classify else Ridge()
        model = make_pipeline(pre, est).fit(train[features], y)
        y_test = test_real[target].astype(str) if classify else test_real[target].astype(float)
        return float(model.score(test_real[features], y_test))

    synth, real = fit_score(train_synth), fit_score(train_real)
    if classify:  # the floor any classifier must beat: always answer the real training rows' most common label
        common = train_real[target].astype(str).mode().iloc[0]
        baseline = float((test_real[target].astype(str) == common).mean())
        rule = f"majority-class rate: always {common!r}"
    else:  # R^2 of always predicting the real training mean
        y = test_real[target].astype(float).to_numpy()
        ss = float(((y - y.mean()) ** 2).sum())
        baseline = 1.0 - float(((y - float(train_real[target].astype(float).mean())) ** 2).sum()) / ss if ss else 0.0
        rule = "always the real training mean"
    return {"utility": synth, "utility_real": real, "utility_ratio": synth / real if real else float("nan"),
            "utility_baseline": baseline, "utility_baseline_rule": rule,
            "utility_task": f"{'accuracy' if classify else 'R^2'} predicting {target}"}


def image_utility(x_synth: np.ndarray, y_synth: np.ndarray, x_train: np.ndarray, y_train: np.ndarray,
                  x_test: np.ndarray, y_test: np.ndarray) -> dict[str, float | str]:
    """Digit classification from pixels: synthetic images are labelled by the evaluation classifier."""
    from sklearn.linear_model import LogisticRegression

    def fit_score(x: np.ndarray, y: np.ndarray) -> float:
        if len(np.unique(y)) < 2:
            return float((y_test == y[0]).mean())
        clf = LogisticRegression(max_iter=200).fit(x.reshape(len(x), -1), y)
        return float(clf.score(x_test.reshape(len(x_test), -1), y_test))

    synth, real = fit_score(x_synth, y_synth), fit_score(x_train, y_train)
    labels, counts = np.unique(y_train, return_counts=True)
    common = labels[np.argmax(counts)]
    return {"utility": synth, "utility_real": real, "utility_ratio": synth / real if real else float("nan"),
            "utility_baseline": float((y_test == common).mean()),
            "utility_baseline_rule": f"majority-class rate: always {common.item() if hasattr(common, 'item') else common!r}",
            "utility_task": "accuracy of a pixel logistic regression on real test digits"}
