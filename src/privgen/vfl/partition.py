"""Vertical partitioning: who holds which columns of the same rows, and how to decode them back.

Three sources: image bands (each party holds some pixel rows), one table split by column lists, or one
file per party joined on an ID column. Every check on the user's data happens here, before training.
A `Layout` is everything needed to turn generator outputs back into images or a joined table; it is
saved as JSON with the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from privgen.data.tabular import Span, TableEncoder
from privgen.errors import UserError


@dataclass
class ImageLayout:
    """Party k holds pixel rows bands[k] = (r0, r1) of C x H x W images."""

    shape: tuple[int, int, int]
    bands: list[tuple[int, int]]
    kind: str = "image"

    def dims(self) -> list[int]:
        c, _, w = self.shape
        return [c * (r1 - r0) * w for r0, r1 in self.bands]

    def spans(self) -> list[list[Span]]:
        return [[Span(0, d, "tanh")] for d in self.dims()]

    def split(self, x: np.ndarray) -> list[np.ndarray]:
        return [np.ascontiguousarray(x[:, :, r0:r1, :].reshape(len(x), -1)) for r0, r1 in self.bands]

    def join(self, parts: list[np.ndarray]) -> np.ndarray:
        c, _, w = self.shape
        return np.concatenate([p.reshape(len(p), c, r1 - r0, w) for p, (r0, r1) in zip(parts, self.bands)], axis=2)

    def party_columns(self) -> list[list[str]]:
        c, _, w = self.shape
        return [[f"c{ch}_r{r}_x{j}" for ch in range(c) for r in range(r0, r1) for j in range(w)] for r0, r1 in self.bands]

    def to_json(self) -> dict:
        return {"kind": "image", "shape": list(self.shape), "bands": [list(b) for b in self.bands]}

    @classmethod
    def from_json(cls, d: dict) -> "ImageLayout":
        return cls(tuple(d["shape"]), [tuple(b) for b in d["bands"]])  # type: ignore[arg-type]


@dataclass
class TableLayout:
    """Party k holds the columns of encoders[k]; the joined table lists them party by party."""

    encoders: list[TableEncoder]
    target: str | None = None
    kind: str = "table"

    def dims(self) -> list[int]:
        return [e.width for e in self.encoders]

    def spans(self) -> list[list[Span]]:
        return [e.spans() for e in self.encoders]

    def split(self, df: pd.DataFrame) -> list[np.ndarray]:
        return [e.encode(df) for e in self.encoders]

    def join(self, parts: list[np.ndarray], clipped: dict[str, int] | None = None) -> pd.DataFrame:
        """The decoded table; `clipped` (if given) counts numbers clipped to their column's bounds."""
        return pd.concat([e.decode(p, clipped) for e, p in zip(self.encoders, parts)], axis=1)

    def observe_bounds(self, df: pd.DataFrame) -> None:
        """Bound decoded numbers by the training rows' observed ranges (runs without DP only)."""
        for e in self.encoders:
            e.observe_bounds(df)

    def party_columns(self) -> list[list[str]]:
        return [e.names for e in self.encoders]

    def to_json(self) -> dict:
        return {"kind": "table", "target": self.target, "encoders": [e.to_json() for e in self.encoders]}

    @classmethod
    def from_json(cls, d: dict) -> "TableLayout":
        return cls([TableEncoder.from_json(e) for e in d["encoders"]], d.get("target"))


LAYOUTS = {"image": ImageLayout, "table": TableLayout}


def layout_from_json(d: dict) -> ImageLayout | TableLayout:
    return LAYOUTS[d["kind"]].from_json(d)


@dataclass
class VerticalData:
    """Aligned rows split across parties: encoded train parts, raw train/test for evaluation."""

    layout: ImageLayout | TableLayout
    train: list[np.ndarray]
    raw_train: np.ndarray | pd.DataFrame
    raw_test: np.ndarray | pd.DataFrame
    y_train: np.ndarray | None = None
    y_test: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.train[0])


