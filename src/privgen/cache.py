"""Where reusable artefacts (evaluation classifiers, pretrained models) are cached between runs.

`PRIVGEN_CACHE` overrides the default `~/.cache/privgen`; tests point it at a temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    root = os.environ.get("PRIVGEN_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "privgen"


def cache_path(*parts: str) -> Path:
    return cache_root().joinpath(*parts)


def digest(obj: Any) -> str:
    """A short hash of everything that decides a cached result (its cache key)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]
