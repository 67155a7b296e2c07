"""Several models on exactly the same sequences: `framecast compare`.

Every model (and the naive baselines) sees the same sequences of one fixed split, in the same order, batch by
batch in one pass, so differences in the scores come from the models alone. Beside the metrics of
:mod:`framecast.metrics`, each row carries what a model costs:

- parameters: every element of the model's parameters;
- FLOPs per sequence: counted by :class:`torch.utils.flop_counter.FlopCounterMode` on one sequence of the
  comparison's context and horizon at the data's frame size, with the model rebuilt on the meta device so that
  attention is counted too (a multiply-add counts as 2 FLOPs; only matrix products, convolutions and attention
  are counted, which is where nearly all of the work is), as `framecast models` counts them;
- inference time per sequence: the median of several one-sequence forwards, after warm-up ones, under
  ``torch.inference_mode`` (the device is synchronised before the clock stops);
- peak memory of a one-sequence forward, beyond what was allocated before it (so the weights are not in it).
  On CUDA, ``torch.cuda.max_memory_allocated``; on a Linux CPU, the growth of the process's peak resident
  memory (``VmHWM``, reset through ``/proc/self/clear_refs`` after ``malloc_trim`` hands freed memory back),
  which counts every buffer the forward touches, the library's scratch space included. Elsewhere it is not
  measured (None).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from framecast.errors import InputError, UsageError

#: Sequences compared when no limit is given: enough for steady averages, quick on a CPU.
DEFAULT_LIMIT = 256
#: One-sequence forwards run before the clock starts, and timed ones whose median is reported.
WARMUP_RUNS = 2
TIMED_RUNS = 10
#: Sequences shown side by side in the comparison GIF.
GIF_SEQUENCES = 4
BASELINE_NAMES = ("copy-last", "zeros")


@dataclasses.dataclass
class Entry:
    """One row of the comparison: a trained model or a baseline."""

    label: str  # unique name in the table
    predictor: Callable[[torch.Tensor, int], torch.Tensor]
    kind: str  # "model" or "baseline"
    checkpoint: Any = None  # checkpoints.Checkpoint for a model
    chosen_by: str | None = None  # how the checkpoint was found


def load_entries(models: list[str], checkpoints: list[str | os.PathLike[str]], device: torch.device) -> list[Entry]:
    """Load each model (`--models` names, the newest finished run of each; `--checkpoint` paths) once.

    Raises:
        UsageError: an unknown model name.
        CheckpointError: no run of a named model, or a damaged checkpoint.
        InputError: a checkpoint path that does not exist.
    """
    from framecast.checkpoints import load_checkpoint, origin, resolve_model

    entries: list[Entry] = []
    for name in models:
        weights = resolve_model(name)
        ckpt = load_checkpoint(weights, device)
        entries.append(Entry(name, ckpt.model, "model", ckpt, f"--models {name}: {origin(weights)}"))
    for path in checkpoints:
        ckpt = load_checkpoint(Path(path).expanduser(), device)
        label = f"{ckpt.name}:{ckpt.run_dir.name}" if ckpt.run_dir is not None else f"{ckpt.name}:{ckpt.path.stem}"
        entries.append(Entry(label, ckpt.model, "model", ckpt, "--checkpoint"))
    seen: dict[str, int] = {}
    for entry in entries:  # two runs of one model named alike: number them so every row is told apart
        seen[entry.label] = seen.get(entry.label, 0) + 1
        if seen[entry.label] > 1:
            entry.label = f"{entry.label}#{seen[entry.label]}"
    return entries


def common_spec(entries: list[Entry], *, context: int | None, horizon: int | None) -> dict[str, int]:
    """The one data spec every model was trained on (frame format; context and horizon unless given).

    Raises:
        InputError: models trained on different frame formats, or different context/horizon when none is given.
    """
    specs = [(e.label, e.checkpoint.spec) for e in entries if e.checkpoint is not None]
    if not specs:
        raise UsageError("no model to compare", "give --models A,B or --checkpoint PATH (repeat it)")
    first_label, first = specs[0]
    keys = ["channels", "height", "width"]
    keys += [k for k, given in (("context", context), ("horizon", horizon)) if given is None]
    for label, spec in specs[1:]:
        differ = [k for k in keys if spec.get(k) != first.get(k)]
        if differ:
            raise InputError(
                f"the models were trained on different data: {first_label} on {_describe(first)}, {label} on "
                f"{_describe(spec)} "
                f"(they differ in {', '.join(differ)})",
                "compare models trained on the same frame format; for a different context or horizon, give "
                "--context N --horizon N to score all of them alike",
            )
    return {
        **{k: int(first[k]) for k in ("channels", "height", "width")},
        "context": int(context or first["context"]),
        "horizon": int(horizon or first["horizon"]),
    }


def _describe(spec: dict[str, int]) -> str:
    return f"{spec['channels']}-channel {spec['width']}x{spec['height']}, {spec['context']} -> {spec['horizon']} frames"


def count_params(model: torch.nn.Module | None) -> int:
    """Elements of the model's parameters (0 for a baseline)."""
    return 0 if model is None else sum(p.numel() for p in model.parameters())


