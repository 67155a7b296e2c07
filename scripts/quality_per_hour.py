"""Quality per CPU hour: every family's `small` preset trained for the same time on generated Moving MNIST.

`run` trains each family with `framecast train --time-limit`, `--jobs` at a time with one torch thread each (so
that every run has one core and shares the machine the same way), then scores its best checkpoint on the
generated test split with the zeros and copy-last baselines on the very same sequences. Each run leaves its
`framecast train --json` and `framecast eval --json` outputs in `--out`. `table` reads them back and prints the
results page's table, best test MSE first, and writes them together as one JSON file.

Usage:
    python scripts/quality_per_hour.py run --digits ../shared/data/mnist_digits.npz --minutes 25 --out results/
    python scripts/quality_per_hour.py table --out results/ [--json docs/pages/assets/quality-per-hour.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

FAMILIES = ("convlstm", "mim", "predrnn", "predrnn++", "predrnn-v2", "simvp", "tau", "vit", "dmvfn")
RUN_NAME = "hour-small"


def train_args(family: str, digits: str, minutes: float) -> list[str]:
    return [
        "train", "--model", family, "--preset", "small", "--digits", digits, "--time-limit", f"{minutes:g}m",
        "--train-size", "1600", "--val-size", "256", "--batch-size", "16", "--name", RUN_NAME, "--json",
    ]  # fmt: skip


def eval_args(run: str, digits: str) -> list[str]:
    return [
        "eval", "--checkpoint", f"{run}/best.safetensors", "--split", "test", "--limit", "1000",
        "--digits", digits, "--baseline", "zeros,copy-last", "--json",
    ]  # fmt: skip


def framecast(args: list[str], out: Path) -> dict:
    """Run one framecast command on one thread; its JSON output is kept in `out` and returned."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "framecast", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"framecast {' '.join(args[:3])} failed:\n{done.stderr}")
    out.write_text(done.stdout)
    return json.loads(done.stdout)


def run_family(family: str, digits: str, minutes: float, out: Path) -> None:
    trained = framecast(train_args(family, digits, minutes), out / f"{family}-train.json")
    framecast(eval_args(trained["run"], digits), out / f"{family}-eval.json")
    print(f"{family}: {trained['steps']} steps, done", flush=True)


def run(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    queue, lock = list(args.families), threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                family = queue.pop(0)
            run_family(family, args.digits, args.minutes, args.out)

    workers = [threading.Thread(target=worker) for _ in range(args.jobs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def rows(out: Path) -> list[dict]:
    """One record per family that has both outputs: its training and its test scores beside the baselines'."""
    found = []
    for family in FAMILIES:
        train_file, eval_file = out / f"{family}-train.json", out / f"{family}-eval.json"
        if not (train_file.exists() and eval_file.exists()):
            continue
        trained, scored = json.loads(train_file.read_text()), json.loads(eval_file.read_text())
        results = scored["results"]
        found.append(
            {
                "model": family,
                "parameters": trained["parameters"],
                "steps": trained["steps"],
                "sequences_seen": trained["steps"] * trained["effective_batch_size"],
                "train_seconds": trained["train_seconds"],
                "best_epoch": trained["best"]["epoch"],
                "epochs": trained["epochs"],
                "test": results[family]["rollout"],
                "zeros": results["zeros"]["rollout"],
                "copy_last": results["copy-last"]["rollout"],
                "test_sequences": scored["sequences"],
            }
        )
    return sorted(found, key=lambda r: r["test"]["mse"])


def _scores(s: dict, zeros_mse: float) -> str:
    return (
        f"{s['mse']:.1f} | {s['mse'] / zeros_mse:.2f} | {s['mae']:.1f} | {s['psnr']:.2f} | {s['ssim']:.4f} | "
        f"{s['accuracy']:.4f}"
    )


def table(args: argparse.Namespace) -> None:
    found = rows(args.out)
    if not found:
        raise SystemExit(f"no results in {args.out}")
    print(
        "| model | parameters | steps | sequences seen | seconds a step | best epoch | test MSE | MSE / zeros' "
        "| MAE | PSNR | SSIM | accuracy |"
    )
    print("| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |")
    zeros = found[0]["zeros"]
    for r in found:
        pace = r["train_seconds"] / r["steps"]
        print(
            f"| {r['model']} | {r['parameters']:,} | {r['steps']:,} | {r['sequences_seen']:,} | {pace:.2f} | "
            f"{r['best_epoch']} of {r['epochs']} | {_scores(r['test'], zeros['mse'])} |"
        )
    for name, key in (("zeros (blank frames)", "zeros"), ("copy-last", "copy_last")):
        print(f"| {name} | | | | | | {_scores(found[0][key], zeros['mse'])} |")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(found, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run", help="train and score every family")
    go.add_argument("--digits", required=True, help="MNIST digits (.npz or idx folder) for generated Moving MNIST")
    go.add_argument("--minutes", type=float, default=25.0)
    go.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    go.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    go.add_argument("--out", type=Path, required=True)
    show = sub.add_parser("table", help="print the table of what `run` left")
    show.add_argument("--out", type=Path, required=True)
    show.add_argument("--json", type=Path, help="also write every record to this JSON file")
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    else:
        table(args)


if __name__ == "__main__":
    main()
