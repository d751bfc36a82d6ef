"""Tabular encoding: numeric columns standardised, categoricals one-hot (scikit-learn encoders), and back.

The fitted encoder is saved as JSON (means, scales, category lists), never pickled. `spans` tells a
generator which output slices are numeric and which are one categorical (a Gumbel-softmax each).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from privgen.errors import UserError


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str  # "numeric", "categorical" or "tanh" (image pixels)


@dataclass
class ColumnCodec:
    name: str
    kind: str  # "numeric" | "categorical"
    mean: float = 0.0
    scale: float = 1.0
    integer: bool = False
    categories: list[str] = field(default_factory=list)
    lo: float | None = None  # bounds decoded numbers are clipped to: a public schema's, or (without DP) the
    hi: float | None = None  # training rows' observed range; None: unbounded (a DP run without a schema)

    @property
    def width(self) -> int:
        return 1 if self.kind == "numeric" else len(self.categories)


def is_categorical(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


class TableEncoder:
    """Column codecs in a fixed order; encode a frame to float32 and decode generator output to a frame."""

    def __init__(self, columns: list[ColumnCodec]) -> None:
        self.columns = columns

    @classmethod
    def fit(cls, df: pd.DataFrame) -> "TableEncoder":
        codecs = []
        for name in df.columns:
            s = df[name]
            if is_categorical(s):
                enc = OneHotEncoder().fit(s.astype(str).to_numpy()[:, None])
                codecs.append(ColumnCodec(str(name), "categorical", categories=[str(c) for c in enc.categories_[0]]))
            else:
                sc = StandardScaler().fit(s.to_numpy(dtype=np.float64)[:, None])
                codecs.append(ColumnCodec(str(name), "numeric", float(sc.mean_[0]), float(sc.scale_[0]),
                                          integer=pd.api.types.is_integer_dtype(s)))
        return cls(codecs)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def width(self) -> int:
        return sum(c.width for c in self.columns)

    def spans(self) -> list[Span]:
        out, start = [], 0
        for c in self.columns:
            out.append(Span(start, start + c.width, c.kind))
            start += c.width
        return out

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        missing = [c.name for c in self.columns if c.name not in df.columns]
        if missing:
            raise UserError(f"table lacks the columns {missing} the model was trained on")
        parts = []
        for c in self.columns:
            s = df[c.name]
            if c.kind == "numeric":
                parts.append(((s.to_numpy(dtype=np.float64) - c.mean) / c.scale)[:, None])
                continue
            values = s.astype(str).to_numpy()
            unknown = sorted(set(values) - set(c.categories))
            if unknown:
                raise UserError(f"column {c.name!r} has categories unseen in training: {unknown[:5]}; "
                                f"known: {c.categories[:10]}")
            enc = OneHotEncoder(categories=[c.categories], sparse_output=False).fit(np.array(c.categories)[:, None])
            parts.append(enc.transform(values[:, None]))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def observe_bounds(self, df: pd.DataFrame) -> None:
        """Record each unbounded numeric column's observed [min, max] in `df` as its decoding bounds.

        The range is a statistic of the rows: only for runs without DP (a DP run bounds by a public schema)."""
        for c in self.columns:
            if c.kind == "numeric" and c.lo is None and c.hi is None:
                v = df[c.name].to_numpy(dtype=np.float64)
                c.lo, c.hi = float(v.min()), float(v.max())

    def decode(self, x: np.ndarray, clipped: dict[str, int] | None = None) -> pd.DataFrame:
        """Numeric spans are unscaled, clipped to the column's bounds (if it has any; `clipped` counts the
        values moved, per column) and rounded for integer columns; categorical spans take their argmax."""
        cols: dict[str, object] = {}
        for c, span in zip(self.columns, self.spans()):
            block = np.asarray(x[:, span.start:span.end], dtype=np.float64)
            if c.kind == "numeric":
                v = block[:, 0] * c.scale + c.mean
                if c.lo is not None or c.hi is not None:
                    lo = -np.inf if c.lo is None else c.lo
                    hi = np.inf if c.hi is None else c.hi
                    moved = int(((v < lo) | (v > hi)).sum())
                    v = np.clip(v, lo, hi)
                    if clipped is not None:
                        clipped[c.name] = clipped.get(c.name, 0) + moved
                cols[c.name] = np.round(v).astype(np.int64) if c.integer else v
            else:
                cols[c.name] = np.array(c.categories, dtype=object)[block.argmax(axis=1)]
        return pd.DataFrame(cols)

    def category_index(self, column: str, value: str) -> tuple[Span, int]:
        """Where a category sits in the encoding; unknown columns or categories are the user's error."""
        for c, span in zip(self.columns, self.spans()):
            if c.name == column:
                if c.kind != "categorical":
                    raise UserError(f"column {column!r} is numeric; --where needs a categorical column")
                if value not in c.categories:
                    raise UserError(f"unknown category {value!r} for column {column!r}; known: {', '.join(c.categories)}")
                return span, c.categories.index(value)
        raise UserError(f"no column {column!r} in this model; columns: {', '.join(self.names)}")

    def to_json(self) -> list[dict]:
        """Bounds are written only when set, so an unbounded encoder's JSON is as before they existed."""
        return [{k: v for k, v in asdict(c).items() if not (k in ("lo", "hi") and v is None)} for c in self.columns]

    @classmethod
    def from_json(cls, data: list[dict]) -> "TableEncoder":
        return cls([ColumnCodec(**d) for d in data])
