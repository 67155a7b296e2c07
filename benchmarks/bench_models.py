"""Speed of every model: one training step and one inference pass, per preset, precision and device.

A training step is what the trainer does: forward with scheduled sampling (teacher forcing 0.5; PredRNN-V2 also
with reverse scheduled sampling on the context), MSE loss (plus the context-frame loss and the decoupling loss
where the model leaves them), backward, AdamW step. Inference is a forward pass under `torch.inference_mode()`.
Both on batches of Moving-MNIST-shaped sequences (1x64x64 frames, 10 context + 10 predicted by default), in
fp32 and under bf16 autocast. Each figure is the median of `--repeats` timed runs after `--warmup` untimed
ones (oneDNN and cuDNN choose their kernels on the first calls).

Run from the repository root:

    python benchmarks/bench_models.py                    # small at batch 16, base at batch 4, CPU (+ CUDA)
    python benchmarks/bench_models.py --presets small --models convlstm,vit --repeats 10
    python benchmarks/bench_models.py --devices cuda --batch-base 16 --repeats-base 10

Results go to benchmarks/results/models-<device>.json (`--out`, where `{device}` is replaced).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from framecast.models import create_model, list_models

HERE = Path(__file__).resolve().parent


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, warmup: int, repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls of fn, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - started)
    return times


def bench_one(
    name: str,
    preset: str,
    precision: str,
    device: torch.device,
    *,
    batch: int,
    context: int,
    horizon: int,
    warmup: int,
    repeats: int,
) -> dict:
    """Time a training step and an inference pass of one model configuration."""
    torch.manual_seed(0)
    model = create_model(name, preset).to(device)
    cfg = model.config
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    frames = torch.rand(batch, context + horizon, cfg.channels, cfg.height, cfg.width, device=device)
    ctx, target = frames[:, :context], frames[:, context:]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    extra = {"context_teacher_forcing": 0.75} if getattr(cfg, "reverse_sampling", False) else {}

    def train_step() -> None:
        with autocast:
            pred = model(ctx, horizon, target=target, teacher_forcing=0.5, **extra)
        loss = F.mse_loss(pred.float(), target)
        if model.context_prediction is not None:
            loss = loss + F.mse_loss(model.context_prediction.float(), ctx[:, 1:])
        if model.aux_loss is not None:
            loss = loss + model.aux_loss.float()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def infer() -> None:
        with torch.inference_mode(), autocast:
            model(ctx, horizon)

    model.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    train = timed(train_step, device, warmup, repeats)
    train_peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    model.eval()
    infer_times = timed(infer, device, warmup, repeats)
    row = {
        "model": name,
        "preset": preset,
        "precision": precision,
        "device": str(device),
        "batch": batch,
        "params": sum(p.numel() for p in model.parameters()),
        "train_s": statistics.median(train),
        "infer_s": statistics.median(infer_times),
        "train_s_all": train,
        "infer_s_all": infer_times,
        "train_sequences_per_s": batch / statistics.median(train),
        "infer_sequences_per_s": batch / statistics.median(infer_times),
        "train_peak_bytes": train_peak,
    }
    return row


def machine_name(device: torch.device) -> str:
    """The device in words with the torch version (and CUDA's, or the CPU threads), for tables and JSON."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}, torch {torch.__version__}"
    threads = torch.get_num_threads()
    from framecast.devices import cpu_capability

    return (
        f"{os.cpu_count()}-core {platform.machine()} CPU ({cpu_capability()}), torch {torch.__version__}, "
        f"{threads} threads"
    )


def header(cuda: bool) -> str:
    line = f"{'model':11} {'preset':6} {'batch':>5} {'precision':9} {'train ms/step':>13} {'infer ms':>9}"
    line += f" {'train seq/s':>11} {'infer seq/s':>11}"
    return line + (f" {'train peak MB':>13}" if cuda else "")


def format_row(r: dict) -> str:
    line = (
        f"{r['model']:11} {r['preset']:6} {r['batch']:5d} {r['precision']:9} {1e3 * r['train_s']:13.0f}"
        f" {1e3 * r['infer_s']:9.0f} {r['train_sequences_per_s']:11.1f} {r['infer_sequences_per_s']:11.1f}"
    )
    if r["train_peak_bytes"] is not None:
        line += f" {r['train_peak_bytes'] / 1e6:13.0f}"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(list_models()), help="comma-separated (default: all)")
    parser.add_argument("--presets", default="small,base", help="comma-separated (default: small,base)")
    parser.add_argument("--precisions", default="fp32,bf16", help="fp32 and/or bf16 (autocast)")
    default_devices = "cpu,cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--devices", default=default_devices, help=f"comma-separated (default: {default_devices})")
    parser.add_argument("--batch-small", type=int, default=16, help="batch for tiny and small (default 16)")
    parser.add_argument("--batch-base", type=int, default=4, help="batch for base (default 4: a CPU-sized batch)")
    parser.add_argument("--context", type=int, default=10, help="context frames (default 10)")
    parser.add_argument("--horizon", type=int, default=10, help="predicted frames (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs for tiny and small (default 5)")
    parser.add_argument("--repeats-base", type=int, default=2, help="timed runs for base (default 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--out", default=str(HERE / "results" / "models-{device}.json"), help="JSON file; {device} is replaced"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    for device_name in args.devices.split(","):
        device = torch.device(device_name)
        load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
        started = time.perf_counter()
        print(f"{machine_name(device)}, {torch.get_num_threads()} torch threads; {args.context}+{args.horizon} frames")
        rows = []
        print(header(device.type == "cuda"), flush=True)
        for preset in args.presets.split(","):
            base = preset == "base"
            for name in args.models.split(","):
                for precision in args.precisions.split(","):
                    rows.append(
                        bench_one(
                            name,
                            preset,
                            precision,
                            device,
                            batch=args.batch_base if base else args.batch_small,
                            context=args.context,
                            horizon=args.horizon,
                            warmup=args.warmup,
                            repeats=args.repeats_base if base else args.repeats,
                        )
                    )
                    print(format_row(rows[-1]), flush=True)
                    gc.collect()  # the last model and its optimizer state go before the next is built
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
        print(
            f"medians of {args.repeats} (small) and {args.repeats_base} (base) runs; "
            f"{time.perf_counter() - started:.0f} s in all"
        )
        result = {
            "benchmark": "models",
            "command": "python "
            + " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])]),
            "machine": machine_name(device),
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "frames": {"context": args.context, "horizon": args.horizon, "channels": 1, "height": 64, "width": 64},
            "warmup": args.warmup,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "results": rows,
        }
        out = Path(args.out.replace("{device}", device.type))
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".tmp")  # renamed into place: never half a results file
        partial.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(partial, out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
