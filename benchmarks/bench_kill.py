"""Kill a training at 20 moments spread over a run, resume each, and check every one ends bit-identical.

A run's commits (step 0, then one per epoch) each write several files and rename a generation into place; the
moments are spread over all of them: inside every file write (a temporary open and half-written), right after
every rename. The kill is a real SIGKILL the process sends itself at that moment (the same driver as
tests/test_transactions.py). For each trial: the killed run is resumed with `framecast train --resume`, and its
final weights and history are compared with an uninterrupted run's; no temporary may be left. A run killed inside
its very first write (its config, before it has recorded anything) cannot be resumed, and `--resume` says so:
that trial runs the original command again, as the message tells a user to. The time lost
per kill is the killed run's wall time plus the resume's, minus an uninterrupted run's.

Usage:
    python benchmarks/bench_kill.py [--trials 20] [--out benchmarks/results/kill.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN = ["train", "--model", "convlstm", "--preset", "tiny", "--epochs", "4", "--train-size", "16",
         "--val-size", "4", "--batch-size", "4", "--context", "4", "--horizon", "4", "-q", "--name", "run"]  # fmt: skip
sys.path.insert(0, str(HERE.parent / "tests"))
from test_transactions import KILLER  # noqa: E402  (the one driver of kills, shared with the test)

COUNTER = KILLER.replace('at, count = int(os.environ["KILL_AT"]), [0]', "at, count = -1, [0]").replace(
    "main(sys.argv[1:])",
    "import atexit\natexit.register(lambda: print('writes', count[0], file=sys.stderr))\nmain(sys.argv[1:])",
)


def run(home: Path, args: list[str], driver: str | None = None, kill_at: int | None = None):
    env = {**os.environ, "FRAMECAST_HOME": str(home), "OMP_NUM_THREADS": "1"}
    if kill_at is not None:
        env["KILL_AT"] = str(kill_at)
    command = [sys.executable, "-c", driver, *args] if driver else [sys.executable, "-m", "framecast", *args]
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    return done, time.perf_counter() - began


def final(home: Path) -> tuple[dict, list]:
    from safetensors.torch import load_file

    run_dir = home / "data" / "runs" / "convlstm" / "run"
    history = json.loads((run_dir / "config.json").read_text())["history"]
    return load_file(str(run_dir / "last.safetensors")), [(h["epoch"], h["val"]["mse"]) for h in history]


def trial(kill_at: int, reference: tuple[dict, list], whole_s: float) -> dict:
    with tempfile.TemporaryDirectory() as home:
        home = Path(home)
        killed, killed_s = run(home, TRAIN, KILLER, kill_at)
        resumed, resumed_s = run(home, ["train", "--resume", "convlstm/run", "-q"])
        restarted = resumed.returncode == 2 and "stopped before it recorded anything" in resumed.stderr
        if restarted:  # killed inside its very first write: nothing recorded, so the command is run again
            resumed, again_s = run(home, TRAIN)
            resumed_s += again_s
        ok = killed.returncode == -9 and resumed.returncode == 0
        weights, history = final(home) if ok else ({}, [])
        same = ok and all((weights[k] == reference[0][k]).all() for k in reference[0]) and history == reference[1]
        leftovers = [p.name for p in (home / "data" / "runs").rglob("*") if ".tmp" in p.name]
        return {
            "kill_at": kill_at,
            "killed_exit": killed.returncode,
            "resumed_exit": resumed.returncode,
            "restarted": restarted,
            "identical": bool(same),
            "leftovers": leftovers,
            "lost_s": killed_s + resumed_s - whole_s,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "kill.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        counted, whole_s = run(Path(home), TRAIN, COUNTER)
        writes = int(counted.stderr.strip().splitlines()[-1].split()[-1])
        reference = final(Path(home))
    moments = sorted({max(1, round(1 + i * (writes - 1) / (args.trials - 1))) for i in range(args.trials)})
    trials = [trial(k, reference, whole_s) for k in moments]
    result = {
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU, Python {platform.python_version()}",
        "run": "framecast " + " ".join(TRAIN),
        "writes_per_run": writes,
        "uninterrupted_s": whole_s,
        "trials": trials,
        "identical": sum(t["identical"] and not t["leftovers"] for t in trials),
        "median_lost_s": statistics.median(t["lost_s"] for t in trials),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['identical']}/{len(trials)} trials resumed bit-identical with nothing left behind; "
        f"median time lost per kill {result['median_lost_s']:.1f} s (an uninterrupted run: {whole_s:.1f} s)"
    )


if __name__ == "__main__":
    main()
