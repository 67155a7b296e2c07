"""What a user waits for outside the model: start-up, a whole `predict`, data generation, data loading.

- `framecast --help`: wall time of the whole process, as a shell runs it (median of `--repeats`).
- `framecast predict CLIP --model convlstm` on a 64x64 clip (an mp4 of a generated Moving MNIST sequence,
  written first) with the `small` checkpoint that ships in the package: wall time of the whole process, torch
  import and checkpoint load included, in an empty home.
- Moving MNIST generation: sequences of 20 frames per second on one thread, in batches as training draws them.
- Data loading during training: the share of step time spent waiting for data, as `framecast train` measures
  it (`data_wait_share` in the run's config.json), over a short `small` ConvLSTM run.
- `framecast eval` memory: the peak resident set of the whole process scoring `--limit` 256, 1,024 and 4,096 test
  sequences with the shipped `small` ConvLSTM, and copy-last. framecast streams the metrics batch by batch, so
  the peak should not grow with the data. (OpenSTL's test loop keeps the inputs, predictions and truths of
  every batch and concatenates them at the end: 3 x 10 x 64 x 64 float32 per sequence, 480 KiB, twice over
  while concatenating.)

Usage:
    python benchmarks/bench_cli.py [--repeats 7] [--parts timing,eval] [--out benchmarks/results/cli.json]
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
EVAL_SIZES = (256, 1024, 4096)


def wall(command: list[str], env: dict[str, str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - began)
    return times


def peak_rss_mb(command: list[str], env: dict[str, str]) -> float:
    """Peak resident set of `command`, run as the only child of a fresh interpreter."""
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    done = subprocess.run([sys.executable, "-c", probe, *command], env=env, check=True, capture_output=True, text=True)
    return float(done.stdout.strip())


def generation_rate(seconds: float = 3.0, batch: int = 256) -> float:
    """Sequences of 20 64x64 frames per second, on one thread, from the package's digits."""
    import numpy as np
    import torch

    from framecast.data.mnist import load_digits
    from framecast.data.moving_mnist import generate

    torch.set_num_threads(1)
    digits = load_digits().train
    rng = np.random.default_rng(0)
    generate(digits, batch, frames=20, rng=rng)  # warm-up
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        generate(digits, batch, frames=20, rng=rng)
        done += batch
    return done / (time.perf_counter() - began)


PARTS = ("timing", "eval")


def measure_timing(exe: list[str], env: dict[str, str], tmp: Path, args: argparse.Namespace) -> dict:
    import imageio.v3 as iio
    import numpy as np

    from framecast.data.mnist import load_digits
    from framecast.data.moving_mnist import generate

    results: dict = {}
    frames = generate(load_digits().test, 1, frames=20, rng=np.random.default_rng(1))[0]  # a 64x64 clip, 20 frames
    clip = tmp / "clip.mp4"
    iio.imwrite(clip, np.repeat(frames[..., None], 3, axis=-1), fps=10, codec="libx264")
    help_s = wall([*exe, "--help"], env, args.repeats)
    predict_s = wall([*exe, "predict", str(clip), "--model", "convlstm", "-o", str(tmp / "out.gif")], env, args.repeats)
    import_s = wall([sys.executable, "-c", "import torch"], env, args.repeats)  # where a predict's time goes
    results["help_s"] = {"median": statistics.median(help_s), "runs": help_s}
    results["predict_s"] = {"median": statistics.median(predict_s), "runs": predict_s}
    results["import_torch_s"] = {"median": statistics.median(import_s), "runs": import_s}
    rates = [generation_rate() for _ in range(3)]
    results["generation_seq_per_s"] = {"median": statistics.median(rates), "runs": rates}
    subprocess.run(
        [*exe, "train", "--model", "convlstm", "--preset", "small", "--max-steps", str(args.train_steps),
         "--train-size", str(16 * args.train_steps), "--val-size", "16", "--epochs", "1", "--name", "bench", "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    epoch = json.loads((tmp / "home/data/runs/convlstm/bench/config.json").read_text())["history"][-1]
    results["data_wait_share"] = epoch["data_wait_share"]
    results["train_steps_per_second"] = epoch["steps_per_second"]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--train-steps", type=int, default=40, help="steps of the data-loading run (default 40)")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="timing (needs a quiet machine), eval (memory); default both"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cli.json")
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    exe = [sys.executable, "-m", "framecast"]
    # a part measured alone updates its figures in an existing results file and keeps the others
    results: dict = json.loads(args.out.read_text()) if args.out.is_file() and set(parts) != set(PARTS) else {}
    results["machine"] = f"{os.cpu_count()}-core {platform.machine()} CPU"
    results.setdefault("commands", {})
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FRAMECAST_HOME": str(Path(tmp) / "home"), "FRAMECAST_OFFLINE": "1"}
        if "timing" in parts:
            results.update(measure_timing(exe, env, Path(tmp), args))
            results["commands"]["timing"] = " ".join(sys.argv)
        if "eval" in parts:
            score = [*exe, "eval", "--model", "convlstm", "--split", "test", "--baseline", "copy-last", "--json"]
            results["eval_peak_mb"] = {str(n): peak_rss_mb([*score, "--limit", str(n)], env) for n in EVAL_SIZES}
            results["commands"]["eval"] = " ".join(sys.argv)
    print(f"machine: {results['machine']}")
    if "help_s" in results:
        print(f"framecast --help:            {results['help_s']['median']:.3f} s wall (median of {args.repeats})")
        print(f"framecast predict (64x64):   {results['predict_s']['median']:.2f} s wall, of which importing torch "
              f"alone takes {results['import_torch_s']['median']:.2f} s")  # fmt: skip
        print(f"Moving MNIST generation:     {results['generation_seq_per_s']['median']:,.0f} sequences/s, one thread")
        print(f"data loading while training: {100 * results['data_wait_share']:.2f}% of step time waiting for data "
              f"(convlstm small, batch 16, {results['train_steps_per_second']:.2f} steps/s)")  # fmt: skip
    if "eval_peak_mb" in results:
        peaks = ", ".join(f"{v:.0f} MB for {int(k):,}" for k, v in results["eval_peak_mb"].items())
        print(f"eval peak memory:            {peaks} sequences (OpenSTL's test loop keeps 480 KiB per sequence, "
              f"{EVAL_SIZES[-1] * 480 / 1024:,.0f} MB of arrays for {EVAL_SIZES[-1]:,})")  # fmt: skip
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
