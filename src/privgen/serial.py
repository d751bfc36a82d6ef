"""The one way privgen turns an options dataclass into JSON-ready data and back.

Options are frozen dataclasses; their JSON form is `dataclasses.asdict` with tuples as lists (JSON has no
tuples, and a config read back must compare equal to one written). `from_dict` ignores keys the class does
not know, so a config written by a newer privgen with an extra option still loads.
"""

from __future__ import annotations

from dataclasses import asdict, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def _jsonable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def to_dict(obj: Any) -> dict[str, Any]:
    if not is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(f"to_dict takes a dataclass instance, got {type(obj).__name__}")
    return _jsonable(asdict(obj))


def from_dict(cls: type[T], data: dict[str, Any], tuples: tuple[str, ...] = ()) -> T:
    """An instance of `cls` from `data`: unknown keys dropped, the fields named in `tuples` made tuples again."""
    known = {f.name for f in fields(cls)}
    kwargs = {k: (tuple(v) if k in tuples else v) for k, v in data.items() if k in known}
    return cls(**kwargs)
