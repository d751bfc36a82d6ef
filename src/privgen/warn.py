"""privgen's own warnings read like its errors: `warning: ...` on one line, no source location.

Installed by the CLI and in benchmark workers (which do not go through the CLI); other libraries' warnings
keep Python's format.
"""

from __future__ import annotations

import sys
import warnings

_PYTHON_SHOWWARNING = warnings.showwarning


def _one_line(message, category, filename, lineno, file=None, line=None) -> None:
    if category.__module__.startswith("privgen"):
        print(f"warning: {message}", file=sys.stderr, flush=True)
    else:
        _PYTHON_SHOWWARNING(message, category, filename, lineno, file, line)


def install() -> None:
    warnings.showwarning = _one_line
