"""Shared fixtures: real data beside the project, an isolated FRAMECAST_HOME, and the command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
VIDEOS = SHARED_DATA / "videos"
MNIST_NPZ = SHARED_DATA / "mnist_digits.npz"

# Run in parallel (`pytest -n 2`, as `make test` does), each worker and the commands it starts share the cores
# instead of each taking all of them; set before any test module imports torch.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))


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


# ------------------------------------------------------------------ tiny checkpoints shared by the test modules

TINY_TRAIN = ["--preset", "tiny", "--epochs", "1", "--train-size", "8", "--val-size", "4", "--batch-size", "4"]
TINY_SPEC = ["--context", "4", "--horizon", "4"]


def train_tiny(home: Path, models: tuple[str, ...]) -> dict[str, Path]:
    """Train one tiny run of each model, side by side, in its own FRAMECAST_HOME; their run folders."""
    # one thread each: two trainings share two cores, and torch's thread pools slow to a crawl when oversubscribed
    env = {**os.environ, "FRAMECAST_HOME": str(home), "OMP_NUM_THREADS": "1"}
    procs = {
        m: subprocess.Popen(
            [sys.executable, "-m", "framecast", "train", "--model", m, *TINY_TRAIN, *TINY_SPEC, "--name", "tiny", "-q"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for m in models
    }
    runs = {}
    for m, proc in procs.items():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        runs[m] = home / "data" / "runs" / m / "tiny"
        assert (runs[m] / "best.safetensors").is_file()
    return runs


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run folders of a tiny convlstm and a tiny vit (4 + 4 frames), trained once per test session."""
    return train_tiny(tmp_path_factory.mktemp("trained-home"), ("convlstm", "vit"))


def install_run(run: Path, home: Path) -> Path:
    """Copy a trained run into this test's FRAMECAST_HOME, so that `--model NAME` finds it."""
    target = home / "data" / "runs" / run.parent.name / run.name
    shutil.copytree(run, target)
    return target


def tiny_checkpoint(
    path: Path,
    model: str = "convlstm",
    *,
    channels: int = 1,
    size: int = 64,
    context: int = 10,
    horizon: int = 10,
    content: str | None = "digits",
    **options: object,
) -> Path:
    """An untrained tiny model written as a run writes its weights (safetensors with the config and data spec)."""
    import dataclasses

    from framecast.checkpoints import save_weights
    from framecast.models import create_model

    net = create_model(model, "tiny", channels=channels, height=size, width=size, **options)
    spec = {"channels": channels, "height": size, "width": size, "context": context, "horizon": horizon}
    if content is not None:
        spec["content"] = content
    save_weights(net, path, {"model": model, "config": dataclasses.asdict(net.config), "spec": spec})
    return path


def stray_temporaries(folder: Path) -> list[Path]:
    """Temporary files an interrupted or failed write would leave behind."""
    return [p for p in folder.rglob("*") if ".tmp" in p.name]


def run_here(capsys: pytest.CaptureFixture, *args: str) -> Result:
    """Run the command line in this process (no torch import per call: the bad-input tests stay quick)."""
    from framecast.cli import _output, run

    _output.reset()
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    _output.reset()
    return Result(code, captured.out, captured.err)