def count_flops(checkpoint: Any, *, context: int, horizon: int, spec: dict[str, int]) -> int:
    """FLOPs of one forward of a sequence of `context` + `horizon` frames at the spec's frame size (0 for a baseline).

    The model is rebuilt from its config on the meta device, so nothing is allocated or computed: FlopCounterMode
    counts each operation from its shapes, attention included (a CPU's fused attention kernel hides it otherwise).
    """
    from torch.utils.flop_counter import FlopCounterMode

    from framecast.models import model_from_config

    if checkpoint is None:
        return 0
    with torch.device("meta"):
        model = model_from_config(checkpoint.name, checkpoint.config).eval()
        sample = torch.empty(1, context, spec["channels"], spec["height"], spec["width"])
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(sample, horizon)
    return int(counter.get_total_flops())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_per_sequence(predictor: Callable, sample: torch.Tensor, horizon: int, device: torch.device) -> float:
    """Median seconds of a one-sequence forward, after warm-up forwards, under inference mode."""
    times = []
    with torch.inference_mode():
        for i in range(WARMUP_RUNS + TIMED_RUNS):
            _sync(device)
            began = time.perf_counter()
            predictor(sample, horizon)
            _sync(device)
            if i >= WARMUP_RUNS:
                times.append(time.perf_counter() - began)
    return statistics.median(times)


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def memory_method(device: torch.device) -> str | None:
    """What :func:`peak_memory` measures on `device`, in words (None when it cannot measure)."""
    if device.type == "cuda":
        return "CUDA memory allocated at peak during a one-sequence forward, beyond what was allocated before it"
    if device.type == "cpu" and os.path.exists("/proc/self/clear_refs"):
        return (
            "growth of the process's peak resident memory (VmHWM) during a one-sequence forward, after "
            "malloc_trim and a reset of the peak"
        )
    return None


def peak_memory(predictor: Callable, sample: torch.Tensor, horizon: int, device: torch.device) -> int | None:
    """Bytes of memory a one-sequence forward needs beyond what is held before it (see the module docstring)."""
    with torch.inference_mode():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            predictor(sample, horizon)
            torch.cuda.synchronize(device)
            return int(torch.cuda.max_memory_allocated(device) - before)
        if memory_method(device) is None:
            return None
        gc.collect()
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed memory goes back to the system: RSS is what is live
        before = _proc_status_kb("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")  # resets VmHWM to the current RSS
        except OSError:
            return None
        predictor(sample, horizon)
        peak = _proc_status_kb("VmHWM")
    if before is None or peak is None:
        return None
    return max(0, peak - before) * 1024


