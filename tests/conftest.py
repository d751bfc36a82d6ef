"""Shared fixtures: an isolated cache per test session, and a CLI runner that captures exit codes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("PRIVGEN_CACHE", str(tmp_path_factory.mktemp("privgen-cache")))
    yield
    mp.undo()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def one_thread():
    """One torch thread for the test (tiny models on a shared 2-core machine), restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run `privgen ARGS...` in-process; returns exit code, stdout and stderr."""
    from privgen.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def assert_user_error(result: CliResult, *fragments: str) -> None:
    """Bad input: exit code 2 and exactly one line on stderr that names the problem."""
    assert result.code == 2, (result.code, result.out, result.err)
    lines = [ln for ln in result.err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