def image_bands(height: int, parties: int) -> list[tuple[int, int]]:
    """M horizontal bands of (nearly) equal height: 28 rows, M = 2 gives rows 0-13 and 14-27."""
    if parties < 2:
        raise UserError(f"--parties must be at least 2, got {parties}")
    if parties > height:
        raise UserError(f"--parties {parties} is larger than the {height} image rows; use at most {height}")
    edges = np.linspace(0, height, parties + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def column_groups(columns: list[str], parties: int, explicit: list[list[str]] | None) -> list[list[str]]:
    """Explicit column lists, or the columns in order cut into M contiguous groups."""
    if explicit:
        seen: dict[str, int] = {}
        for k, group in enumerate(explicit):
            for c in group:
                if c not in columns:
                    raise UserError(f"column {c!r} (party {k + 1}) is not in the table; columns: {', '.join(columns)}")
                if c in seen:
                    raise UserError(f"column {c!r} is listed for party {seen[c] + 1} and party {k + 1}; "
                                    "each column belongs to one party")
                seen[c] = k
        if len(explicit) < 2:
            raise UserError("give --columns once per party (at least 2 parties)")
        return [list(g) for g in explicit]
    if parties < 2:
        raise UserError(f"--parties must be at least 2, got {parties}")
    if parties > len(columns):
        raise UserError(f"--parties {parties} is larger than the {len(columns)} columns of the table; "
                        f"use at most {len(columns)}")
    edges = np.linspace(0, len(columns), parties + 1).round().astype(int)
    return [columns[a:b] for a, b in zip(edges[:-1], edges[1:])]


def check_missing(df: pd.DataFrame, impute: bool) -> pd.DataFrame:
    """Refuse missing values naming the columns, or (asked) fill with the median / the most frequent value."""
    bad = [str(c) for c in df.columns if df[c].isna().any()]
    if not bad:
        return df
    if not impute:
        raise UserError(f"missing values in columns {', '.join(bad)}; clean them or pass --impute "
                        "(median for numbers, most frequent category otherwise)")
    df = df.copy()
    for c in bad:
        s = df[c]
        fill = s.median() if pd.api.types.is_numeric_dtype(s) else s.mode().iloc[0]
        df[c] = s.fillna(fill)
    return df


@dataclass(frozen=True)
class JoinStats:
    """How many of each party file's IDs found a partner in every other file (what the join kept)."""

    files: list[str]
    rows: list[int]
    matched: int

    def to_json(self) -> dict:
        return {"aligned_rows": self.matched,
                "party_rows": [{"file": f, "rows": r, "matched": self.matched} for f, r in zip(self.files, self.rows)]}

    def line(self) -> str:
        return "joined on ID: " + ", ".join(f"{f} {self.matched} of {r} rows matched" for f, r in zip(self.files, self.rows))


def id_columns_for(id_column: str | list[str] | None, n_files: int) -> list[str]:
    """One ID column name per party file: one name for all, or one per --party-file in order."""
    names = [id_column] if isinstance(id_column, str) else list(id_column or [])
    if not names:
        raise UserError("--party-file needs --id-column naming the column that links the parties' rows")
    if len(names) == 1:
        return names * n_files
    if len(names) != n_files:
        raise UserError(f"{len(names)} --id-column for {n_files} --party-file; give one --id-column for all files, "
                        "or one per --party-file in the same order")
    return names


def id_kind(s: pd.Series) -> str:
    """numbers or text: the two ID kinds a join can tell apart (mixed columns count as text)."""
    return "numbers" if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) else "text"


def check_id_kinds(names: list[str], ids: list[str], kinds: list[str]) -> None:
    """Refuse numbers in one file's IDs and text in another's: 7 and "007" need not be one ID. The same rule
    holds in-process and between Ray parties (which say only their ID column's kind, a schema fact)."""
    if len(set(kinds)) > 1:
        which = ", ".join(f"{n} ({i!r}): {k}" for n, i, k in zip(names, ids, kinds))
        raise UserError(f"the ID columns hold numbers in some files and text in others ({which}); write the IDs "
                        "the same way in every file (all numbers, or all text), so that equal IDs match")


def join_party_frames(frames: list[pd.DataFrame], names: list[str], id_column: str | list[str]
                      ) -> tuple[pd.DataFrame, list[list[str]]]:
    """Inner-join one frame per party on the ID column, refusing duplicates, shared columns and no overlap."""
    joined, groups, _ = join_party_frames_stats(frames, names, id_column)
    return joined, groups


def join_party_frames_stats(frames: list[pd.DataFrame], names: list[str], id_column: str | list[str]
                            ) -> tuple[pd.DataFrame, list[list[str]], JoinStats]:
    """`join_party_frames` plus how many rows of each file matched. Each file may name its ID column
    differently (`id_column` a list, one per file); the IDs must be the same kind (numbers or text) in every
    file, since 7 and "007" are not the same ID and privgen will not guess."""
    if len(frames) < 2:
        raise UserError("give --party-file once per party (at least 2)")
    ids = id_columns_for(id_column, len(frames))
    key = "\0privgen-id"
    owner: dict[str, str] = {}
    groups, renamed = [], []
    for df, name, idc in zip(frames, names, ids):
        if idc not in df.columns:
            raise UserError(f"{name} has no ID column {idc!r}; columns: {', '.join(map(str, df.columns))}")
        if df[idc].isna().any():
            raise UserError(f"{name} has {int(df[idc].isna().sum())} rows without an ID in {idc!r}; every row needs one")
        dup = df[idc][df[idc].duplicated()]
        if len(dup):
            raise UserError(f"{name} has {len(dup)} duplicate IDs in {idc!r} (e.g. {dup.iloc[0]!r}); IDs must be unique")
        cols = [str(c) for c in df.columns if c != idc]
        for c in cols:
            if c in owner:
                raise UserError(f"column {c!r} is present in {owner[c]} and in {name}; each column belongs to one party")
            owner[c] = name
        groups.append(cols)
        renamed.append(df.rename(columns={idc: key}))
    check_id_kinds(names, ids, [id_kind(f[key]) for f in renamed])
    joined = renamed[0]
    try:
        for df in renamed[1:]:
            joined = joined.merge(df, on=key, how="inner")
        joined = joined.sort_values(key, kind="stable")
    except (ValueError, TypeError):
        raise UserError(f"the ID columns ({', '.join(sorted(set(ids)))}) mix numbers and text within a file; write "
                        "every ID the same way (all numbers, or all text)") from None
    stats = JoinStats(list(names), [len(f) for f in frames], len(joined))
    if len(joined) < 10:
        sizes = ", ".join(f"{n}: {len(f)}" for n, f in zip(names, frames))
        raise UserError(f"only {len(joined)} IDs in {' / '.join(map(repr, dict.fromkeys(ids)))} match across the party files "
                        f"({sizes} rows); the files must describe the same individuals")
    joined = joined.reset_index(drop=True)
    return joined.drop(columns=[key]), groups, stats
