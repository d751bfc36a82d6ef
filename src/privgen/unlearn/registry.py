"""Name -> method class. The CLI, the benchmark and the tests enumerate this instead of hard-coding lists."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, Iterable

from privgen import checks
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


def _boolean(raw: str) -> bool:
    words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if raw.lower() not in words:
        raise ValueError(raw)
    return words[raw.lower()]


_PARSERS = {"float": float, "int": int, "bool": _boolean}


def coerce_options(name: str, pairs: Iterable[tuple[str, str]], flag: str = "--option") -> dict[str, Any]:
    """Text KEY=VALUE pairs (from the CLI or a benchmark's method list) to the types of the method's Options.

    The one coercion for every caller, so `unlearn run --option` and `bench unlearning --methods` accept and
    refuse the same values; a NaN or inf number is refused (it would train garbage silently). Keys that are
    not options of the method are passed through for `build_method` to refuse with the owners named.
    """
    # Options are dataclasses under `from __future__ import annotations`: the field types are their names.
    types = {f.name: str(f.type) for f in fields(get_method(name).Options)}
    out: dict[str, Any] = {}
    for key, raw in pairs:
        key = key.replace("-", "_")
        kind = types.get(key, "str")
        try:
            value = _PARSERS.get(kind, str)(raw)
        except ValueError:
            raise UserError(f"{flag} {key}={raw}: expected a {kind}") from None
        if isinstance(value, float):
            checks.finite(f"{flag} {key}", value)
        out[key] = value
    return out
