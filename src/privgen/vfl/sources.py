"""Turn a data spec (embedded name, or party files + ID column) into `VerticalData`.

The spec is a plain dict saved in the run's config, so evaluation rebuilds exactly the same split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from privgen.data import REGISTRY, load_images, train_test_split
from privgen.data.reference import content_hash, resolve_data, stored_data, verify_content
from privgen.data.tables import load_table, read_table_file
from privgen.data.tabular import TableEncoder
from privgen import checks
from privgen.errors import UserError
from privgen.vfl.partition import (ImageLayout, TableLayout, VerticalData, check_missing, column_groups,
                                   id_columns_for, image_bands, join_party_frames_stats)


def data_spec(data: str | None = None, parties: int = 2, party_files: list[str] | None = None,
              id_column: str | list[str] | None = None, columns: list[list[str]] | None = None, impute: bool = False,
              split_seed: int = 0, test_fraction: float = 0.2, max_rows: int | None = None,
              image_size: int | None = None) -> dict[str, Any]:
    if party_files and data:
        raise UserError("give either --data or --party-file, not both")
    if not party_files and not data:
        raise UserError("give --data NAME (see `privgen data list`) or one --party-file per party with --id-column")
    if party_files:
        ids = id_columns_for(id_column, len(party_files))  # checked now: one name, or one per file
        id_column = ids[0] if len(set(ids)) == 1 else ids
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test fraction must be in (0, 1), got {test_fraction}")
    checks.optional_positive_int("--max-rows", max_rows)
    checks.image_size(image_size)
    ref = resolve_data(data) if data else None  # user data: its absolute path and content hash
    return {**(ref.config() if ref is not None else {"data": None}), "parties": parties,
            "party_files": [str(Path(p).resolve()) for p in party_files or []],
            "party_hashes": [content_hash(Path(p)) if Path(p).is_file() else None for p in party_files or []],
            "id_column": id_column, "columns": columns, "impute": impute, "split_seed": split_seed,
            "test_fraction": test_fraction, "max_rows": max_rows, "image_size": image_size}


def load_vertical(spec: dict[str, Any]) -> VerticalData:
    """Images by band, or tables by column group; validated, split into train/test, encoded."""
    name = spec.get("data")
    if name is not None and (REGISTRY.get(name) is None or REGISTRY[name].kind == "image") and not _is_table_path(name):
        return _images(spec)
    return _table(spec)


def is_table_spec(spec: dict[str, Any]) -> bool:
    """Whether the spec describes a table (party files, a table file, an embedded table), not images."""
    name = spec.get("data")
    return bool(spec.get("party_files")) or not (name is not None and (REGISTRY.get(name) is None or
                                                                       REGISTRY[name].kind == "image")
                                                 and not _is_table_path(name))


def is_embedded(spec: dict[str, Any]) -> bool:
    """Whether the rows come from a dataset shipped with privgen (public; its split sizes are public too)."""
    name = spec.get("data")
    return not spec.get("party_files") and name is not None and name in REGISTRY and not _is_table_path(name)


def schema_row_count(spec: dict[str, Any]) -> int | None:
    """The public row count a schema states ("n"), if the run encodes with one."""
    if not spec.get("schema"):
        return None
    from privgen.privacy.schema import load_schema

    return load_schema(spec["schema"]).get("n")


def _is_table_path(name: str) -> bool:
    return Path(name).suffix.lower() in (".csv", ".parquet", ".pq")


def _images(spec: dict[str, Any]) -> VerticalData:
    ds = load_images(stored_data(spec, "the run").source, spec.get("image_size"))
    split = train_test_split(ds, spec["test_fraction"], spec["split_seed"])
    train, test = split.train, split.test
    if spec.get("max_rows"):
        train = train.subset(np.arange(min(len(train), spec["max_rows"])))
    layout = ImageLayout(tuple(ds.shape), image_bands(ds.shape[1], spec["parties"]))  # type: ignore[arg-type]
    return VerticalData(layout, layout.split(train.x), train.x, test.x, train.y, test.y,
                        {"source": ds.name, "n_train": len(train), "n_test": len(test)})


def _table(spec: dict[str, Any]) -> VerticalData:
    join = None
    if spec.get("party_files"):
        paths = [Path(p) for p in spec["party_files"]]
        for p, expected in zip(paths, spec.get("party_hashes") or [None] * len(paths)):
            if not p.is_file():
                raise UserError(f"--party-file {p} does not exist")
            if expected:
                verify_content(p, expected, "the run")
        frames = [read_table_file(p) for p in paths]
        df, groups, stats = join_party_frames_stats(frames, [p.name for p in paths], spec["id_column"])
        join = stats.to_json()
        target = None
    else:
        table = load_table(stored_data(spec, "the run").source)
        df, target = table.frame, table.target
        groups = column_groups([str(c) for c in df.columns], spec["parties"], spec.get("columns"))
        df = df[[c for g in groups for c in g]]
    if len(groups) < 2:
        raise UserError("vertical FL needs at least 2 parties")
    empty = [k + 1 for k, g in enumerate(groups) if not g]
    if empty:
        raise UserError(f"parties {empty} hold no columns besides the ID")
    df = check_missing(df, spec.get("impute", False))
    schema = None
    if spec.get("schema"):  # the sound DP mode: data-independent encoding (privgen.privacy.schema)
        from privgen.privacy.schema import apply_schema, load_schema

        schema = load_schema(spec["schema"])
        df = apply_schema(schema, df, spec["schema"], allow_extra=spec["schema"].startswith("builtin:"))
    if target is None:
        target = groups[-1][-1]
    rng = np.random.default_rng(spec["split_seed"])
    order = rng.permutation(len(df))
    n_test = max(1, int(round(len(df) * spec["test_fraction"])))
    test, train = df.iloc[order[:n_test]], df.iloc[order[n_test:]]
    if spec.get("max_rows"):
        train = train.iloc[:spec["max_rows"]]
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    if schema is not None:
        from privgen.privacy.schema import encoder_from_schema

        layout = TableLayout([encoder_from_schema(schema, g) for g in groups], target)
    else:
        layout = TableLayout([TableEncoder.fit(train[g]) for g in groups], target)
    _check_test_categories(layout, train, test)
    parts = layout.split(train)
    for k, (part, enc) in enumerate(zip(parts, layout.encoders)):
        if not np.isfinite(part).all():
            col = next(c.name for c, sp in zip(enc.columns, enc.spans()) if not np.isfinite(part[:, sp.start:sp.end]).all())
            raise UserError(f"column {col!r} (party {k + 1}) has values too large to standardise; rescale it first")
    info = {"source": spec.get("data") or "party files", "n_train": len(train), "n_test": len(test)}
    if join is not None:
        info["join"] = join
    return VerticalData(layout, parts, train, test, info=info)


def _check_test_categories(layout: TableLayout, train: pd.DataFrame, test: pd.DataFrame) -> None:
    """Rare categories seen only in the test rows would break encoding later; map them to the train mode."""
    for enc in layout.encoders:
        for c in enc.columns:
            if c.kind == "categorical":
                known = set(c.categories)
                mask = ~test[c.name].astype(str).isin(known)
                if mask.any():
                    test.loc[mask, c.name] = train[c.name].mode().iloc[0]
