"""How a class is shown and named: one place, so every report, plot and CLI line says the same thing.

A user's class folder `zero..nine` sorts to indices 0 = "eight", 3 = "nine", ...: "class 3" alone misleads
there, so a class is shown with its name (`class 3 "nine"`). For embedded datasets the names are the
indices themselves ("0".."9"), and the name is shown once (`class 3`), never "3 (3)".
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from privgen.errors import UserError


class ClassIndexWarning(UserWarning):
    """A class given by index on a dataset whose names are not the indices (printed as one line by the CLI)."""


def names_are_indices(names: Sequence[str]) -> bool:
    return all(str(n) == str(i) for i, n in enumerate(names))


def class_label(c: int, names: Sequence[str] | None) -> str:
    """`class 3 "nine"`, or `class 3` where the names are the indices (or unknown)."""
    if names is None or not 0 <= int(c) < len(names) or names_are_indices(names):
        return f"class {c}"
    return f'class {c} "{names[int(c)]}"'


def classes_label(classes: Sequence[int], names: Sequence[str] | None) -> str:
    """Several classes in one phrase: `classes 3 "nine", 4 "one"` (`class 3` for one)."""
    if len(classes) == 1:
        return class_label(classes[0], names)
    parts = [class_label(c, names).removeprefix("class ") for c in classes]
    return f"classes {', '.join(parts)}"


def class_list(names: Sequence[str]) -> str:
    """Every class in index order: `0 eight, 1 five, ...` (so an index can be read off), or `0, 1, ...`."""
    if names_are_indices(names):
        return ", ".join(map(str, names))
    return ", ".join(f"{i} {n}" for i, n in enumerate(names))


def class_name(c: int, names: Sequence[str] | None) -> str:
    """Just the name (`nine`, or `3` on embedded data): for grid rows and table cells, where the index is noise."""
    if names is None or not 0 <= int(c) < len(names):
        return str(c)
    return str(names[int(c)])


def resolve_class(cls: int | str, class_names: Sequence[str], owner: str, flag: str | None = None,
                  source: str | None = None) -> int:
    """A class given by name or by label index; anything else is a user error listing `owner`'s classes.

    `flag` is the CLI option the value came from: an index typed there (text, as the CLI passes it; an int
    is a resolved class from code) on a dataset whose names are not the indices warns with the name it resolved to, so "--forget 3" on a folder whose class 3 is "nine"
    does not silently forget nines. `source` names the data in that warning (default: `owner`).
    """
    names = [str(n) for n in class_names]
    if isinstance(cls, str) and cls in names:
        return names.index(cls)
    try:
        i = int(cls)
    except (TypeError, ValueError):
        raise UserError(f"class {cls!r} is not in {owner} (classes: {', '.join(names)})") from None
    if not 0 <= i < len(names):
        raise UserError(f"class {cls!r} is outside {owner}'s classes 0..{len(names) - 1} ({', '.join(names)})")
    if flag is not None and isinstance(cls, str) and not names_are_indices(names):
        warnings.warn(f"{flag} {cls} is class '{names[i]}' of {source or owner}; pass {flag} {names[i]} to say so",
                      ClassIndexWarning, stacklevel=2)
    return i
