"""DMVFN's speed beside a one-shot model, in one run, as ratios, on this machine.

- 10 predicted frames at 64x64 grey from 10 context frames, batch 1: the `small` dmvfn (two frames in, fed back
  ten times) against the `small` ViT with the residual and warp outputs (ten frames at once), the shape of
  framecast's natural-video checkpoints. Both are built untrained: the time of a forward does not depend on the
  weights (dmvfn's inference routing rule runs every block whose probability is at least 1/2; untrained, that is
  the same set as trained ones mostly run, so its time is the upper bound: every block).
- Next-frame latency of the `base` dmvfn (the published configuration) at 256x256 RGB on 2 CPU threads.

Medians of `--repeats` forwards after two warm-up ones, under torch.inference_mode.

Usage:
    python benchmarks/bench_dmvfn.py [--repeats 20] [--threads 2] [--out benchmarks/results/dmvfn-cpu.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def median_seconds(model: torch.nn.Module, context: torch.Tensor, horizon: int, repeats: int) -> float:
    times = []
    with torch.inference_mode():
        for i in range(repeats + 2):
            began = time.perf_counter()
            model(context, horizon)
            if i >= 2:
                times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    from framecast.devices import cpu_capability
    from framecast.models import create_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dmvfn-cpu.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    grey = torch.rand(1, 10, 1, 64, 64)
    dmvfn = create_model("dmvfn", "small").eval()
    vit = create_model("vit", "small", residual=True, warp=True).eval()
    small = {"dmvfn small": median_seconds(dmvfn, grey, 10, args.repeats)}
    small["vit small (residual, warp)"] = median_seconds(vit, grey, 10, args.repeats)
    base = create_model("dmvfn", "base", channels=3, height=256, width=256).eval()
    rgb = torch.rand(1, 2, 3, 256, 256)
    latency = median_seconds(base, rgb, 1, max(5, args.repeats // 2))
    result = {
        "machine": f"CPU ({cpu_capability()}), {args.threads} threads, torch {torch.__version__}",
        "ten_frames_64x64_grey_seconds": small,
        "dmvfn_over_vit": small["dmvfn small"] / small["vit small (residual, warp)"],
        "dmvfn_base_next_frame_256x256_rgb_seconds": latency,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, seconds in small.items():
        print(f"{name}: {seconds * 1e3:.1f} ms for 10 frames at 64x64 grey")
    print(f"dmvfn small / vit small: {result['dmvfn_over_vit']:.2f}x")
    print(f"dmvfn base, next frame at 256x256 RGB: {latency * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
