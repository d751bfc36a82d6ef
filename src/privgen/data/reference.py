"""What a run records about its data, so a later command reads the very same data from any directory.

`--data` is either an embedded name (kept as typed: it always means the same data) or a user path. A user path
is recorded resolved (absolute) with a content hash: sha256 over the bytes of every file the loaders read, so a
later command run elsewhere reads the same file, and refuses when the data there changed since the run was made
(an edited, renamed or added image). Old configs (a path as typed, no hash) keep loading as before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privgen.data.embedded import REGISTRY
from privgen.errors import UserError

HASH_KEY = "data_hash"
# The files a folder loader can read: images (class folders), an attribute table (CSV), IDX files.
_READ_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".csv"}


@dataclass(frozen=True)
class DataRef:
    """An embedded name (hash None) or an absolute path with the sha256 of its content."""

    source: str
    hash: str | None = None

    @property
    def is_user_data(self) -> bool:
        return self.hash is not None

    def config(self) -> dict[str, Any]:
        """The config.json entries: `data`, and `data_hash` for user data."""
        return {"data": self.source, **({HASH_KEY: self.hash} if self.hash else {})}

    def key(self) -> dict[str, Any]:
        """What a cache key adds for the data: the hash of user data (embedded names add nothing, so their
        cache entries stay valid)."""
        return {HASH_KEY: self.hash} if self.hash else {}

    def tag(self) -> str:
        """A short name for cache folders: the embedded name, or the path's last part plus its hash."""
        return f"{Path(self.source).name}-{self.hash[:12]}" if self.hash else self.source


def _files(path: Path) -> list[Path]:
    """The files a loader reads from `path`: the file (with an IDX partner), or a folder's data files at its top
    level and one level down (class folders); hidden entries are skipped, as the folder loader skips them."""
    if path.is_file():
        if "idx3" in path.name:
            partner = path.with_name(path.name.replace("images", "labels").replace("idx3", "idx1"))
            return [path, partner] if partner.is_file() else [path]
        return [path]
    out: list[Path] = []
    for entry in sorted(path.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            out += [f for f in sorted(entry.iterdir()) if f.is_file() and _read(f)]
        elif entry.is_file() and _read(entry):
            out.append(entry)
    return out


def _read(f: Path) -> bool:
    return f.suffix.lower() in _READ_SUFFIXES or "idx" in f.name


_MEMO: dict[tuple, str] = {}  # one process re-reads the same data (split, classifier, attack): hash its bytes once


def content_hash(path: Path) -> str:
    """sha256 over the relative path and bytes of every file the loaders read: a renamed, edited, added or
    removed file changes it. Within a process the bytes are hashed once per file listing, size and mtime."""
    files = _files(path)
    signature = (str(path.resolve()), *((str(f), st.st_size, st.st_mtime_ns) for f in files for st in [f.stat()]))
    if signature not in _MEMO:
        _MEMO[signature] = _hash_files(path, files)
    return _MEMO[signature]


def _hash_files(path: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    root = path if path.is_dir() else path.parent
    for f in files:
        rel = f.relative_to(root).as_posix().encode()
        h.update(len(rel).to_bytes(8, "big") + rel)
        data = f.read_bytes()
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def resolve_data(typed: str | Path) -> DataRef:
    """What the user typed as `--data`: an embedded name stays a name; an existing path becomes its absolute
    path and content hash. Anything else is left as typed, for the loader to refuse with its own message."""
    key = str(typed)
    if key in REGISTRY:
        return DataRef(key)
    path = Path(key).expanduser()
    if not path.exists():
        return DataRef(key)
    path = path.resolve()
    return DataRef(str(path), content_hash(path))


def stored_data(cfg: dict[str, Any], what: str = "the model") -> DataRef:
    """The data a run recorded, checked: its stored path must still hold the same content. A config without a
    hash (written before hashes were recorded, or an embedded name) is returned as stored."""
    if "data" not in cfg or cfg["data"] is None:
        raise UserError(f"{what}'s config.json names no data; it was not trained by privgen (train it again)")
    source, expected = str(cfg["data"]), cfg.get(HASH_KEY)
    if not expected:
        return DataRef(source)
    verify_content(Path(source), expected, what)
    return DataRef(source, expected)


def verify_content(path: Path, expected: str, what: str = "the model") -> None:
    """Refuse data whose content is not what a run recorded: gone, edited, renamed or added files."""
    if not path.exists():
        raise UserError(f"the data {what} was trained on, {path}, is gone; restore it there, or retrain "
                        f"{what} on the data you have")
    found = content_hash(path)
    if found != expected:
        raise UserError(f"the data at {path} changed since {what} was trained (content hash {found[:12]}, "
                        f"recorded {expected[:12]}); restore the original files, or retrain {what} on the new data")
