"""Checkpoints that ship inside privgen, so that a first `make demo` shows the science without training.

Every shipped model was made by one of privgen's own commands (`SHIPPED`, below). `manifest.json` lists, for
each, the exact command, its seed and environment, the privgen version that ran it and the SHA-256 of every
shipped file. A shipped model is only ever used through `install`, which checks every file against the
manifest before copying it out, and the copy is then an ordinary run directory (its tensor files still
checked against their own checksums.json whenever they are loaded). The manifest is rebuilt from trained run
directories by `python -m privgen.checkpoints build` (docs/foundation.md, "Shipped checkpoints").
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privgen.errors import UserError
from privgen.runs import file_sha256, read_json

HERE = Path(__file__).parent
MANIFEST = "manifest.json"
FILES = "files"


@dataclass(frozen=True)
class ShippedSpec:
    """How one shipped checkpoint is made: the privgen command (argv after `privgen`, `{out}` its output,
    `{dir:NAME}` another shipped checkpoint's folder) and the option that sets its training budget (a test
    rebuilds it with a tiny one)."""

    name: str
    kind: str
    command: tuple[str, ...]
    budget_option: str
    summary: str


SHIPPED: tuple[ShippedSpec, ...] = (
    ShippedSpec("cpu16-mnist5k-seed0", "diffusion",
                ("diffusion", "train", "--data", "mnist5k", "--recipe", "cpu16", "--seed", "0", "--device", "cpu",
                 "--out", "{out}"),
                "--steps", "class-conditional diffusion model, recipe cpu16 (16x16, 2,400 steps), mnist5k"),
    ShippedSpec("cpu16-mnist5k-seed0-retrain-forget3", "diffusion",
                ("unlearn", "run", "--model", "{dir:cpu16-mnist5k-seed0}", "--method", "retrain", "--forget", "3",
                 "--seed", "0", "--device", "cpu", "--out", "{out}"),
                "--steps", "its retrain oracle: the same recipe and steps without digit 3"),
    ShippedSpec("vflgan-mnist5k-halves-reference", "vfl",
                ("vfl", "train", "--data", "mnist5k", "--parties", "2", "--model-type", "vflgan", "--size",
                 "reference", "--iterations", "6000", "--probe-every", "1000", "--seed", "0", "--device", "cpu",
                 "--out", "{out}"),
                "--iterations", "VFLGAN, 2 parties (top / bottom half of each 28x28 digit), the paper's networks"),
    ShippedSpec("vertigan-mnist5k-halves-reference", "vfl",
                ("vfl", "train", "--data", "mnist5k", "--parties", "2", "--model-type", "vertigan", "--size",
                 "reference", "--iterations", "6000", "--probe-every", "1000", "--seed", "0", "--device", "cpu",
                 "--out", "{out}"),
                "--iterations", "VertiGAN, the same data, networks and budget"),
)

# What a shipped copy leaves out of a run directory: resumable training state (optimizer moments, RNG
# states), logs and pictures. Loading for sampling, unlearning, attacks and evaluation needs none of them.
LEFT_OUT = ("checkpoint.safetensors", "log.jsonl", "report.md")
LEFT_OUT_SUFFIXES = (".png",)
LEFT_OUT_DIRS = ("samples",)


def spec(name: str) -> ShippedSpec:
    for s in SHIPPED:
        if s.name == name:
            return s
    raise UserError(f"no shipped checkpoint named {name!r}; shipped: {', '.join(s.name for s in SHIPPED)}")


def command_argv(s: ShippedSpec, out: Path | str, dirs: dict[str, Path] | None = None) -> list[str]:
    """The command's argv (after `privgen`) with `{out}` and `{dir:NAME}` filled in."""
    argv = []
    for word in s.command:
        if word == "{out}":
            argv.append(str(out))
        elif word.startswith("{dir:"):
            name = word[5:-1]
            if not dirs or name not in dirs:
                raise UserError(f"{s.name} is made from {name}: build that one first")
            argv.append(str(dirs[name]))
        else:
            argv.append(word)
    return argv


