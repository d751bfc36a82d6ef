"""Set features of one model's output: what the shadow-model classifier sees (ASSD and ASIF).

Every extractor maps a whole table (synthetic rows, or a party's intermediate features on real rows)
to one fixed-length vector, so models trained with and without the target can be told apart by a
classifier over sets. The reference encoding (categories, column order) is fixed by the auditor so that
vectors of different models line up even when a model never saw some category.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privgen.vfl.partition import TableLayout


def correlation_features(matrix: np.ndarray) -> np.ndarray:
    """Upper triangle (diagonal excluded) of the column correlation matrix; constant columns give 0."""
    x = np.asarray(matrix, dtype=np.float64)
    std = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    corr = (z.T @ z) / max(len(x), 1)
    corr[:, std == 0] = 0.0
    corr[std == 0, :] = 0.0
    return corr[np.triu_indices_from(corr, k=1)]


def naive_table_features(df: pd.DataFrame, layout: TableLayout) -> np.ndarray:
    """Mean, median and variance per numeric column; most and least frequent category (as its index in
    the reference category list) and the number of distinct categories per categorical column."""
    out: list[float] = []
    for enc in layout.encoders:
        for col in enc.columns:
            values = df[col.name]
            if col.kind == "categorical":
                counts = values.astype(str).value_counts()
                index = {c: i for i, c in enumerate(col.categories)}
                out += [index.get(counts.index[0], -1), index.get(counts.index[-1], -1), len(counts)]
            else:
                v = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
                out += [float(np.mean(v)), float(np.median(v)), float(np.var(v))]
    return np.asarray(out, dtype=np.float64)


def naive_matrix_features(matrix: np.ndarray) -> np.ndarray:
    """Mean, median and variance of every column of a numeric matrix (ASIF's intermediate features)."""
    x = np.asarray(matrix, dtype=np.float64)
    return np.concatenate([x.mean(axis=0), np.median(x, axis=0), x.var(axis=0)])


def table_features(df: pd.DataFrame, layout: TableLayout, kinds: tuple[str, ...]) -> dict[str, np.ndarray]:
    """ASSD feature vectors of a synthetic table, one per kind ("corr", "naive")."""
    out = {}
    if "corr" in kinds:
        out["corr"] = correlation_features(np.concatenate(layout.split(df), axis=1))
    if "naive" in kinds:
        out["naive"] = naive_table_features(df, layout)
    return out


def matrix_features(matrix: np.ndarray, kinds: tuple[str, ...]) -> dict[str, np.ndarray]:
    """ASIF feature vectors of one party's intermediate features on the real rows."""
    out = {}
    if "corr" in kinds:
        out["corr"] = correlation_features(matrix)
    if "naive" in kinds:
        out["naive"] = naive_matrix_features(matrix)
    return out
