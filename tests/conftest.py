"""Shared fixtures: real data beside the project, an isolated FRAMECAST_HOME, and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
VIDEOS = SHARED_DATA / "videos"
MNIST_NPZ = SHARED_DATA / "mnist_digits.npz"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own FRAMECAST_HOME: nothing is read from or written to the real user directories."""
    home = tmp_path_factory.mktemp("framecast-home")
    monkeypatch.setenv("FRAMECAST_HOME", str(home))
    monkeypatch.delenv("FRAMECAST_OFFLINE", raising=False)
    monkeypatch.delenv("FRAMECAST_DEBUG", raising=False)
    return home


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Result:
    """Run `python -m framecast ARGS` in a fresh process, as a user would, with this test's environment."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "framecast", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_error(result: Result, code: int, *fragments: str) -> None:
    """An error as the output contract wants it: exit code, `Error:` and `Hint:` lines, no traceback."""
    assert result.code == code, (result.code, result.stdout, result.stderr)
    assert "Error:" in result.stderr, result.stderr
    assert "Hint:" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


@pytest.fixture
def cli():
    return run_cli
