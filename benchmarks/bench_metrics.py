"""Speed of framecast's metrics in torch against a per-frame scikit-image loop, with the values compared.

Frames are 64x64 Moving-MNIST-like pairs built from real MNIST digits (the shared test data): targets with two
digits pasted at random offsets, predictions with the same digits a few pixels off, dimmer, and noisy.

- torch: every frame in one call (the function works through them in cache-sized chunks);
- scikit-image: a Python loop over float32 frames, `structural_similarity(a, b, data_range=1)` (and for "all six
  metrics" also `peak_signal_noise_ratio` and numpy sums for MSE and MAE), timed on the first `--skimage-frames`
  frames and scaled linearly to the full count (a per-frame loop costs the same for every frame, so the scaling
  is fair and saves minutes).

The two sides alternate within each of `--repeats` rounds, so a change in the machine's load touches both; the
table gives medians. Values are compared with scikit-image on float64 frames.

Run from the repository root:

    python benchmarks/bench_metrics.py                      # 10,000 frames, writes benchmarks/results/metrics.json
    python benchmarks/bench_metrics.py --frames 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from framecast import metrics

HERE = Path(__file__).resolve().parent
SHARED_DATA = HERE.parent.parent / "shared" / "data"


def digit_frames(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, size, size) float32 predictions and targets in [0, 1], made of real MNIST digits."""
    with np.load(SHARED_DATA / "mnist_digits.npz") as d:
        digits = d["test"].astype(np.float32) / 255.0
    rng = np.random.default_rng(seed)
    target = np.zeros((n, size, size), np.float32)
    pred = np.zeros((n, size, size), np.float32)
    span = size - 28 + 1
    for i in range(n):
        for k in (2 * i, 2 * i + 1):
            digit = digits[k % len(digits)]
            y, x = rng.integers(0, span, size=2)
            y2, x2 = np.clip(np.array([y, x]) + rng.integers(-3, 4, size=2), 0, span - 1)
            np.maximum(target[i, y : y + 28, x : x + 28], digit, out=target[i, y : y + 28, x : x + 28])
            np.maximum(pred[i, y2 : y2 + 28, x2 : x2 + 28], 0.8 * digit, out=pred[i, y2 : y2 + 28, x2 : x2 + 28])
    pred = np.clip(pred + rng.normal(0.0, 0.05, pred.shape).astype(np.float32), 0.0, 1.0)
    return pred, target


def interleaved(pairs: dict[str, tuple], repeats: int, sync) -> dict[str, dict[str, list[float]]]:
    """Seconds per call of each (torch, scikit-image) pair, alternating within each round so that a change in
    the machine's load touches both sides alike; one warm-up round first."""
    times: dict[str, dict[str, list[float]]] = {name: {"torch": [], "skimage": []} for name in pairs}
    for round_ in range(repeats + 1):
        for name, (ours, theirs) in pairs.items():
            for side, fn, after in (("torch", ours, sync), ("skimage", theirs, lambda: None)):
                started = time.perf_counter()
                fn()
                after()
                if round_:
                    times[name][side].append(time.perf_counter() - started)
    return times


