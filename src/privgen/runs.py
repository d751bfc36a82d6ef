"""Run directories: config.json, metrics.json, log.jsonl, safetensors weights; every write atomic.

A run directory belongs to one *kind* of run (``classifier``, ``diffusion``, ...). Opening a directory
that holds another kind is refused unless the caller asks to overwrite, so a typo in ``--out`` cannot
clobber a model. ``metrics.json`` is written last: its presence marks a finished run.
"""

from __future__ import annotations

import json
import os
import hashlib
import secrets
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from privgen import __version__
from privgen.errors import UserError

CONFIG = "config.json"
METRICS = "metrics.json"
LOG = "log.jsonl"


def _atomic_replace(path: Path, write: Any) -> None:
    """Write through a temp file in the same directory, then rename: readers never see half a file.

    The temp file is created with mode 0666 minus the umask (as `open` would), never a private 0600 file, so a
    shared results folder stays readable. A full disk or a read-only folder is the user's to fix: it
    becomes a UserError naming the file, and the previous version of the file stays in place.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        mode = stat.S_IMODE(os.stat(tmp).st_mode)  # 0666 minus the umask
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}; check the folder's permissions and free space") from None
    try:
        write(tmp)
        os.chmod(tmp, mode)  # some writers (safetensors) recreate the file as 0600
        os.replace(tmp, path)
    except (OSError, SafetensorError) as e:
        raise UserError(f"cannot write {path}: {getattr(e, 'strerror', None) or e}; check the folder's permissions and free space "
                        "(the previous file, if any, is unchanged)") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    _atomic_replace(path, write)


def atomic_write_npz(path: Path, compressed: bool = True, **arrays: Any) -> None:
    """NumPy arrays as one .npz, atomically (never pickled: object arrays are refused by numpy's loader)."""
    import io

    import numpy as np

    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e.msg} at line {e.lineno}); the run may be corrupted") from None


CHECKSUMS = "checksums.json"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record_checksum(path: Path) -> None:
    """Note the SHA-256 of a tensor file in its folder's checksums.json (checked by `verify_checksum`)."""
    path = Path(path)
    sums_path = path.parent / CHECKSUMS
    sums = _read_checksums(sums_path)
    sums[path.name] = file_sha256(path)
    atomic_write_json(sums_path, sums)


def verify_checksum(path: Path) -> None:
    """Refuse a tensor file whose bytes differ from those recorded when it was written.

    Files written before checksums were recorded (no entry) are accepted; safetensors then still checks
    the header and the shapes."""
    path = Path(path)
    expected = _read_checksums(path.parent / CHECKSUMS).get(path.name)
    if expected is not None and file_sha256(path) != expected:
        raise UserError(f"{path} does not match the SHA-256 recorded in {path.parent / CHECKSUMS} when it was "
                        "written; the file is corrupted or was modified (restore it or train again)")


def _read_checksums(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise UserError(f"{path} is not a checksum list (file name -> SHA-256); the run directory is corrupted")
    return data


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """safetensors, never pickle: loading an untrusted checkpoint must not execute code. The file's
    SHA-256 goes to checksums.json next to it."""
    clean = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    _atomic_replace(Path(path), lambda tmp: save_file(clean, tmp, metadata=metadata))
    record_checksum(Path(path))
    _settle_overwrite(Path(path))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; the run directory is incomplete (train it again)")
    verify_checksum(path)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({e}); the checkpoint is corrupted") from None


def check_state(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor], source: str) -> None:
    """Refuse any mismatch in tensor names or shapes: the file is corrupted, tampered with, or another model's."""
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise UserError(
            f"{source} does not match its config: {len(missing)} tensors missing (e.g. {missing[:2]}), "
            f"{len(extra)} unexpected (e.g. {extra[:2]}); the checkpoint is corrupted or from another model"
        )
    bad = [k for k, v in state.items() if v.shape != expected[k].shape]
    if bad:
        k = bad[0]
        raise UserError(
            f"{source}: tensor {k} has shape {tuple(state[k].shape)} but the config needs "
            f"{tuple(expected[k].shape)}; the checkpoint is corrupted or from another model"
        )


def load_state_into(module: torch.nn.Module, path: Path) -> None:
    """Load safetensors weights into `module`, validated by `check_state` first."""
    state = load_tensors(path)
    check_state(module.state_dict(), state, str(path))
    module.load_state_dict(state)


