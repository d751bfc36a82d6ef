"""docs/cli.md from the command tree itself: every command, every option with its help and default.

Written by `python -m privgen.docs_tables` (with the generated tables), checked by its `--check` and by
tests/test_docs_consistency.py, so an option cannot exist without its line in the docs.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Iterator


HEADER = ("# Command reference\n\n"
          "Generated from the command tree by `python -m privgen.docs_tables`; do not edit by hand. Each command's\n"
          "topic page (README.md, docs/*.md) says when to use which option and what was measured with it.\n")


# typer ships its own copy of click (typer._click), so commands and parameters are read by duck typing.
Command = Any


def is_group(cmd: Command) -> bool:
    return isinstance(getattr(cmd, "commands", None), dict)


def walk(cmd: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Command]]:
    """Every command of the tree, groups before their commands, in name order."""
    yield path, cmd
    if is_group(cmd):
        for name in sorted(cmd.commands):
            yield from walk(cmd.commands[name], path + (name,))


def root_command() -> Command:
    import typer

    from privgen.cli import app

    return typer.main.get_command(app)


def _default(p: Any) -> str:
    if p.required:
        return "required"
    d: Any = p.default
    if callable(d) or d is None or d == () or (getattr(p, "is_flag", False) and d is False):
        return ""
    if isinstance(d, Enum):
        d = d.value
    if isinstance(d, (list, tuple)):
        d = ",".join(map(str, d))
    return f"`{d}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def option_names(p: Any) -> list[str]:
    return [*p.opts, *p.secondary_opts]


def command_markdown(path: tuple[str, ...], cmd: Command) -> str:
    title = " ".join(("privgen", *path))
    help_text = _cell((cmd.help or "").split("\n\n")[0])
    lines = [f"## `{title}`\n", f"{help_text}\n" if help_text else ""]
    args = [p for p in cmd.params if p.param_type_name == "argument"]
    opts = [p for p in cmd.params if p.param_type_name == "option"]
    if args or opts:
        lines.append("| option | default | help |\n|---|---|---|")
        for a in args:
            lines.append(f"| `{a.name.upper()}` (argument) | {_default(a)} | {_cell(getattr(a, 'help', None) or '')} |")
        for o in opts:
            names = ", ".join(f"`{n}`" for n in option_names(o))
            note = " (hidden from --help)" if o.hidden else ""
            lines.append(f"| {names} | {_default(o)} | {_cell(o.help or '')}{note} |")
        lines.append("")
    return "\n".join(line for line in lines if line != "") + "\n"


def cli_markdown() -> str:
    parts = [HEADER]
    for path, cmd in walk(root_command()):
        if path and (not is_group(cmd) or cmd.params):
            parts.append(command_markdown(path, cmd))
    return "\n".join(parts)
