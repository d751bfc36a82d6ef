"""Property tests: whatever bytes or arrays a user hands the loaders (.npz, IDX, CSV, party files), the only
exception that may come out is privgen's own UserError (one line at the CLI), never a traceback."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from privgen.data.files import load_idx, load_npz, read_idx
from privgen.data.tables import read_table_file
from privgen.errors import UserError
from privgen.vfl.sources import data_spec, load_vertical

SETTINGS = settings(max_examples=int(__import__("os").environ.get("PRIVGEN_HYPOTHESIS_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_user_errors(fn, *args) -> None:
    try:
        fn(*args)
    except UserError:
        pass


def _tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="privgen-prop-"))


@SETTINGS
@given(st.binary(max_size=600))
def test_npz_arbitrary_bytes(data: bytes) -> None:
    p = _tmp() / "x.npz"
    p.write_bytes(data)
    only_user_errors(load_npz, p)


@SETTINGS
@given(st.binary(max_size=400), st.integers(0, 400))
def test_npz_valid_archive_cut_or_corrupted(noise: bytes, cut: int) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, x=np.arange(64, dtype=np.uint8).reshape(1, 8, 8), y=np.array([1]))
    data = buf.getvalue()
    data = data[:cut] + noise + data[cut + len(noise):]
    p = _tmp() / "x.npz"
    p.write_bytes(data)
    only_user_errors(load_npz, p)


ARRAYS = hnp.arrays(
    dtype=st.one_of(hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(), hnp.floating_dtypes(), hnp.boolean_dtypes(),
                    hnp.complex_number_dtypes(), hnp.unicode_string_dtypes(max_len=3), hnp.datetime64_dtypes()),
    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5),
)


@SETTINGS
@given(ARRAYS, ARRAYS)
def test_npz_arbitrary_arrays(x: np.ndarray, y: np.ndarray) -> None:
    p = _tmp() / "x.npz"
    np.savez(p, x=x, y=y)
    only_user_errors(load_npz, p)


@SETTINGS
@given(st.binary(max_size=300), st.booleans())
def test_idx_arbitrary_bytes(data: bytes, idx_magic: bool) -> None:
    if idx_magic:
        data = b"\x00\x00" + data
    folder = _tmp()
    img, lab = folder / "t-images-idx3-ubyte", folder / "t-labels-idx1-ubyte"
    img.write_bytes(data)
    lab.write_bytes(data[::-1])
    only_user_errors(read_idx, img)
    only_user_errors(load_idx, img)


@SETTINGS
@given(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]), st.lists(st.integers(0, 6), max_size=4),
       st.binary(max_size=300))
def test_idx_plausible_headers(code: int, dims: list[int], body: bytes) -> None:
    folder = _tmp()
    header = bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    (folder / "t-images-idx3-ubyte").write_bytes(header + body)
    (folder / "t-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + len(body).to_bytes(4, "big") + body)
    only_user_errors(load_idx, folder / "t-images-idx3-ubyte")


@SETTINGS
@given(st.binary(max_size=500))
def test_csv_arbitrary_bytes(data: bytes) -> None:
    p = _tmp() / "t.csv"
    p.write_bytes(data)
    only_user_errors(read_table_file, p)


CELLS = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
                  st.text(max_size=4), st.none(), st.booleans())


@SETTINGS
@given(st.lists(st.tuples(CELLS, CELLS), min_size=0, max_size=30), st.lists(st.tuples(CELLS, CELLS), max_size=30),
       st.booleans())
def test_party_files_arbitrary_values(rows_a, rows_b, impute: bool) -> None:
    folder = _tmp()
    a = pd.DataFrame({"id": range(len(rows_a)), "u": [r[0] for r in rows_a], "v": [r[1] for r in rows_a]})
    b = pd.DataFrame({"id": range(len(rows_b)), "w": [r[0] for r in rows_b], "z": [r[1] for r in rows_b]})
    a.to_csv(folder / "a.csv", index=False)
    b.to_csv(folder / "b.csv", index=False)
    spec = data_spec(party_files=[str(folder / "a.csv"), str(folder / "b.csv")], id_column="id", impute=impute)
    only_user_errors(load_vertical, spec)


@SETTINGS
@given(st.binary(max_size=300))
def test_party_files_arbitrary_bytes(data: bytes) -> None:
    folder = _tmp()
    (folder / "a.csv").write_bytes(b"id,u\n" + data)
    (folder / "b.csv").write_bytes(data + b"\n")
    spec = data_spec(party_files=[str(folder / "a.csv"), str(folder / "b.csv")], id_column="id")
    only_user_errors(load_vertical, spec)


def test_zip_without_arrays_is_an_input_error() -> None:
    p = _tmp() / "x.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("x.npy", b"garbage")
        z.writestr("y.npy", b"garbage")
    only_user_errors(load_npz, p)


def test_npz_entry_flagged_encrypted_is_a_user_error() -> None:
    """zipfile raises RuntimeError (not BadZipFile) for an entry whose flags say encrypted."""
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((1, 8, 8), np.uint8), y=np.array([1]))
    data = bytearray(buf.getvalue())
    at = data.find(b"PK\x01\x02")
    while at != -1:  # central directory entries: general-purpose flags at offset 8, bit 0 = encrypted
        data[at + 8] |= 1
        at = data.find(b"PK\x01\x02", at + 4)
    p = _tmp() / "x.npz"
    p.write_bytes(bytes(data))
    with pytest.raises(UserError, match="not a readable .npz"):
        load_npz(p)
