"""`privgen ARGS...` as a launcher starts it, with every write of a non-main process recorded.

tests/test_scale.py launches this with `accelerate launch`: on a process whose RANK is not 0, an audit
hook (PEP 578) notes each file or folder it would create, change or delete under PRIVGEN_TEST_WATCH into
PRIVGEN_TEST_WRITES (a file outside the watched folder), so the test can assert that only the main
process writes the run directory.
"""

from __future__ import annotations

import os
import sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = {"os.rename": 0, "os.mkdir": 0, "os.remove": 0, "os.rmdir": 0, "os.chmod": 0, "os.truncate": 0,
               "shutil.rmtree": 0, "os.symlink": 1, "os.link": 1}


def _watch(watched: str, record: str) -> None:
    seen: list[str] = []

    def writing(event: str, args: tuple) -> str | None:
        if event == "open":
            path, mode, flags = args
            if isinstance(mode, str) and any(c in mode for c in "wax+"):
                return str(path)
            if mode is None and isinstance(flags, int) and flags & WRITE_FLAGS:
                return str(path)
            return None
        if event in PATH_EVENTS:
            return str(args[PATH_EVENTS[event]])
        return None

    def hook(event: str, args: tuple) -> None:
        path = writing(event, args)
        if path and os.path.abspath(path).startswith(watched) and not seen:
            seen.append(path)  # the first one is enough; recording it must not be recorded
            with open(record, "a") as f:
                f.write(f"{event} {path}\n")

    sys.addaudithook(hook)


if __name__ == "__main__":
    if os.environ.get("RANK", "0") != "0" and os.environ.get("PRIVGEN_TEST_WATCH"):
        _watch(os.path.abspath(os.environ["PRIVGEN_TEST_WATCH"]), os.environ["PRIVGEN_TEST_WRITES"])
    from privgen.cli import main

    main(sys.argv[1:])