def manifest(root: Path = HERE) -> dict[str, dict[str, Any]]:
    """The shipped checkpoints' entries by name (command, seed, version, files with their SHA-256)."""
    path = root / MANIFEST
    if not path.is_file():
        raise UserError(f"{path} is missing: this privgen installation ships no checkpoints; reinstall privgen, or "
                        "run `privgen demo --from-scratch`")
    data = read_json(path)
    entries = data.get("checkpoints") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise UserError(f"{path} has no 'checkpoints' list; reinstall privgen")
    return {e["name"]: e for e in entries}


def _included(rel: Path) -> bool:
    return (rel.name not in LEFT_OUT and rel.suffix not in LEFT_OUT_SUFFIXES
            and not any(part in LEFT_OUT_DIRS for part in rel.parts[:-1]))


def shipped_files(run_dir: Path) -> list[Path]:
    """The files of a run directory that a shipped copy keeps, relative to it, sorted."""
    return sorted(p.relative_to(run_dir) for p in run_dir.rglob("*") if p.is_file() and _included(p.relative_to(run_dir)))


def _entry(name: str, root: Path) -> dict[str, Any]:
    entry = manifest(root).get(name)
    if entry is None:
        raise UserError(f"no shipped checkpoint named {name!r} in {root / MANIFEST}")
    return entry


def verify(name: str, root: Path = HERE) -> Path:
    """The shipped folder of `name` after every listed file's SHA-256 matched the manifest; one UserError
    naming the first file that does not (or is missing), and no file is copied anywhere."""
    return _verified(name, _entry(name, root), root)


def _verified(name: str, entry: dict[str, Any], root: Path) -> Path:
    folder = root / FILES / name
    for rel, expected in sorted(entry["files"].items()):
        path = folder / rel
        if not path.is_file():
            raise UserError(f"shipped checkpoint {name}: {rel} is missing from {folder}; reinstall privgen "
                            "(or run `privgen demo --from-scratch`)")
        if file_sha256(path) != expected:
            raise UserError(f"shipped checkpoint {name}: {path} does not match the SHA-256 in {root / MANIFEST}; the "
                            "file was modified or corrupted, so it is refused: reinstall privgen (or run `privgen "
                            "demo --from-scratch`)")
    return folder


def install(name: str, dest: Path, root: Path = HERE) -> Path:
    """Copy the verified shipped checkpoint `name` to `dest` (a run directory of its own), unless `dest`
    already holds a finished run. The copy appears whole or not at all (written beside, then renamed)."""
    dest = Path(dest)
    if (dest / "metrics.json").is_file():
        return dest
    entry = _entry(name, root)
    folder = _verified(name, entry, root)
    if dest.exists():
        shutil.rmtree(dest)  # an unfinished run (no metrics.json) in a cache entry: nothing to keep
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as tmp:
        staged = Path(tmp) / "run"
        for rel in entry["files"]:
            target = staged / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / rel, target)
        staged.rename(dest)
    return dest


def provenance(name: str, dest: Path, root: Path = HERE) -> dict[str, Any]:
    """What a report says about where a model came from: the shipped checkpoint (command, seed, hashes) when
    `dest` holds its exact bytes, else "trained on this machine" (a cache entry made earlier)."""
    entry = _entry(name, root)
    same = all((Path(dest) / rel).is_file() and file_sha256(Path(dest) / rel) == sha
               for rel, sha in entry["files"].items())
    return {"name": name, "source": "shipped" if same else "trained on this machine",
            "command": entry["command"], "seed": entry["seed"], "privgen_version": entry["privgen_version"]}


__all__ = ["SHIPPED", "ShippedSpec", "command_argv", "install", "manifest", "provenance", "shipped_files", "spec",
           "verify"]
