"""Name -> method class. The CLI, the benchmark and the tests enumerate this instead of hard-coding lists."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from privgen.errors import UserError
from privgen.unlearn.base import Method

METHODS: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise UserError(f"unknown unlearning method {name!r}; choose one of {', '.join(METHODS)} (privgen unlearn list)")
    return METHODS[name]


def build_method(name: str, options: dict[str, Any] | None = None) -> Method:
    """Instantiate a method with its defaults overridden by `options`; foreign options are refused."""
    cls = get_method(name)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    known = {f.name: f for f in fields(cls.Options)}
    foreign = sorted(set(options) - set(known))
    if foreign:
        owners = {k: [m for m, c in METHODS.items() if k in c.option_names()] for k in foreign}
        where = "; ".join(f"{k} belongs to {', '.join(v) or 'no method'}" for k, v in owners.items())
        raise UserError(f"option(s) {', '.join(foreign)} do not apply to {name} ({where}); "
                        f"{name} takes: {', '.join(known) or 'no options'}")
    return cls(replace(cls.Options(), **options))
