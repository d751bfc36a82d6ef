"""Public schemas: numeric bounds and category lists that do not come from the private rows.

The sound DP mode encodes tables with a schema instead of fitting the encoder on the data (a fitted mean,
scale or category list is a statistic of the private rows that no noise covers). Numeric columns map
[min, max] linearly onto [-1, 1]; categoricals one-hot over the schema's list. `template_from` writes a
starting point for the user to edit (it reads the data, so it must be edited into public knowledge, e.g.
documented ranges, before it is used for a DP run).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privgen.data.tabular import ColumnCodec, TableEncoder, is_categorical
from privgen.errors import UserError
from privgen.privacy.budget import warn

FORMAT = "privgen-schema-1"
BUILTIN = {"adult": "adult.json"}  # embedded tables that ship a public schema


def builtin_schema(data: str | None) -> str | None:
    return f"builtin:{data}" if data in BUILTIN else None


SCHEMA_FIX = ("pass --schema schema.json (a template: `privgen vfl schema --data ... --out schema.json`, "
              "then edit it)")


def schema_ref(data: str | None, path: str | None = None, fix: str = SCHEMA_FIX) -> str:
    """The public schema a run encodes with: the user's file, else the one privgen ships for `data`."""
    ref = str(Path(path).resolve()) if path is not None else builtin_schema(data)
    if ref is None:
        raise UserError("--dp sound needs a public schema for a table (numeric bounds, category lists) so that "
                        f"preprocessing reads no private row: {fix}")
    return ref


def load_schema(ref: str) -> dict[str, Any]:
    """A schema from a JSON file, or "builtin:NAME" for one shipped with privgen; validated."""
    if ref.startswith("builtin:"):
        text = resources.files("privgen.privacy").joinpath("schemas", BUILTIN[ref.split(":", 1)[1]]).read_text()
        where = ref
    else:
        path = Path(ref)
        if not path.is_file():
            raise UserError(f"--schema {path} does not exist; write one with `privgen vfl schema --data ... --out {path}`")
        text, where = path.read_text(), str(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"--schema {where} is not valid JSON ({e})") from None
    if isinstance(doc, dict) and (doc.get("template") or str(doc.get("source", "")).startswith("TEMPLATE")):
        raise UserError(f"--schema {where} is the unedited template `privgen vfl schema` wrote from the private rows "
                        "(its bounds and categories are the rows' own): replace them with public knowledge, then "
                        "delete its \"template\" key and its TEMPLATE \"source\" line")
    n = doc.get("n") if isinstance(doc, dict) else None
    if n is not None and not (isinstance(n, int) and not isinstance(n, bool) and n > 0):
        raise UserError(f"--schema {where}: \"n\" (the public row count) must be a positive integer, got {n!r}")
    cols = doc.get("columns") if isinstance(doc, dict) else None
    if not isinstance(cols, list) or not cols:
        raise UserError(f"--schema {where} needs a non-empty \"columns\" list")
    for c in cols:
        name = c.get("name")
        if c.get("kind") == "numeric":
            lo, hi = c.get("min"), c.get("max")
            if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and hi > lo):
                raise UserError(f"--schema {where}: numeric column {name!r} needs min < max, got {lo}, {hi}")
        elif c.get("kind") == "categorical":
            cats = c.get("categories")
            if not isinstance(cats, list) or len(cats) < 1 or len(set(map(str, cats))) != len(cats):
                raise UserError(f"--schema {where}: categorical column {name!r} needs a list of distinct categories")
        else:
            raise UserError(f"--schema {where}: column {name!r} has kind {c.get('kind')!r}; use numeric or categorical")
    return doc


def apply_schema(schema: dict[str, Any], df: pd.DataFrame, where: str, allow_extra: bool = False) -> pd.DataFrame:
    """Check the table against the schema (same columns, known categories); clip numbers to the bounds,
    with a warning naming how many values moved (never silently)."""
    by_name = {c["name"]: c for c in schema["columns"]}
    missing = [c for c in map(str, df.columns) if c not in by_name]
    extra = [] if allow_extra else [n for n in by_name if n not in map(str, df.columns)]
    if missing or extra:
        raise UserError(f"the schema {where} does not match the data: " +
                        "; ".join(p for p in [f"columns not in the schema: {', '.join(missing)}" if missing else "",
                                              f"schema columns not in the data: {', '.join(extra)}" if extra else ""] if p))
    df = df.copy()
    for name in df.columns:
        c = by_name[str(name)]
        if c["kind"] == "categorical":
            unknown = sorted(set(df[name].astype(str)) - set(map(str, c["categories"])))
            if unknown:
                raise UserError(f"column {name!r} has categories the schema {where} does not list: {unknown[:5]}; "
                                "add them to the schema")
        else:
            if is_categorical(df[name]):
                raise UserError(f"column {name!r} is numeric in the schema {where} but not in the data")
            v = df[name].to_numpy(dtype=np.float64)
            out = (v < c["min"]) | (v > c["max"])
            if out.any():
                warn(f"{int(out.sum())} values of column {name!r} lie outside the schema's [{c['min']}, {c['max']}]; "
                     "clipped to the bounds")
                df[name] = np.clip(v, c["min"], c["max"]).astype(df[name].dtype)
    return df


def encoder_from_schema(schema: dict[str, Any], columns: list[str]) -> TableEncoder:
    """A `TableEncoder` from the schema alone: numbers map [min, max] onto [-1, 1], categories in its order."""
    by_name = {c["name"]: c for c in schema["columns"]}
    codecs = []
    for name in columns:
        c = by_name[name]
        if c["kind"] == "numeric":
            lo, hi = float(c["min"]), float(c["max"])
            codecs.append(ColumnCodec(name, "numeric", (lo + hi) / 2, (hi - lo) / 2, integer=bool(c.get("integer", False)),
                                      lo=lo, hi=hi))
        else:
            codecs.append(ColumnCodec(name, "categorical", categories=[str(x) for x in c["categories"]]))
    return TableEncoder(codecs)


def template_from(df: pd.DataFrame) -> dict[str, Any]:
    """A schema template from a table: observed min/max and categories. Reading them reads private data:
    the user edits them into public bounds before a DP run uses the file."""
    cols = []
    for name in df.columns:
        s = df[name]
        if is_categorical(s):
            cols.append({"name": str(name), "kind": "categorical", "categories": sorted(map(str, s.dropna().unique()))})
        else:
            cols.append({"name": str(name), "kind": "numeric", "min": float(s.min()), "max": float(s.max()),
                         "integer": bool(pd.api.types.is_integer_dtype(s))})
    return {"format": FORMAT, "template": True,
            "source": "TEMPLATE written from the data by `privgen vfl schema`: these bounds and categories are the "
                      "private rows' own. Replace them with public knowledge (documented ranges, code lists), add "
                      "the public row count as \"n\", and delete \"template\" and this line before a DP run.",
            "columns": cols}
