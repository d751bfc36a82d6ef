"""The `privgen` command: thin wiring of sub-command groups onto the library.

Each area lives in `privgen.commands.<area>` and exposes a typer app; this module only mounts them and
turns `UserError` into one line on stderr with exit code 2.
"""

from __future__ import annotations

import sys

import typer

from privgen.commands import COMMAND_GROUPS, TOP_LEVEL
from privgen.errors import UserError

app = typer.Typer(help="privgen: privacy of generative models (unlearning + relearning attacks for diffusion; "
                       "vertically federated synthetic data).", no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False)
for _name, _group in COMMAND_GROUPS.items():
    app.add_typer(_group, name=_name)
for _fn in TOP_LEVEL:
    app.command()(_fn)


def main(argv: list[str] | None = None) -> None:
    """Entry point. Typer reports usage errors itself (exit 2); a `UserError` becomes one line, exit 2."""
    try:
        app(args=argv, prog_name="privgen")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
