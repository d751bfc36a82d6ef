"""Make the shipped checkpoints with their commands, and write them (and manifest.json) into the package.

`make_all` runs every `SHIPPED` command, in order, in one folder; `build_manifest` copies what a shipped copy
keeps of each finished run into `files/NAME/` and records its SHA-256 with the exact command that made it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

from privgen.checkpoints import FILES, HERE, MANIFEST, SHIPPED, ShippedSpec, command_argv, shipped_files
from privgen.errors import UserError
from privgen.runs import atomic_write_json, file_sha256, read_json


def _build_argv(s: ShippedSpec) -> list[str]:
    """The command as run in the build folder: outputs and inputs are folders named after the checkpoints."""
    return command_argv(s, s.name, {o.name: Path(o.name) for o in SHIPPED})


def command_text(s: ShippedSpec) -> str:
    return "privgen " + shlex.join(_build_argv(s))


def run_command(s: ShippedSpec, folder: Path, extra: list[str] | None = None, quiet: bool = False) -> Path:
    """Run one checkpoint's command in `folder` (as a separate process, like a user would), with `extra`
    options appended (a test's tiny budget); the run directory it made."""
    argv = [sys.executable, "-m", "privgen", *_build_argv(s), *(extra or []),
            *(["--quiet"] if quiet else [])]
    done = subprocess.run(argv, cwd=folder, capture_output=quiet, text=True)
    if done.returncode != 0:
        tail = (done.stderr or "").strip().splitlines()[-1:] if quiet else []
        raise UserError(f"`{shlex.join(argv[2:])}` failed in {folder} (exit {done.returncode})"
                        + (f": {tail[0]}" if tail else ""))
    return folder / s.name


def make_all(folder: Path, quiet: bool = False) -> list[Path]:
    """Every shipped checkpoint trained from scratch in `folder`, in the order they depend on each other;
    finished runs there are kept (their commands resume or return at once)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [folder / s.name if (folder / s.name / "metrics.json").is_file() else run_command(s, folder, quiet=quiet)
            for s in SHIPPED]


def entry(s: ShippedSpec, run_dir: Path, environment: dict[str, str]) -> dict[str, Any]:
    cfg = read_json(run_dir / "config.json")
    if not (run_dir / "metrics.json").is_file():
        raise UserError(f"{run_dir} is unfinished (no metrics.json): finish its command first")
    files = shipped_files(run_dir)
    return {"name": s.name, "kind": s.kind, "summary": s.summary, "command": command_text(s),
            "budget_option": s.budget_option, "seed": cfg.get("seed"), "privgen_version": cfg.get("privgen_version"),
            "device": cfg.get("device"), "environment": environment,
            "files": {str(rel): file_sha256(run_dir / rel) for rel in files},
            "bytes": sum((run_dir / rel).stat().st_size for rel in files)}


def build_manifest(folder: Path, environment: dict[str, str], dest: Path = HERE) -> dict[str, Any]:
    """Copy every checkpoint's shipped files from `folder` into `dest/files/` and write `dest/manifest.json`."""
    entries = [entry(s, folder / s.name, environment) for s in SHIPPED]
    for s, e in zip(SHIPPED, entries):
        target = dest / FILES / s.name
        if target.exists():
            shutil.rmtree(target)
        for rel in e["files"]:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / s.name / rel, target / rel)
    manifest = {"built": date.today().isoformat(), "total_bytes": sum(e["bytes"] for e in entries),
                "checkpoints": entries}
    atomic_write_json(dest / MANIFEST, manifest)
    return manifest


def default_environment() -> dict[str, str]:
    """The settings of the build that a rerun needs to match (threads change float rounding, not results)."""
    import torch

    return {"torch": torch.__version__, "PRIVGEN_THREADS": os.environ.get("PRIVGEN_THREADS", "")}


__all__ = ["build_manifest", "command_text", "make_all", "run_command"]
