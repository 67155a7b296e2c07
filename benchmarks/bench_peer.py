"""framecast's models against OpenSTL's, side by side at the same configuration.

OpenSTL (github.com/chengtan9907/OpenSTL) is the reference most people train these models with. Point
`OPENSTL_SRC` at a checkout of it; this script loads the model and module files of the six families framecast
shares with it (ConvLSTM, PredRNN, PredRNN++, MIM, SimVP, TAU) straight from that folder, through the loader that
`scripts/check_openstl_import.py` uses (`scripts/openstl_reference.py`), without importing the rest of the
package. Nothing of it is copied here. Without `OPENSTL_SRC` only framecast's column is measured.

Both implementations get the same configuration, read off framecast's preset (recurrent families: layers, hidden
channels, kernel, patch; SimVP and TAU: encoder width and layers, translator width and depth, MLP ratio), the same
batch, frames (10 in, 10 out, 64x64x1), threads and precision, and the same inputs. They alternate in every round:
framecast, then OpenSTL, round after round, so that a change of machine load touches both alike, and each figure
is the median of the rounds.

- Training step: each side's own forward in training mode, an MSE loss, backward, AdamW step.
  Recurrent families: framecast runs its model as its trainer does (teacher forcing 0.5, MSE on the predicted
  frames). OpenSTL runs its model as its trainer does: the frames folded into patches (its `reshape_patch`, done
  in torch here), a scheduled-sampling mask of the same 0.5 (built once, outside the timing), and the MSE its
  model returns (over all 19 generated frames). SimVP and TAU (no recurrence, so no teacher forcing): both
  models map the 10 context frames to the 10 next in one pass, MSE against the target. TAU's differential
  divergence term is left out on both sides (OpenSTL adds it in its training method, not its model; framecast's
  model leaves it only when given the target, which it is not here), so both minimise the same MSE.
  `bf16` is autocast on framecast's side; on OpenSTL's it is reported two ways: fp32 (its trainer ignores its
  own mixed-precision flag), and with bf16 autocast applied by hand around its forward. `--precisions fp32`
  leaves bf16 out.
- Inference: the 10 frames after 10, framecast under `torch.inference_mode()` (as `eval` and `predict` run),
  OpenSTL under `torch.no_grad()` as its test loop runs it (no teacher forcing), at batch 16 and batch 1.
- Peak memory of a training step: on a GPU, `torch.cuda.max_memory_allocated`; on a CPU, the rise of the
  process's peak resident set over a step, each implementation measured in a fresh process of its own (see
  `peak_memory`).

Usage:
    OPENSTL_SRC=path/to/OpenSTL python benchmarks/bench_peer.py [--models simvp,tau] [--presets small,base]
        [--precisions fp32] [--threads 1] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from bench_models import machine_name, sync  # this folder: scripts run from it, or from the subprocesses below

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))  # OpenSTL's loader, shared with the check
from openstl_reference import (
    BLOCK_OPTIONS,
    CONTEXT,
    FAMILIES,
    HORIZON,
    RECURRENT,
    RECURRENT_OPTIONS,
    build_reference,
    fold,
    load_reference,
    reference_options,
    reference_predict,
)

from framecast.models.registry import create_model

HERE = Path(__file__).resolve().parent
MODELS = FAMILIES
SIZE = 64
TEACHER_FORCING = 0.5  # recurrent families only, on both sides


def settings(model: str, preset: str) -> dict:
    """The shared configuration, read off framecast's preset."""
    return reference_options(model, create_model(model, preset=preset).config)


