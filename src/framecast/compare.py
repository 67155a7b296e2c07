"""Several models on exactly the same sequences: `framecast compare`.

Every model (and the naive baselines) sees the same sequences of one fixed split, in the same order, batch by
batch in one pass of :func:`framecast.evaluation.score`, so differences in the scores come from the models
alone. Beside the metrics of
:mod:`framecast.metrics`, each row carries what a model costs:

- parameters: every element of the model's parameters;
- FLOPs per sequence: counted on one sequence of the comparison's context and horizon at the data's frame
  size, by :mod:`framecast.models.costs`, as `framecast models` counts them;
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
import logging
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from framecast.data.registry import DataOptions
from framecast.errors import InputError, UsageError

log = logging.getLogger("framecast")

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


def load_entries(
    models: list[str], checkpoints: list[str | os.PathLike[str]], device: torch.device, want: Any = None
) -> list[Entry]:
    """Load each model (`--models` names, the newest finished run of each; `--checkpoint` paths) once.

    Raises:
        UsageError: an unknown model name.
        CheckpointError: no run of a named model, or a damaged checkpoint.
        InputError: a checkpoint path that does not exist.
    """
    from framecast.checkpoints import resolve

    entries: list[Entry] = []
    for name in models:
        found = resolve(model=name, device=device, flag="--models", want=want)
        entries.append(Entry(name, found.checkpoint.model, "model", found.checkpoint, found.chosen_by))
    for path in checkpoints:
        found = resolve(checkpoint=path, device=device)
        ckpt = found.checkpoint
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


@dataclasses.dataclass
class Outputs:
    """Where compare writes: the GIF (or video) of predictions and the per-horizon plot (None: a fresh folder under
    the data dir's ``compare/``, made only when there is something to write)."""

    gif: Path | None = None
    plot: Path | None = None
    gif_sequences: int = GIF_SEQUENCES
    fps: float | None = None
    scale: int | None = None

    def check(self) -> None:
        """Fail before any work when a named output cannot be written."""
        from framecast import render
        from framecast._fs import check_writable_output
        from framecast.media import ANIMATION_SUFFIXES

        if self.gif is not None:
            self.gif = check_writable_output(self.gif)
            render.check_output_suffix(self.gif, ANIMATION_SUFFIXES)
        if self.plot is not None:
            self.plot = check_writable_output(self.plot)
            render.check_output_suffix(self.plot, (".png",))

    def resolve(self) -> tuple[Path, Path]:
        if self.gif is not None and self.plot is not None:
            return self.gif, self.plot
        from framecast import paths

        folder = paths.new_stamped_dir(paths.data_dir() / "compare")
        return self.gif or folder / "compare.gif", self.plot or folder / "per-horizon.png"


def run_compare(
    *,
    models: list[str],
    checkpoints: list[str | os.PathLike[str]],
    data: DataOptions | str = "moving-mnist",
    split: str = "test",
    limit: int | None = DEFAULT_LIMIT,
    context: int | None = None,
    horizon: int | None = None,
    baselines: list[str] | None = None,
    batch_size: int = 16,
    device: str = "auto",
    outputs: Outputs | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Score every model and baseline on the same sequences in one pass; write the per-horizon plot and the GIF.

    Args:
        models: model names; each means the best weights of its newest finished run (or the shipped checkpoint).
        checkpoints: checkpoint files or run folders.
        data: a dataset name or path, or DataOptions; its frames are fitted to the models' format.
        split: val, test or all; limit: at most this many sequences (None: all).
        context: frames seen (default: the models' own); horizon: frames predicted (likewise).
        baselines: naive predictors to add as rows (copy-last, zeros).
        batch_size: sequences per batch while scoring; device: auto, cpu, cuda or mps.
        outputs: where the GIF and plot go, and how the GIF looks.
        progress: called with (sequences done, total) after each batch.

    Returns:
        A JSON-ready report: data, spec, one row per model and baseline, and the files written.

    Raises:
        UsageError, InputError: bad options, models trained on different data, unwritable outputs (exit 2).
        CheckpointError: a missing or damaged checkpoint (exit 1).
    """
    from framecast.devices import pick_device
    from framecast.evaluation import baseline as get_baseline
    from framecast.evaluation import clips_to_score, score

    outputs = outputs or Outputs()
    baselines = _check_compare_options(models, checkpoints, split, baselines, outputs)
    dev = pick_device(device)
    options = data if isinstance(data, DataOptions) else DataOptions(str(data))
    entries = load_entries(models, checkpoints, dev, options.want())
    spec = common_spec(entries, context=context, horizon=horizon)
    entries += [Entry(name, get_baseline(name), "baseline") for name in baselines]
    dataset = _open_for(options, spec, split, limit)
    scores = score(
        {e.label: e.predictor for e in entries}, dataset, context=spec["context"], horizon=spec["horizon"],
        device=dev, batch_size=batch_size, keep=outputs.gif_sequences, progress=progress,
        clips=clips_to_score(dataset),
    )  # fmt: skip
    sample = dataset[0][None, : spec["context"]].to(dev)  # (1, ctx, C, H, W)
    rows = [_row(e, scores.results[e.label]["rollout"], sample, spec, dev) for e in entries]
    written = _write_outputs(rows, entries, scores.kept, outputs)
    return {
        "data": dataset.description,
        "split": split,
        "sequences": len(dataset),
        "spec": spec,
        "context": spec["context"],
        "horizon": spec["horizon"],
        "device": str(dev),
        "flops_counted": f"one sequence of {spec['context']} + {spec['horizon']} frames at "
        f"{spec['width']}x{spec['height']}",
        "memory_method": memory_method(dev),
        "scoring_seconds": scores.seconds,
        "rows": rows,
        "clips": scores.clips or None,  # as eval's: each clip's rollout scores on its own windows
        **written,
    }


def _check_compare_options(models, checkpoints, split: str, baselines, outputs: Outputs) -> list[str]:
    from framecast.data.registry import SPLITS
    from framecast.evaluation import baseline as get_baseline

    if not models and not checkpoints:
        raise UsageError("no model to compare", "give --models A,B or --checkpoint PATH (repeat it)")
    if split not in SPLITS or split == "train":
        raise UsageError(f"--split must be val, test or all, not '{split}'", "the train split is for training")
    baselines = list(baselines or [])
    for name in baselines:
        get_baseline(name)  # an unknown name fails before any work
    outputs.check()
    return baselines


def _open_for(data: DataOptions | str, spec: dict[str, int], split: str, limit: int | None):
    """The data, its frames fitted to the models' format (and the user told when that changed them)."""
    options = data if isinstance(data, DataOptions) else DataOptions(str(data))
    options = dataclasses.replace(options, channels=spec["channels"], size=(spec["height"], spec["width"]))
    dataset = options.open(split, context=spec["context"], horizon=spec["horizon"], limit=limit)
    source = (dataset.source_channels, *dataset.source_size)
    if source != (spec["channels"], spec["height"], spec["width"]):
        log.info(
            "the data's %d-channel %dx%d frames are converted to the models' %d-channel %dx%d",
            source[0], source[2], source[1], spec["channels"], spec["width"], spec["height"],
        )  # fmt: skip
    return dataset


def _row(entry: Entry, metrics: dict[str, Any], sample: torch.Tensor, spec: dict[str, int], dev) -> dict[str, Any]:
    """One row of the table: the scores and what the model costs."""
    from framecast.models.costs import count_flops, count_params

    ckpt = entry.checkpoint
    hor = spec["horizon"]
    flops = count_flops(ckpt.name, ckpt.config, context=spec["context"], horizon=hor) if ckpt is not None else 0
    return {
        "label": entry.label,
        "kind": entry.kind,
        "model": ckpt.name if ckpt is not None else entry.label,
        "checkpoint": str(ckpt.path) if ckpt is not None else None,
        "chosen_by": entry.chosen_by,
        "params": count_params(ckpt.model if ckpt is not None else None),
        "flops": flops,
        "seconds_per_sequence": time_per_sequence(entry.predictor, sample, hor, dev),
        "peak_memory_bytes": peak_memory(entry.predictor, sample, hor, dev),
        "metrics": metrics,
    }


def _write_outputs(rows, entries: list[Entry], kept: dict[str, np.ndarray], outputs: Outputs) -> dict[str, Any]:
    """The per-horizon plot and the GIF of truth beside every model's prediction."""
    from framecast import render

    gif_path, plot_path = outputs.resolve()
    plot_per_horizon(rows, plot_path)
    pictured = [e.label for e in entries if e.kind == "model"]
    picture = render.prediction_rows(kept["context"], kept["truth"], [(k, kept[k]) for k in pictured], error=False)
    render.write_rows(gif_path, picture, fps=outputs.fps or render.DEFAULT_FPS, scale=outputs.scale)
    return {
        "gif": str(gif_path),
        "gif_rows": ["context", "truth", *pictured],
        "gif_sequences": int(kept["context"].shape[0]),
        "plot": str(plot_path),
    }