def skimage_ssim(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.array([structural_similarity(t, p, data_range=1) for p, t in zip(pred, target, strict=True)])


def skimage_all(pred: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    out: dict[str, list[float]] = {name: [] for name in metrics.METRICS}
    for p, t in zip(pred, target, strict=True):
        diff = p - t
        se, ae = float(np.square(diff).sum()), float(np.abs(diff).sum())
        out["mse"].append(se)
        out["mse_pixel"].append(se / diff.size)
        out["mae"].append(ae)
        out["mae_pixel"].append(ae / diff.size)
        out["psnr"].append(min(peak_signal_noise_ratio(t, p, data_range=1), metrics.PSNR_CAP))
        out["ssim"].append(structural_similarity(t, p, data_range=1))
    return {name: np.array(values) for name, values in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=10_000, help="frames scored by torch (default 10,000)")
    parser.add_argument("--skimage-frames", type=int, default=1_000, help="frames timed with scikit-image")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (after one warm-up round)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "metrics.json", help="JSON results file")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None

    pred_np, target_np = digit_frames(args.frames)
    # (B, T, C, H, W) as the library sees a batch: 1,000 sequences of 10 frames for 10,000 frames
    t = 10 if args.frames % 10 == 0 else 1
    pred = torch.from_numpy(pred_np).reshape(-1, t, 1, 64, 64).to(device)
    target = torch.from_numpy(target_np).reshape(-1, t, 1, 64, 64).to(device)
    k = min(args.skimage_frames, args.frames)
    # scikit-image is timed on float32 frames, as a torch user would hand them over (it is faster on them than
    # on float64), and checked on float64 frames, where it is most exact
    p32, t32 = pred_np[:k], target_np[:k]
    p64, t64 = p32.astype(np.float64), t32.astype(np.float64)

    times = interleaved(
        {
            "ssim": (lambda: metrics.ssim(pred, target), lambda: skimage_ssim(p32, t32)),
            "all six metrics": (lambda: metrics.frame_metrics(pred, target), lambda: skimage_all(p32, t32)),
        },
        args.repeats,
        sync,
    )

    # the same values: torch on all frames, scikit-image on the frames it was timed on
    ours = {name: v.reshape(-1)[:k].double().cpu().numpy() for name, v in metrics.frame_metrics(pred, target).items()}
    reference = skimage_all(p64, t64)
    max_diff = {name: float(np.abs(ours[name] - reference[name]).max()) for name in metrics.METRICS}
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None

    scale = args.frames / k
    rows = []
    for label, pair in times.items():
        torch_s = statistics.median(pair["torch"])
        sk_s = statistics.median(pair["skimage"])
        rows.append(
            {
                "what": label,
                "torch_s": torch_s,
                "skimage_s_scaled": sk_s * scale,
                "skimage_s_measured": sk_s,
                "speedup": sk_s * scale / torch_s,
                "speedup_per_round": [s * scale / t for s, t in zip(pair["skimage"], pair["torch"], strict=True)],
                "torch_us_per_frame": 1e6 * torch_s / args.frames,
                "skimage_us_per_frame": 1e6 * sk_s / k,
                "torch_s_all_rounds": pair["torch"],
                "skimage_s_all_rounds": pair["skimage"],
            }
        )
    machine = f"{os.cpu_count()}-core {platform.machine()} CPU, torch {torch.__version__}"
    if device.type == "cuda":
        machine = f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    print(f"{args.frames:,} frames of 64x64 on {device} ({machine}); on a CPU, both sides use one thread")
    print(f"scikit-image timed on {k:,} frames and scaled x{scale:g}; medians of {args.repeats} rounds")
    print(f"{'':18} {'torch s':>9} {'skimage s':>10} {'speedup':>8} {'torch us/frame':>15} {'skimage us/frame':>17}")
    for row in rows:
        print(
            f"{row['what']:18} {row['torch_s']:9.3f} {row['skimage_s_scaled']:10.2f} {row['speedup']:7.1f}x"
            f" {row['torch_us_per_frame']:15.1f} {row['skimage_us_per_frame']:17.1f}"
        )
    print("largest difference from scikit-image/numpy: " + ", ".join(f"{n} {v:.1e}" for n, v in max_diff.items()))

    result = {
        "benchmark": "metrics",
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine,
        "device": str(device),
        "threads": "one CPU thread on both sides: framecast.metrics runs on one thread, scikit-image loops in Python",
        "python": platform.python_version(),
        "frames": args.frames,
        "frame_size": [64, 64],
        "skimage_frames_timed": k,
        "skimage_scale": scale,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "results": rows,
        "max_abs_diff_vs_skimage": max_diff,
        "agree_within_1e-4": all(v <= 1e-4 for v in max_diff.values() if v == v),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".tmp")  # renamed into place: never half a results file
    partial.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(partial, args.out)
    print(f"wrote {args.out}")
    return 0 if result["agree_within_1e-4"] else 1


if __name__ == "__main__":
    sys.exit(main())
