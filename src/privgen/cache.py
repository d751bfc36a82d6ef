"""Where reusable artefacts (evaluation classifiers, pretrained models) are cached between runs.

`PRIVGEN_CACHE` overrides the default `~/.cache/privgen`; tests point it at a temporary folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator


def cache_root() -> Path:
    root = os.environ.get("PRIVGEN_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "privgen"


def cache_path(*parts: str) -> Path:
    return cache_root().joinpath(*parts)


def digest(obj: Any) -> str:
    """A short hash of everything that decides a cached result (its cache key)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


@contextlib.contextmanager
def entry_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on a cache entry while it is computed: another process (a second benchmark or
    audit) waits, then finds the entry finished instead of computing it again beside the first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