class Ours:
    """framecast's model, run as its trainer and its eval run it."""

    name = "framecast"

    def __init__(self, model: str, preset: str, device: torch.device) -> None:
        self.model = create_model(model, preset=preset).to(device)

    def train_loss(self, context, target, precision):
        with torch.autocast(context.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            if self.model.recurrent:
                pred = self.model(context, HORIZON, target=target, teacher_forcing=TEACHER_FORCING)
            else:  # one pass for the 10 frames; without the target TAU leaves no differential divergence term
                pred = self.model(context, HORIZON)
        return torch.nn.functional.mse_loss(pred.float(), target)

    def infer(self, context, precision):
        with torch.inference_mode(), torch.autocast(context.device.type, torch.bfloat16, enabled=precision == "bf16"):
            return self.model(context, HORIZON)


class Peer:
    """OpenSTL's model at the same configuration, run as its trainer and its test loop run it."""

    name = "OpenSTL"

    def __init__(self, cls: type, family: str, s: dict, device: torch.device, hand_autocast: bool = False) -> None:
        self.family = family
        self.recurrent = family in RECURRENT
        self.patch = s.get("patch", 1)
        self.model = build_reference(cls, family, s, SIZE).to(device)
        self.hand_autocast = hand_autocast
        self.mask = None

    def _mask(self, batch: int, device: torch.device) -> torch.Tensor:
        if self.mask is None or self.mask.shape[0] != batch:
            p = self.patch
            g = torch.Generator().manual_seed(0)
            keep = (torch.rand(batch, HORIZON - 1, 1, 1, 1, generator=g) < TEACHER_FORCING).float()
            self.mask = keep.expand(-1, -1, SIZE // p, SIZE // p, p * p).contiguous().to(device)
        return self.mask

    def train_loss(self, context, target, precision):
        autocast = torch.autocast(
            context.device.type, torch.bfloat16, enabled=precision == "bf16" and self.hand_autocast
        )
        if not self.recurrent:  # SimVP's training method: the model's 10 frames, MSE against the target
            with autocast:
                pred = self.model(context)
            return torch.nn.functional.mse_loss(pred.float(), target)
        frames = fold(torch.cat([context, target], 1), self.patch)
        with autocast:
            _, loss = self.model(frames, self._mask(len(frames), frames.device))
        return loss.float()

    def infer(self, context, precision):
        for m in self.model.modules():  # OpenSTL's MIM blocks carry a cell state (detached) from call to call
            carried = getattr(m, "convlstm_c", None)
            if carried is not None and carried.shape[0] != len(context):
                m.convlstm_c = None  # a new batch size: start it again, as a fresh model would
        with torch.autocast(context.device.type, torch.bfloat16, enabled=precision == "bf16"):
            return reference_predict(self.model, self.family, context, self.patch)  # under torch.no_grad()


def inputs(batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    import numpy as np

    from framecast.data.mnist import load_digits
    from framecast.data.moving_mnist import generate

    digits = load_digits().train
    clips = generate(digits, batch, frames=CONTEXT + HORIZON, rng=np.random.default_rng(0))  # uint8 (N, T, H, W)
    x = torch.from_numpy(clips).float().div_(255).unsqueeze(2).to(device)
    return x[:, :CONTEXT].contiguous(), x[:, CONTEXT:].contiguous()


def rounds(contenders: dict, fn, device: torch.device, warmup: int, repeats: int) -> dict[str, list[float]]:
    """Alternate the contenders: every round times each once, in turn."""
    for _ in range(warmup):
        for c in contenders.values():
            fn(c)
    sync(device)
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeats):
        for k, c in contenders.items():
            sync(device)
            t = time.perf_counter()
            fn(c)
            sync(device)
            times[k].append(time.perf_counter() - t)
    return times


def train_step(c, context, target, precision) -> None:
    opt = c.__dict__.setdefault("opt", torch.optim.AdamW(c.model.parameters(), lr=1e-4))
    opt.zero_grad(set_to_none=True)
    c.train_loss(context, target, precision).backward()
    opt.step()


def bench(model: str, preset: str, batch: int, device: torch.device, peer_cls, args) -> dict:
    s = settings(model, preset)
    torch.manual_seed(0)
    context, target = inputs(batch, device)
    row: dict = {"model": model, "preset": preset, "batch": batch, **s}
    # Training: framecast fp32, framecast bf16, OpenSTL fp32, OpenSTL with bf16 autocast by hand, alternating.
    bf16 = "bf16" in args.precisions.split(",")
    contenders = {"framecast fp32": (Ours(model, preset, device), "fp32")}
    if bf16:
        contenders["framecast bf16"] = (Ours(model, preset, device), "bf16")
    if peer_cls is not None:
        contenders["OpenSTL fp32"] = (Peer(peer_cls, model, s, device), "fp32")
        if bf16:
            contenders["OpenSTL bf16 by hand"] = (Peer(peer_cls, model, s, device, hand_autocast=True), "bf16")
    if args.compile:  # `train --compile`: the first step compiles, and its time is reported apart
        compiled = Ours(model, preset, device)
        compiled.model = torch.compile(compiled.model)
        began = time.perf_counter()
        train_step(compiled, context, target, "fp32")
        sync(device)
        row["compile_s"] = time.perf_counter() - began
        contenders["framecast fp32 compiled"] = (compiled, "fp32")
    row["parameters"] = {k: sum(p.numel() for p in c.model.parameters()) for k, (c, _) in contenders.items()}
    for c, _ in contenders.values():
        c.model.train()
    t = rounds(contenders, lambda cp: train_step(cp[0], context, target, cp[1]), device, args.warmup, args.repeats)
    row["train_s"] = {k: statistics.median(v) for k, v in t.items()}
    row["train_rounds_s"] = t
    # Inference at batch 16 and 1, fp32 and bf16 on both sides.
    for c, _ in contenders.values():
        c.model.eval()
    row["infer_s"] = {}
    for b in (batch, 1):
        ctx = context[:b].contiguous()
        precisions = ("fp32", "bf16") if bf16 else ("fp32",)
        pairs = {f"{k.split()[0]} {p}": (c, p) for p in precisions for k, (c, cp) in contenders.items()
                 if cp == "fp32" and "compiled" not in k}  # fmt: skip
        t = rounds(pairs, lambda cp, ctx=ctx: cp[0].infer(ctx, cp[1]), device, args.warmup, args.repeats)
        row["infer_s"][str(b)] = {k: statistics.median(v) for k, v in t.items()}
    return row


def peak_memory(model: str, preset: str, batch: int, device: str, who: str) -> float:
    """MB a training step takes at its peak above what the process held before, in a fresh process.

    On a GPU: the allocator's peak over a step. On a CPU: after one step (optimizer state, kernels), the peak
    resident set (VmHWM, reset through /proc/self/clear_refs) of a second step above the resident set before it,
    with glibc told to map every block of 128 KB or more on its own (`MALLOC_MMAP_THRESHOLD_`), so that freed
    tensors leave the resident set at once and the peak is that of the tensors alive together.
    """
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import bench_peer as b; b.measure_memory" + repr(
        (model, preset, batch, device, who)
    )
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(done.stderr)
    return float(done.stdout.strip().splitlines()[-1])


def measure_memory(model: str, preset: str, batch: int, device: str, who: str) -> None:
    dev = torch.device(device)
    context, target = inputs(batch, dev)
    if who == "framecast":
        c = Ours(model, preset, dev)
    else:
        c = Peer(load_reference(Path(os.environ["OPENSTL_SRC"]))[model], model, settings(model, preset), dev)
    c.model.train()
    train_step(c, context, target, "fp32")  # a first step: optimizer state, kernels and their buffers
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        train_step(c, context, target, "fp32")
        torch.cuda.synchronize()
        print((torch.cuda.max_memory_allocated() - base) / 2**20)
        return

    def status(key: str) -> float:  # MB, from the kernel's account of this process
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak resident set (VmHWM) to the current one
    before = status("VmRSS")
    train_step(c, context, target, "fp32")
    print(status("VmHWM") - before)


def ratio(a: float, b: float) -> str:
    return f"{b / a:.2f}x"


def print_row(r: dict) -> None:
    t = r["train_s"]
    shared = ", ".join(f"{k.replace('_', ' ')} {r[k]}" for k in (*RECURRENT_OPTIONS, *BLOCK_OPTIONS) if k in r)
    print(f"\n{r['model']} {r['preset']} ({shared}), batch {r['batch']}; parameters {r['parameters']}")
    print("  train step: " + ", ".join(f"{k} {v:.3f} s" for k, v in t.items()))
    if "OpenSTL fp32" in t:
        print(f"    framecast fp32 vs OpenSTL fp32: {ratio(t['framecast fp32'], t['OpenSTL fp32'])}")
    if "OpenSTL bf16 by hand" in t:
        print(f"    framecast bf16 vs OpenSTL fp32: {ratio(t['framecast bf16'], t['OpenSTL fp32'])}; "
              f"vs OpenSTL bf16 by hand: {ratio(t['framecast bf16'], t['OpenSTL bf16 by hand'])}")  # fmt: skip
    if "compile_s" in r:
        print(f"    torch.compile: {r['compile_s']:.0f} s to compile (the first step)")
    for b, inf in r["infer_s"].items():
        line = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in inf.items())
        print(f"  inference, batch {b}: {line}")
        if "OpenSTL fp32" in inf:
            print(f"    fp32 {ratio(inf['framecast fp32'], inf['OpenSTL fp32'])}")
        if "OpenSTL bf16" in inf:
            print(f"    bf16 {ratio(inf['framecast bf16'], inf['OpenSTL bf16'])}, framecast bf16 vs OpenSTL fp32 "
                  f"{ratio(inf['framecast bf16'], inf['OpenSTL fp32'])}")  # fmt: skip
    if "memory_mb" in r:
        print("  peak memory of a training step: " + ", ".join(f"{k} {v:.0f} MB" for k, v in r["memory_mb"].items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--presets", default="small", help="comma-separated framecast presets (default small)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--precisions", default="fp32,bf16", help="fp32, or fp32,bf16 (default: both)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--compile", action="store_true", help="add framecast's training step under torch.compile")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default results/peer-<device>.json)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    source = os.environ.get("OPENSTL_SRC")
    print(f"machine: {machine_name(device)}; OpenSTL: {source or 'not given (set OPENSTL_SRC)'}")
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    classes = load_reference(Path(source)) if source else {}
    rows = []
    for model in args.models.split(","):
        peer_cls = classes.get(model)
        for preset in args.presets.split(","):
            row = bench(model, preset, args.batch, device, peer_cls, args)
            if not args.no_memory:
                row["memory_mb"] = {"framecast fp32": peak_memory(model, preset, args.batch, args.device, "framecast")}
                if source:
                    row["memory_mb"]["OpenSTL fp32"] = peak_memory(model, preset, args.batch, args.device, "OpenSTL")
            print_row(row)
            rows.append(row)
    out = args.out or HERE / "results" / f"peer-{device.type}.json"
    document = {"machine": machine_name(device), "openstl": bool(source), "command": " ".join(sys.argv)}
    document["load_average_before"] = load_before  # of the whole machine: other jobs' load shows here
    document["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    document["rows"] = rows
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