@dataclass
class RunDir:
    """A directory holding one run of one kind."""

    path: Path
    kind: str

    @classmethod
    def create(cls, path: Path | str, kind: str, config: dict[str, Any], overwrite: bool = False,
               resume: bool = False, budget: tuple[str, str] | None = None) -> "RunDir":
        """Open ``path`` for a new run of ``kind``.

        An existing directory is accepted when it is empty, when it holds an unfinished run of the same
        kind and ``resume`` is set, or when ``overwrite`` is set and privgen made it (it is then moved aside
        and deleted once the new run has saved its first checkpoint or its metrics). ``budget`` =
        (config key, option) makes a finished run with the same options and no more of that budget a
        refusal instead of a no-op re-run. Call this only after every input has been validated, so a bad
        input leaves nothing behind.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise UserError(f"--out {path} is a file, not a directory; choose another path")
        if path.is_dir() and any(path.iterdir()):
            existing = describe_run(path)
            if overwrite:
                if existing is None or not is_privgen_run(path):
                    raise UserError(f"--out {path} is not empty and was not written by privgen (no {CONFIG} with "
                                    "privgen's kind and version); --overwrite only replaces privgen's own run "
                                    "directories: choose another path, nothing was deleted")
                _move_aside(path)
            elif existing is None:
                raise UserError(f"--out {path} exists and is not a privgen run directory; choose another path or pass --overwrite")
            elif existing != kind:
                raise UserError(f"--out {path} holds a {existing!r} run, not {kind!r}; choose another path or pass --overwrite")
            elif not resume:
                raise UserError(f"--out {path} already holds a {kind!r} run; choose another path or pass --overwrite")
        run = cls(path, kind)
        full = {"kind": kind, "privgen_version": __version__, **config}
        if (path / CONFIG).exists():
            old = read_json(path / CONFIG)
            if not isinstance(old, dict):
                raise UserError(f"{path / CONFIG} is not a JSON object; the run is corrupted: pass --overwrite")
            new = json.loads(json.dumps(full, default=_json_default))  # compare as stored: tuples are lists there
            changed = sorted(k for k in set(old) | set(new) if k not in _RESUME_FREE and old.get(k) != new.get(k))
            if changed:
                raise UserError(f"--out {path} holds a {kind!r} run with other options ({', '.join(changed)}); "
                                "use the same options to resume, or pass --overwrite")
            if budget is not None and (path / METRICS).is_file():
                refuse_finished(path, budget[0], new.get(budget[0]), budget[1])
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create --out {path}: {e.strerror or e}") from None
        atomic_write_json(path / CONFIG, full)
        return run

    @classmethod
    def open(cls, path: Path | str, kind: str | tuple[str, ...], require_finished: bool = True) -> "RunDir":
        """Open an existing run for reading, checking that it is of the expected kind(s)."""
        path = Path(path)
        kinds = (kind,) if isinstance(kind, str) else kind
        if not path.is_dir():
            raise UserError(f"{path} does not exist or is not a directory; pass a run directory made by privgen")
        found = describe_run(path)
        if found is None:
            raise UserError(f"{path} is not a privgen run directory (no {CONFIG} with a 'kind')")
        if found not in kinds:
            raise UserError(f"{path} holds a {found!r} run; expected {' or '.join(map(repr, kinds))}")
        if require_finished and not (path / METRICS).exists():
            raise UserError(f"{path} holds an unfinished {found!r} run (no {METRICS}); finish or resume it first")
        return cls(path, found)

    @property
    def config(self) -> dict[str, Any]:
        return read_json(self.path / CONFIG)

    @property
    def metrics(self) -> dict[str, Any]:
        return read_json(self.path / METRICS)

    @property
    def finished(self) -> bool:
        return (self.path / METRICS).exists()

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        atomic_write_json(self.path / METRICS, metrics)
        _settle_overwrite(self.path / METRICS)

    def log(self, **event: Any) -> None:
        event = {"time": round(time.time(), 3), **event}
        try:
            with open(self.path / LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps(event, default=_json_default) + "\n")
        except OSError as e:
            raise UserError(f"cannot write {self.path / LOG}: {e.strerror or e}; check the folder's permissions "
                            "and free space") from None

    def file(self, name: str) -> Path:
        return self.path / name


# Options that may differ between a run and its resumption without changing the result.
_RESUME_FREE = {"privgen_version", "quiet", "overwrite", "resume", "steps", "epochs", "iterations", "workers"}


def describe_run(path: Path) -> str | None:
    """The kind of run stored in ``path``, or None when it is not a run directory."""
    cfg = Path(path) / CONFIG
    if not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text())
    except json.JSONDecodeError:
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


def is_privgen_run(path: Path) -> bool:
    """privgen's marker: a config.json object with the run's kind and the privgen version that wrote it."""
    cfg = Path(path) / CONFIG
    try:
        data = json.loads(cfg.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and isinstance(data.get("kind"), str) and "privgen_version" in data


def refuse_finished(path: Path, key: str, requested: Any, option: str) -> None:
    """A finished run that already has `requested` of its budget has nothing to do: refuse, touch nothing."""
    done = read_json(Path(path) / METRICS)
    done = done.get(key) if isinstance(done, dict) else None
    if isinstance(done, int) and isinstance(requested, int) and done >= requested:
        raise UserError(f"--out {path} already holds a finished run of {done} {key}; ask for more {option} to "
                        "continue it, or pass --overwrite")


# --overwrite moves the old run aside (new path -> aside path) until the new run has saved something.
_ASIDE: dict[Path, Path] = {}
ASIDE_SUFFIX = ".privgen-replaced"


def _move_aside(path: Path) -> None:
    aside = path.with_name(f".{path.name}{ASIDE_SUFFIX}")
    if aside.exists():  # left by an earlier overwrite that was killed: the run there is older still
        shutil.rmtree(aside)
    try:
        os.replace(path, aside)
    except OSError as e:
        raise UserError(f"--overwrite cannot move {path} aside: {e.strerror or e}; nothing was deleted") from None
    _ASIDE[path.resolve()] = aside


def _settle_overwrite(written: Path) -> None:
    """The new run saved a checkpoint or its metrics: the run it replaces can go."""
    written = Path(written).resolve()
    for new in [p for p in _ASIDE if p == written.parent or p in written.parents]:
        shutil.rmtree(_ASIDE.pop(new), ignore_errors=False)


def settle_overwrites() -> None:
    """The command succeeded: drop every run it replaced."""
    for new in list(_ASIDE):
        shutil.rmtree(_ASIDE.pop(new))


def restore_overwrites() -> None:
    """The command failed before its new run saved anything: put each replaced run back."""
    for new, aside in list(_ASIDE.items()):
        if new.exists():
            shutil.rmtree(new)
        os.replace(aside, new)
        del _ASIDE[new]
