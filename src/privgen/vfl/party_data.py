"""What one party loads in a deployment: its own file (or its own band / column group of an embedded
dataset), checked, aligned, split and encoded by itself. Nothing here sees another party's rows.

The split and the encoders are those of `privgen.vfl.sources` (same seed, same permutation, encoder fitted
on the party's own training columns), so a party computes what the in-process run computes for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privgen.data.tables import read_table_file
from privgen.data.tabular import Span, TableEncoder
from privgen.errors import UserError
from privgen.vfl.partition import check_missing


@dataclass
class OwnData:
    """One party's encoded training rows and how to decode them (its piece of the layout)."""

    x: np.ndarray
    spans: list[Span]
    columns: list[str]
    piece: dict[str, Any]


def embedded_part(spec: dict[str, Any], k: int) -> OwnData:
    """Party k's band / column group of an embedded dataset (the dataset ships whole with the package;
    each party keeps its own part and fits its own encoder on it)."""
    from privgen.vfl.sources import load_vertical

    data = load_vertical(spec)
    layout = data.layout
    if layout.kind == "table":  # a Ray run has no DP (refused): bounds are the observed range, as in-process
        layout.observe_bounds(data.raw_train)
    if k >= len(data.train):
        raise UserError(f"party {k + 1} of a {len(data.train)}-party split does not exist")
    piece = ({"kind": "table", "encoder": layout.encoders[k].to_json()} if layout.kind == "table"
             else {"kind": "image", "shape": list(layout.shape), "band": list(layout.bands[k])})
    return OwnData(np.asarray(data.train[k], dtype=np.float32), layout.spans()[k], layout.party_columns()[k], piece)


def read_own_file(path: Path, id_column: str) -> pd.DataFrame:
    """The party's file with its ID column present and unique (checked before any message is sent)."""
    if not path.is_file():
        raise UserError(f"--party-file {path} does not exist on this party's machine")
    df = read_table_file(path)
    if id_column not in df.columns:
        raise UserError(f"{path.name} has no ID column {id_column!r}; columns: {', '.join(map(str, df.columns))}")
    if df[id_column].isna().any():
        raise UserError(f"{path.name} has {int(df[id_column].isna().sum())} rows without an ID in {id_column!r}; "
                        "every row needs one")
    dup = df[id_column][df[id_column].duplicated()]
    if len(dup):
        raise UserError(f"{path.name} has {len(dup)} duplicate IDs in {id_column!r}; IDs must be unique")
    if len(df.columns) < 2:
        raise UserError(f"{path.name} holds no columns besides the ID {id_column!r}")
    return df


def train_rows(n: int, spec: dict[str, Any]) -> np.ndarray:
    """Positions of the training rows among n aligned rows: the permutation `sources._table` uses."""
    order = np.random.default_rng(spec["split_seed"]).permutation(n)
    n_test = max(1, int(round(n * spec["test_fraction"])))
    train = order[n_test:]
    return train[:spec["max_rows"]] if spec.get("max_rows") else train


def file_part(aligned: pd.DataFrame, spec: dict[str, Any], source: str) -> OwnData:
    """A party's aligned rows (ID column dropped) -> its training part, encoded by its own encoder."""
    df = check_missing(aligned.reset_index(drop=True), spec.get("impute", False))
    train = df.iloc[train_rows(len(df), spec)].reset_index(drop=True)
    enc = TableEncoder.fit(train)
    enc.observe_bounds(train)  # a Ray run has no DP (refused): its own columns' observed range, as in-process
    x = enc.encode(train)
    if not np.isfinite(x).all():
        raise UserError(f"{source}: a column has values too large to standardise; rescale it first")
    return OwnData(x.astype(np.float32), enc.spans(), enc.names, {"kind": "table", "encoder": enc.to_json()})
