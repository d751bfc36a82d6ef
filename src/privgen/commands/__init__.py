"""Registry of CLI groups: an area adds its typer app here and the CLI mounts it (no edits to cli.py)."""

from __future__ import annotations

from typing import Callable

import typer

from privgen.commands.classifier import app as classifier_app
from privgen.commands.data import app as data_app
from privgen.commands.demo import demo
from privgen.commands.unlearn import app as unlearn_app

COMMAND_GROUPS: dict[str, typer.Typer] = {
    "data": data_app,
    "classifier": classifier_app,
    "unlearn": unlearn_app,
}
TOP_LEVEL: list[Callable] = [demo]
