"""Publication: every party runs its generator on the same fresh latents; the columns are joined and
decoded to the original names and categories (tables) or stitched back into images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from privgen.errors import UserError
from privgen.report import save_image_grid
from privgen.runs import atomic_write_bytes, atomic_write_npz, atomic_write_text
from privgen.vfl.models import VflModel
from privgen.vfl.partition import ImageLayout, TableLayout

TABLE_SUFFIXES = (".csv", ".parquet")


def parse_where(where: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for w in where or []:
        if "=" not in w:
            raise UserError(f"--where {w!r} must look like COLUMN=CATEGORY")
        col, val = w.split("=", 1)
        out.append((col.strip(), val.strip()))
    return out


def sample_table(model: VflModel, layout: TableLayout, n: int, seed: int,
                 where: list[tuple[str, str]] | None = None, max_rounds: int = 50) -> pd.DataFrame:
    """n decoded rows; with `where`, only rows whose categorical column takes the given category.

    Numbers outside their column's bounds (the schema's, or a non-DP run's observed range) are clipped;
    `df.attrs["clipped"]` counts them per column, so the caller can say so."""
    checks = []
    for col, val in where or []:
        found = [(k, enc.category_index(col, val)) for k, enc in enumerate(layout.encoders) if col in enc.names]
        if not found:
            raise UserError(f"no column {col!r} in this model; columns: {', '.join(c for e in layout.encoders for c in e.names)}")
        checks.append(found[0])
    kept, have = [], 0
    clipped: dict[str, int] = {}
    for r in range(max_rounds if checks else 1):
        parts = model.sample(n, seed + r)
        mask = np.ones(n, dtype=bool)
        for k, (span, idx) in checks:
            mask &= parts[k][:, span.start:span.end].argmax(axis=1) == idx
        rows = np.flatnonzero(mask)[:n - have]  # only the rows kept are decoded (and counted if clipped)
        kept.append(layout.join([p[rows] for p in parts], clipped))
        have += len(rows)
        if have >= n:
            break
    df = pd.concat(kept, ignore_index=True)
    df.attrs["clipped"] = clipped
    if len(df) < n:
        raise UserError(f"the model produced only {len(df)} rows matching --where in {max_rounds} rounds; "
                        "the condition is too rare in its output")
    return df


def write_table(df: pd.DataFrame, out: Path) -> None:
    if out.suffix.lower() == ".csv":
        atomic_write_text(out, df.to_csv(index=False))
    else:
        import io

        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        atomic_write_bytes(out, buf.getvalue())


def write_images(x: np.ndarray, out: Path) -> Path:
    """An .npz with x (N, C, H, W in [-1, 1]) and a grid PNG next to it."""
    atomic_write_npz(out, x=x.astype(np.float32))
    n = min(len(x), 100)
    rows = [x[i:i + 10] for i in range(0, n, 10)]
    return save_image_grid(rows, out.with_suffix(".png"), title=f"{len(x)} synthetic images (first {n})")


def check_out(layout: ImageLayout | TableLayout, out: Path) -> None:
    """Refuse a wrong output type before anything is generated or written."""
    suffix = out.suffix.lower()
    if isinstance(layout, ImageLayout) and suffix != ".npz":
        raise UserError(f"--out {out}: an image model writes an .npz (plus a grid .png); use e.g. samples.npz")
    if isinstance(layout, TableLayout) and suffix not in TABLE_SUFFIXES:
        raise UserError(f"--out {out}: a table model writes .csv or .parquet")
    if out.exists() and out.is_dir():
        raise UserError(f"--out {out} is a directory; give a file name")