def plot_per_horizon(rows: list[dict[str, Any]], path: Path) -> Path:
    """A PNG of MSE and SSIM per horizon step for every row, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from framecast import _fs

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for row in rows:
        per_step = row["metrics"]["per_step"]
        steps = np.arange(1, len(per_step["mse"]) + 1)
        style = "--" if row["kind"] == "baseline" else "-"
        axes[0].plot(steps, per_step["mse"], style, marker="o", markersize=3, label=row["label"])
        axes[1].plot(steps, per_step["ssim"], style, marker="o", markersize=3, label=row["label"])
    axes[0].set(title="MSE per frame (sum over pixels)", xlabel="horizon step", ylabel="MSE")
    axes[1].set(title="SSIM", xlabel="horizon step", ylabel="SSIM")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[1].legend(loc="best", fontsize="small")
    fig.tight_layout()
    try:
        with _fs.atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


def default_outputs() -> tuple[Path, Path]:
    """Where the GIF and the plot go when not named: a fresh folder under the data dir's ``compare/``."""
    from framecast import paths

    folder = paths.data_dir() / "compare" / time.strftime("%Y%m%d-%H%M%S")
    n = 1
    while folder.exists():
        n += 1
        folder = folder.with_name(f"{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    return folder / "compare.gif", folder / "per-horizon.png"


def run_compare(
    *,
    models: list[str],
    checkpoints: list[str | os.PathLike[str]],
    data: str = "moving-mnist",
    split: str = "test",
    limit: int | None = DEFAULT_LIMIT,
    context: int | None = None,
    horizon: int | None = None,
    baselines: list[str] | None = None,
    batch_size: int = 16,
    device: str = "auto",
    gif: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
    gif_sequences: int = GIF_SEQUENCES,
    fps: float | None = None,
    scale: int | None = None,
    notify: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Score every model and baseline on the same sequences; write the per-horizon plot and the GIF.

    Args:
        models: model names; each means the best weights of its newest finished run.
        checkpoints: checkpoint files or run folders.
        data: a dataset name or path (see data.registry.open_dataset).
        split: val, test or all.
        limit: at most this many sequences (None: all).
        context: frames seen (default: the models' own); horizon: frames predicted (likewise).
        baselines: naive predictors to add as rows (copy-last, zeros).
        batch_size: sequences per batch while scoring.
        device: auto, cpu, cuda or mps.
        gif: the GIF (or video) of truth beside every model's prediction; plot: the per-horizon PNG. Default:
            both in a fresh folder under the data dir's ``compare/``.
        gif_sequences: sequences shown in the GIF.
        fps: frames per second of the GIF; scale: its nearest-neighbour upscale.
        notify: called with notes for people.
        progress: called with (sequences done, total) after each batch.

    Returns:
        A JSON-ready report: data, spec, one row per model and baseline, and the files written.

    Raises:
        UsageError, InputError: bad options, models trained on different data, unwritable outputs (exit 2).
        CheckpointError: a missing or damaged checkpoint (exit 1).
    """
    from framecast import render
    from framecast._fs import check_writable_output
    from framecast.data.registry import SPLITS, open_dataset
    from framecast.devices import pick_device
    from framecast.evaluation import baseline as get_baseline
    from framecast.metrics import MetricAccumulator

    say = notify or (lambda _message: None)
    if not models and not checkpoints:
        raise UsageError("no model to compare", "give --models A,B or --checkpoint PATH (repeat it)")
    if split not in SPLITS or split == "train":
        raise UsageError(f"--split must be val, test or all, not '{split}'", "the train split is for training")
    baselines = list(baselines or [])
    for name in baselines:
        get_baseline(name)  # an unknown name fails before any work
    gif_path = plot_path = None
    if gif is not None:
        gif_path = check_writable_output(gif)
        render.check_output_suffix(gif_path, render.ANIMATION_SUFFIXES)
    if plot is not None:
        plot_path = check_writable_output(plot)
        render.check_output_suffix(plot_path, (".png",))
    default_gif, default_plot = default_outputs()
    gif_path, plot_path = gif_path or default_gif, plot_path or default_plot

    dev = pick_device(device)
    entries = load_entries(models, checkpoints, dev)
    spec = common_spec(entries, context=context, horizon=horizon)
    ctx, hor = spec["context"], spec["horizon"]
    entries += [Entry(name, get_baseline(name), "baseline") for name in baselines]
    dataset = open_dataset(
        data,
        split,
        context=ctx,
        horizon=hor,
        channels=spec["channels"],
        size=(spec["height"], spec["width"]),
        limit=limit,
    )
    source = (dataset.source_channels, *dataset.source_size)
    if source != (spec["channels"], spec["height"], spec["width"]):
        say(
            f"the data's {source[0]}-channel {source[2]}x{source[1]} frames are converted to the models' "
            f"{spec['channels']}-channel {spec['width']}x{spec['height']}"
        )

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator())
    scores = {e.label: MetricAccumulator(hor) for e in entries}
    shown: dict[str, list[np.ndarray]] = {"context": [], "truth": [], **{e.label: [] for e in entries}}
    n_shown = done = 0
    began = time.perf_counter()
    with torch.inference_mode():
        for batch in loader:
            batch = batch.to(dev)
            context_frames, truth = batch[:, :ctx], batch[:, ctx : ctx + hor]
            take = min(gif_sequences - n_shown, batch.shape[0])
            if take > 0:
                shown["context"].append(_to_uint8(context_frames[:take]))
                shown["truth"].append(_to_uint8(truth[:take]))
            for entry in entries:
                pred = entry.predictor(context_frames, hor).float().clamp(0, 1)  # not in place: copy-last is a view
                scores[entry.label].update(pred, truth)
                if take > 0:
                    shown[entry.label].append(_to_uint8(pred[:take]))
            n_shown += max(take, 0)
            done += batch.shape[0]
            if progress is not None:
                progress(done, len(dataset))
    scoring_s = time.perf_counter() - began

    sample = dataset[0][None, :ctx].to(dev)  # (1, ctx, C, H, W)
    rows = []
    for entry in entries:
        model = entry.checkpoint.model if entry.checkpoint is not None else None
        rows.append(
            {
                "label": entry.label,
                "kind": entry.kind,
                "model": entry.checkpoint.name if entry.checkpoint is not None else entry.label,
                "checkpoint": str(entry.checkpoint.path) if entry.checkpoint is not None else None,
                "chosen_by": entry.chosen_by,
                "params": count_params(model),
                "flops": count_flops(entry.checkpoint, context=ctx, horizon=hor, spec=spec),
                "seconds_per_sequence": time_per_sequence(entry.predictor, sample, hor, dev),
                "peak_memory_bytes": peak_memory(entry.predictor, sample, hor, dev),
                "metrics": scores[entry.label].result(),
            }
        )

    plot_path.parent.mkdir(parents=True, exist_ok=True)
    plot_per_horizon(rows, plot_path)
    pictured = [e.label for e in entries if e.kind == "model"]
    picture = render.prediction_rows(
        np.concatenate(shown["context"]),
        np.concatenate(shown["truth"]),
        [(label, np.concatenate(shown[label])) for label in pictured],
        error=False,
    )
    gif_path.parent.mkdir(parents=True, exist_ok=True)
    render.write_rows(gif_path, picture, fps=fps or render.DEFAULT_FPS, scale=scale)
    return {
        "data": dataset.description,
        "split": split,
        "sequences": len(dataset),
        "spec": spec,
        "context": ctx,
        "horizon": hor,
        "device": str(dev),
        "flops_counted": f"one sequence of {ctx} + {hor} frames at {spec['width']}x{spec['height']}",
        "memory_method": memory_method(dev),
        "scoring_seconds": scoring_s,
        "rows": rows,
        "gif": str(gif_path),
        "gif_rows": ["context", "truth", *pictured],
        "gif_sequences": n_shown,
        "plot": str(plot_path),
    }


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, T, C, H, W) float in [0, 1] -> uint8 (B, T, H, W, C) numpy."""
    from framecast.evaluation import to_uint8

    return to_uint8(x)
