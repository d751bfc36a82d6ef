"""User image data: a .npz with x and y, MNIST IDX files, or a folder with one sub-folder per class."""

from __future__ import annotations

import gzip
import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from privgen.data.images import ImageDataset, to_unit_range
from privgen.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _pixels_to_nchw(x: np.ndarray, source: Path) -> np.ndarray:
    """Accept (N,H,W), (N,H,W,C) or (N,C,H,W) pixel arrays; scale by their range (uint8, [0,1] or [-1,1])."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise UserError(f"{source}: pixels must be numbers (uint8 or float), got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    elif x.ndim != 4:
        raise UserError(f"{source}: x must have shape (N,H,W), (N,H,W,C) or (N,C,H,W), got {x.shape}")
    if len(x) == 0:
        raise UserError(f"{source} holds no images (x has shape {x.shape}); give at least one image per class")
    if x.size == 0:
        raise UserError(f"{source}: images of size {x.shape[-2]}x{x.shape[-1]} hold no pixels")
    if x.shape[-1] != x.shape[-2]:
        raise UserError(f"{source}: images must be square, got {x.shape[-2]}x{x.shape[-1]}; crop or pad them first")
    if np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise UserError(f"{source}: integer pixels must lie in 0..255, got {x.min()}..{x.max()}")
        return to_unit_range(x, 255.0)
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise UserError(f"{source}: pixels hold NaN or inf; every pixel must be a finite number")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 and lo >= -1.0 and hi <= 1.0:
        return x
    if lo >= 0 and hi <= 1.0:
        return x * 2 - 1
    if lo >= 0 and hi <= 255:
        return to_unit_range(x, 255.0)
    raise UserError(f"{source}: pixel values span [{lo:g}, {hi:g}]; expected uint8 0..255, [0, 1] or [-1, 1]")


def _labels(y: np.ndarray, n: int, source: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map arbitrary labels to 0..K-1, keeping the original values as class names."""
    y = np.asarray(y).reshape(-1)
    if y.dtype.kind not in "biufUS":
        raise UserError(f"{source}: labels must be integers or text, got dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise UserError(f"{source}: labels hold NaN or inf; give every image a class label")
    if len(y) != n:
        raise UserError(f"{source}: {n} images but {len(y)} labels; x and y must have the same length")
    values = np.unique(y)
    index = {v: i for i, v in enumerate(values.tolist())}
    return np.array([index[v] for v in y.tolist()], dtype=np.int64), tuple(str(v) for v in values.tolist())


def load_npz(path: Path) -> ImageDataset:
    """x and y from a .npz; allow_pickle=False, so a crafted file cannot execute code. A truncated or
    corrupted archive (zip, zlib or array header errors) is the user's input error, not a crash."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise UserError(f"{path} holds a single array, not an .npz archive; save images as x and labels as y: "
                            "np.savez(path, x=..., y=...)")
        with loaded as f:
            missing = [k for k in ("x", "y") if k not in f.files]
            if missing:
                raise UserError(f"{path} has no array {' or '.join(missing)} (found {', '.join(f.files) or 'none'}); "
                                "save images as x and labels as y: np.savez(path, x=..., y=...)")
            x, y = f["x"], f["y"]
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            struct.error, SyntaxError, MemoryError, RuntimeError) as e:  # zipfile: RuntimeError for an entry flagged encrypted
        raise UserError(f"{path} is not a readable .npz file ({type(e).__name__}: {e}); it may be truncated") from None
    xs = _pixels_to_nchw(x, path)
    labels, names = _labels(y, len(xs), path)
    return ImageDataset(path.stem, xs, labels, names, {"source": str(path)})


def _open_maybe_gz(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"{path} is not a readable gzip file ({e}); it may be truncated") from None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format): magic 0x0000 + dtype code + ndim, big-endian dims, raw data."""
    raw = _open_maybe_gz(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise UserError(f"{path} is not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    code, ndim = raw[2], raw[3]
    if code not in dtypes:
        raise UserError(f"{path}: unknown IDX data type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path}: the IDX header announces {ndim} dimensions but the file ends after "
                        f"{len(raw)} bytes; the file is truncated")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    itemsize = np.dtype(dtypes[code]).itemsize
    expected = math.prod(dims)
    if (len(raw) - header) != expected * itemsize:
        raise UserError(f"{path}: header says {dims} ({expected} values) but the file holds "
                        f"{(len(raw) - header) / itemsize:g}; the file is truncated or not IDX")
    return np.frombuffer(raw, dtype=dtypes[code], offset=header).reshape(dims)


def _idx_pair(path: Path) -> tuple[Path, Path]:
    """Find the images file and its labels file from either one, or from a folder holding both."""
    if path.is_dir():
        imgs = sorted(p for p in path.iterdir() if "idx3" in p.name)
        labs = sorted(p for p in path.iterdir() if "idx1" in p.name)
        if len(imgs) != 1 or len(labs) != 1:
            raise UserError(f"{path}: expected exactly one *idx3* images file and one *idx1* labels file, "
                            f"found {len(imgs)} and {len(labs)}")
        return imgs[0], labs[0]
    if "idx3" in path.name:
        partner = path.with_name(path.name.replace("images", "labels").replace("idx3", "idx1"))
        if not partner.exists():
            raise UserError(f"{path}: no labels file next to it (looked for {partner.name})")
        return path, partner
    raise UserError(f"{path}: an IDX image file must have 'idx3' in its name (e.g. t10k-images-idx3-ubyte.gz)")


def load_idx(path: Path) -> ImageDataset:
    img_path, lab_path = _idx_pair(path)
    x = read_idx(img_path)
    y = read_idx(lab_path)
    if x.ndim != 3:
        raise UserError(f"{img_path}: expected a 3-d IDX array (N, H, W), got {x.ndim}-d")
    xs = _pixels_to_nchw(x, img_path)
    labels, names = _labels(y, len(xs), lab_path)
    name = img_path.name.split("-images")[0].split(".")[0]
    return ImageDataset(name, xs, labels, names, {"source": str(img_path)})


def read_images(files: list[Path], source: Path) -> np.ndarray:
    """Decode image files of one size into (N, C, H, W) in [-1, 1]: grey when every file is grey, else RGB."""
    loaded: list[Image.Image] = []
    modes: set[str] = set()
    for f in files:
        try:
            im = Image.open(f)
            im.load()
        except (UnidentifiedImageError, OSError) as e:
            raise UserError(f"{f}: not a readable image ({e})") from None
        if loaded and im.size != loaded[0].size:
            raise UserError(f"images of mixed sizes: {files[0]} is {loaded[0].size[0]}x{loaded[0].size[1]} but {f} is "
                            f"{im.size[0]}x{im.size[1]}; resize them to one size first")
        modes.add(im.mode)
        loaded.append(im)
    grey = modes <= {"L", "1", "I", "I;16", "F"}
    arrays = [np.asarray(im.convert("L" if grey else "RGB"), dtype=np.uint8) for im in loaded]
    stacked = np.stack(arrays)
    return _pixels_to_nchw(stacked if grey else stacked.transpose(0, 3, 1, 2), source)


def load_folder(path: Path) -> ImageDataset:
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UserError(f"{path}: no class sub-folders; put each class's images in its own sub-folder")
    files: list[Path] = []
    labels: list[int] = []
    for label, cdir in enumerate(classes):
        found = sorted(p for p in cdir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise UserError(f"{cdir}: class folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        files += found
        labels += [label] * len(found)
    return ImageDataset(path.name, read_images(files, path), np.array(labels, dtype=np.int64),
                        tuple(c.name for c in classes), {"source": str(path)})


def load_image_file(path: Path) -> ImageDataset:
    """Dispatch on what the path is; each loader validates its own format."""
    if not path.exists():
        raise UserError(f"{path} does not exist; pass an embedded dataset name (see `privgen data list`) or a file")
    if path.suffix == ".npz":
        return load_npz(path)
    if "idx" in path.name or (path.is_dir() and any("idx3" in p.name for p in path.iterdir())):
        return load_idx(path)
    if path.is_dir():
        from privgen.data.attribute_files import attribute_csv, load_attribute_folder

        table = attribute_csv(path)
        return load_attribute_folder(path, table) if table is not None else load_folder(path)
    raise UserError(f"{path}: unsupported image data; use a .npz (x, y), MNIST IDX files, or a folder of class sub-folders")
