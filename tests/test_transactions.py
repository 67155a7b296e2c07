"""A run is a transaction: a training killed at any moment (even while a file is being written) resumes to the
very weights of a run that was never killed, with its whole history and nothing half-written left; one process
writes a run at a time.

The kills are real SIGKILLs, sent by the training process to itself at an exact moment: a small driver
(`KILLER`) wraps framecast's atomic writes and renames and kills the process at the N-th one, inside it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import stray_temporaries

TRAIN = ["train", "--model", "convlstm", "--preset", "tiny", "--epochs", "3", "--train-size", "8", "--val-size", "4",
         "--batch-size", "4", "--context", "3", "--horizon", "3", "-q"]  # fmt: skip

#: Runs `framecast ARGS`, killing itself (SIGKILL) at the KILL_AT-th file write or rename of a run (1-based):
#: while a temporary file is open and half-written, or right after a rename, wherever that moment falls.
KILLER = r"""
import os, signal, sys
from framecast import _fs, runfiles
at, count = int(os.environ["KILL_AT"]), [0]
def tick():
    count[0] += 1
    if count[0] == at:
        os.kill(os.getpid(), signal.SIGKILL)
atomic = _fs.atomic_path
class Dying:
    def __init__(self, target, suffix=None):
        self.inner = atomic(target, suffix)
    def __enter__(self):
        path = self.inner.__enter__()
        path.write_bytes(b"half")  # a half-written temporary, as a kill mid-write leaves it
        tick()
        return path
    def __exit__(self, *exc):
        return self.inner.__exit__(*exc)
_fs.atomic_path = Dying
rename = os.rename
def dying_rename(*a, **k):
    rename(*a, **k)
    tick()
runfiles.os.rename = dying_rename
from framecast.cli import main
main(sys.argv[1:])
"""


def train(home: Path, *args: str, kill_at: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "FRAMECAST_HOME": str(home), "OMP_NUM_THREADS": "1"}
    if kill_at is None:
        command = [sys.executable, "-m", "framecast", *args]
    else:
        command = [sys.executable, "-c", KILLER, *args]
        env["KILL_AT"] = str(kill_at)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def weights(run: Path) -> dict:
    return load_file(str(run / "last.safetensors"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("whole")
    done = train(home, *TRAIN, "--name", "run")
    assert done.returncode == 0, done.stderr
    return home / "data" / "runs" / "convlstm" / "run"


# the writes of this run: its first config, step 0's commit, then one commit per epoch (its files, then the
# pointer, then the published copies); these moments land in an epoch's commit and in publishing
@pytest.mark.parametrize("kill_at", [6, 12])  # benchmarks/bench_kill.py tries 20 moments
def test_a_kill_at_any_moment_resumes_to_the_same_weights(kill_at, tmp_path, uninterrupted) -> None:
    killed = train(tmp_path, *TRAIN, "--name", "run", kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    run = tmp_path / "data" / "runs" / "convlstm" / "run"
    resumed = train(tmp_path, "train", "--resume", "convlstm/run", "-q")
    assert resumed.returncode == 0, resumed.stderr
    # it says what it resumed from: a committed step, or the beginning for a run killed before its first commit
    said = resumed.stderr
    assert "resuming from the state committed at step" in said or "stopped before its first step" in said
    whole, again = weights(uninterrupted), weights(run)
    assert all((whole[k] == again[k]).all() for k in whole)  # bit for bit
    history = json.loads((run / "config.json").read_text())["history"]
    reference = json.loads((uninterrupted / "config.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert [h["val"]["mse"] for h in history] == [h["val"]["mse"] for h in reference]
    assert not stray_temporaries(run)


def test_a_second_writer_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path, uninterrupted) -> None:
    import shutil

    run = tmp_path / "data" / "runs" / "convlstm" / "run"
    shutil.copytree(uninterrupted, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "status": "interrupted"}))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from framecast.runfiles import RunLock\n"
         "with RunLock(sys.argv[1]): print('held', flush=True); time.sleep(120)", str(run)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        refused = train(tmp_path, "train", "--resume", "convlstm/run", "-q")
        assert refused.returncode == 2 and f"pid {holder.pid}" in refused.stderr, refused.stderr
        latest = train(tmp_path, "train", "--resume", "-q")  # a live run is not an unfinished one
        assert latest.returncode == 2 and "no unfinished" in latest.stderr
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    taken = train(tmp_path, "train", "--resume", "convlstm/run", "-q")  # the dead holder's lock is free again
    assert taken.returncode == 0, taken.stderr


def test_sigterm_ends_any_command_with_130(tmp_path) -> None:
    env = {**os.environ, "FRAMECAST_HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "framecast", "eval", "--baseline", "copy-last", "--split", "test"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(3)  # starting up or scoring: either way it ends the same
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "Error: interrupted" and "Traceback" not in err


SWALLOWING_IMPORT = """
import sys, time
print("importing", flush=True)
try:  # as some libraries' imports do: an interrupt inside them is lost
    time.sleep(30)
except KeyboardInterrupt:
    pass
"""

INSIDE_A_COMMAND = """
import sys
sys.path.insert(0, sys.argv[1])
import framecast.cli as cli
cli._running = True  # as while a command runs: an interrupt is raised where the command is
import swallowing  # a lazy import inside the command
print("went on", flush=True)
"""


def test_sigterm_inside_an_import_ends_the_command(tmp_path) -> None:
    (tmp_path / "swallowing.py").write_text(SWALLOWING_IMPORT)
    proc = subprocess.Popen(
        [sys.executable, "-c", INSIDE_A_COMMAND, str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout.readline().strip() == "importing"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "went on" not in out, (out, err)
    assert err.strip() == "Error: interrupted"


def test_a_run_killed_inside_its_first_write_is_started_again(tmp_path, uninterrupted) -> None:
    killed = train(tmp_path, *TRAIN, "--name", "run", kill_at=1)  # inside the write of its first config
    assert killed.returncode == -signal.SIGKILL
    refused = train(tmp_path, "train", "--resume", "convlstm/run", "-q")
    assert refused.returncode == 2 and "stopped before it recorded anything" in refused.stderr
    again = train(tmp_path, *TRAIN, "--name", "run")  # the same command, as the hint says: the name is free
    assert again.returncode == 0, again.stderr
    run = tmp_path / "data" / "runs" / "convlstm" / "run"
    whole, restarted = weights(uninterrupted), weights(run)
    assert all((whole[k] == restarted[k]).all() for k in whole)
    assert not stray_temporaries(run)
