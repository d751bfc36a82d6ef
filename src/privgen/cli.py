"""The `privgen` command: thin wiring of sub-command groups onto the library.

Each area lives in `privgen.commands.<area>` and exposes a typer app; this module only mounts them and
turns `UserError` into one line on stderr with exit code 2.
"""

from __future__ import annotations

import errno
import sys

import typer

from privgen.commands import COMMAND_GROUPS, EXTRA_COMMANDS, TOP_LEVEL
from privgen.errors import UserError
from privgen.warn import install as install_warnings

USER_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EPERM, errno.ENOTDIR, errno.EEXIST,
               errno.ENAMETOOLONG}

app = typer.Typer(help="privgen: privacy of generative models (unlearning + relearning attacks for diffusion; "
                       "vertically federated synthetic data).", no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False)
for _name, _group in COMMAND_GROUPS.items():
    app.add_typer(_group, name=_name)
for _fn in TOP_LEVEL:
    app.command()(_fn)


def _attach_extra_commands() -> None:
    """Put each extra command into its group (by name), creating the typer group if none exists."""
    groups = dict(COMMAND_GROUPS)
    for group_name, fns in EXTRA_COMMANDS.items():
        group = groups.get(group_name)
        if group is None:
            group = typer.Typer(no_args_is_help=True, help=f"{group_name} commands.")
            groups[group_name] = group
            app.add_typer(group, name=group_name)
        for fn in fns:
            group.command(fn.__name__)(fn)


_attach_extra_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point. Typer reports usage errors itself (exit 2); a `UserError` becomes one line, exit 2.

    A run directory replaced with --overwrite is put back when the command fails before the new run
    saved anything, and deleted when it succeeds (see `privgen.runs.RunDir.create`).
    """
    from privgen.runs import restore_overwrites, settle_overwrites  # torch is imported only when needed

    install_warnings()
    try:
        app(args=argv, prog_name="privgen")
    except UserError as e:
        restore_overwrites()
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:
        restore_overwrites()
        if e.errno not in USER_ERRNOS:
            raise
        # A full disk, a read-only or foreign folder: the user's to fix, not a bug.
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}; check the folder's permissions and free space", file=sys.stderr)
        sys.exit(2)
    except SystemExit as e:
        if e.code in (0, None):
            settle_overwrites()
        else:
            restore_overwrites()
        raise
    except BaseException:
        restore_overwrites()
        raise
    settle_overwrites()


if __name__ == "__main__":
    main()
