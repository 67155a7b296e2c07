"""Exploring a dataset: the statistics and plots of ``framecast eda``.

Whatever the source, the numbers are those of the clips a model would see: float32 ``(T, C, H, W)`` in
[0, 1] from :func:`framecast.data.registry.open_dataset`, with the same options. They are gathered in one
streaming pass over the sequences, a chunk at a time, so memory stays flat however many there are: running
sums (float64) give the mean and standard deviation per frame index and per pixel, and a 256-level histogram
per frame index gives the intensity distributions and their quantiles.

For a folder of videos the report also lists each file with the frames decoded from it and its frame rate
(the decode's own count, checked against the container; see framecast.media).

Files written to the report folder:

- ``intensity_over_time.png``: mean intensity per frame index, with a band of one standard deviation;
- ``intensity_per_frame.png``: the intensity distribution of each frame index as box plots;
- ``histogram.png``: the histogram of all intensities (log scale);
- ``mean_std_frames.png``: the mean frame and the standard-deviation frame;
- ``samples.png`` and ``samples.gif``: sample sequences as a grid (rows are sequences, columns frames) and as
  an animation (one tile per sequence);
- ``summary.json``: everything in the report, as ``framecast eda --json`` prints it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framecast.data.registry import DataOptions

#: Intensity levels of the histograms: one per uint8 value.
LEVELS = 256
#: Sequences converted and summed at a time.
CHUNK = 64
#: Sample sequences shown in the grid and the GIF.
SAMPLES = 8
#: At most this many frames per row of the sample grid (evenly spaced when a sequence is longer).
GRID_FRAMES = 20
#: Percentiles of the box plots' whiskers.
WHISKERS = (5, 95)

OUTPUT_FILES = {
    "intensity_over_time": "intensity_over_time.png",
    "intensity_per_frame": "intensity_per_frame.png",
    "histogram": "histogram.png",
    "mean_std_frames": "mean_std_frames.png",
    "samples_png": "samples.png",
    "samples_gif": "samples.gif",
    "summary": "summary.json",
}


@dataclass
class Accumulator:
    """Running sums over batches of clips ``(N, T, C, H, W)`` in [0, 1], for statistics in one pass."""

    frames: int
    channels: int
    height: int
    width: int
    sequences: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    zeros: int = 0
    change_sum: float = 0.0
    sum_t: np.ndarray = field(init=False)  # (T,) sum of intensities per frame index
    sumsq_t: np.ndarray = field(init=False)  # (T,)
    hist_t: np.ndarray = field(init=False)  # (T, LEVELS) pixel counts per level and frame index
    sum_pixel: np.ndarray = field(init=False)  # (C, H, W) sum over every frame of every sequence
    sumsq_pixel: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.sum_t = np.zeros(self.frames)
        self.sumsq_t = np.zeros(self.frames)
        self.hist_t = np.zeros((self.frames, LEVELS), dtype=np.int64)
        self.sum_pixel = np.zeros((self.channels, self.height, self.width))
        self.sumsq_pixel = np.zeros((self.channels, self.height, self.width))

    def update(self, batch: np.ndarray) -> None:
        """Add a batch of float clips ``(N, T, C, H, W)`` in [0, 1]."""
        square = batch * batch
        self.sequences += batch.shape[0]
        self.sum_t += batch.sum(axis=(0, 2, 3, 4), dtype=np.float64)
        self.sumsq_t += square.sum(axis=(0, 2, 3, 4), dtype=np.float64)
        self.sum_pixel += batch.sum(axis=(0, 1), dtype=np.float64)
        self.sumsq_pixel += square.sum(axis=(0, 1), dtype=np.float64)
        self.minimum = min(self.minimum, float(batch.min()))
        self.maximum = max(self.maximum, float(batch.max()))
        self.zeros += int(np.count_nonzero(batch == 0))
        if self.frames > 1:
            self.change_sum += float(np.abs(np.diff(batch, axis=1)).sum(dtype=np.float64))
        levels = np.rint(np.clip(batch, 0.0, 1.0) * (LEVELS - 1)).astype(np.uint8)
        for t in range(self.frames):
            self.hist_t[t] += np.bincount(levels[:, t].ravel(), minlength=LEVELS)

    @property
    def pixels_per_frame(self) -> int:
        return self.channels * self.height * self.width

    def per_frame_mean(self) -> np.ndarray:
        return self.sum_t / max(1, self.sequences * self.pixels_per_frame)

    def per_frame_std(self) -> np.ndarray:
        n = max(1, self.sequences * self.pixels_per_frame)
        return np.sqrt(np.maximum(self.sumsq_t / n - (self.sum_t / n) ** 2, 0.0))

    def mean_frame(self) -> np.ndarray:
        """(C, H, W) mean over every frame of every sequence."""
        return self.sum_pixel / max(1, self.sequences * self.frames)

    def std_frame(self) -> np.ndarray:
        n = max(1, self.sequences * self.frames)
        return np.sqrt(np.maximum(self.sumsq_pixel / n - (self.sum_pixel / n) ** 2, 0.0))

    def quantiles(self, qs: list[float]) -> np.ndarray:
        """(T, len(qs)) intensity quantiles per frame index, read from the histograms (1/255 resolution).

        The q-quantile is the lowest level whose cumulative share reaches q (numpy's "inverted_cdf" method), so
        the median of an even count is the lower of the two middle values.
        """
        cdf = np.cumsum(self.hist_t, axis=1)
        total = np.maximum(cdf[:, -1:], 1)
        out = np.empty((self.frames, len(qs)))
        for j, q in enumerate(qs):
            out[:, j] = np.argmax(cdf >= q * total, axis=1) / (LEVELS - 1)
        return out

    def summary(self) -> dict[str, Any]:
        """The headline statistics, JSON-ready."""
        pixels = self.sequences * self.frames * self.pixels_per_frame
        mean = float(self.sum_t.sum() / max(1, pixels))
        variance = float(self.sumsq_t.sum() / max(1, pixels)) - mean**2
        changes = self.sequences * (self.frames - 1) * self.pixels_per_frame
        return {
            "sequences": self.sequences,
            "frames_per_sequence": self.frames,
            "height": self.height,
            "width": self.width,
            "channels": self.channels,
            "pixels": pixels,
            "mean": mean,
            "std": math.sqrt(max(variance, 0.0)),
            "min": self.minimum if pixels else None,
            "max": self.maximum if pixels else None,
            "zero_share": self.zeros / pixels if pixels else None,
            "mean_abs_change": self.change_sum / changes if changes else None,
        }


@dataclass
class Exploration:
    """What one pass over a dataset gathered."""

    stats: Accumulator
    samples: np.ndarray  # uint8 (S, T, H, W, C): the sample sequences
    sample_indices: list[int]


def sample_indices(length: int, count: int = SAMPLES) -> list[int]:
    """`count` indices spread evenly over a dataset (so a folder's samples come from several clips)."""
    if length <= 0:
        return []
    return sorted({int(i) for i in np.linspace(0, length - 1, min(count, length))})


def explore(
    dataset: Any,
    *,
    samples: int = SAMPLES,
    chunk: int = CHUNK,
    on_progress: Callable[[int, int], None] | None = None,
) -> Exploration:
    """One streaming pass over `dataset` (items float ``(T, C, H, W)`` in [0, 1]), a chunk at a time.

    Args:
        dataset: a dataset from open_dataset, or any sequence of such clips.
        samples: how many sequences to keep for the sample grid.
        chunk: sequences converted and summed at a time (memory use is about chunk x one clip x 3).
        on_progress: called with (sequences done, total) after each chunk.
    """
    from framecast.clips import as_uint8_frames

    total = len(dataset)
    first = _as_array(dataset[0])  # (T, C, H, W)
    t, c, h, w = first.shape
    stats = Accumulator(frames=t, channels=c, height=h, width=w)
    wanted = sample_indices(total, samples)
    kept: dict[int, np.ndarray] = {}
    buffer = np.empty((min(chunk, total), t, c, h, w), dtype=np.float32)
    filled = 0
    for index in range(total):
        clip = first if index == 0 else _as_array(dataset[index])
        buffer[filled] = clip
        filled += 1
        if index in wanted:
            kept[index] = as_uint8_frames(clip, channels_first=True)
        if filled == len(buffer) or index == total - 1:
            stats.update(buffer[:filled])
            filled = 0
            if on_progress is not None:
                on_progress(index + 1, total)
    sample_array = np.stack([kept[i] for i in wanted]) if wanted else np.zeros((0, t, h, w, c), np.uint8)
    return Exploration(stats=stats, samples=sample_array, sample_indices=wanted)


def _as_array(item: Any) -> np.ndarray:
    """A dataset item as float32 numpy (T, C, H, W)."""
    if isinstance(item, (tuple, list)):
        item = item[0]
    if hasattr(item, "detach"):
        item = item.detach().cpu().numpy()
    return np.asarray(item, dtype=np.float32)


# ------------------------------------------------------------------------------------------------------- files


def video_files(dataset: Any, root: Path | None = None) -> list[dict[str, Any]] | None:
    """Per-file facts of a dataset made from videos (None for other sources): frames decoded, fps, windows."""
    names = getattr(dataset, "clip_names", None)
    if not names:
        return None
    from framecast.clips import repeats_and_cuts
    from framecast.data.videos import class_of, clip_info

    spec = dataset.spec
    windows = [0] * len(names)
    for clip, _start in getattr(dataset, "windows", []):
        windows[clip] += 1
    clips = getattr(dataset, "clips", None)
    rows = []
    for i, name in enumerate(names):
        path = Path(name)
        info = clip_info(path, channels=spec.channels, size=(spec.height, spec.width))
        rows.append(
            {
                "path": str(path),
                "file": path.relative_to(root).as_posix() if root and root in path.parents else path.name,
                "class": class_of(path, root) if root and root in path.parents else None,
                "frames": info["frames"],
                "frames_used": len(clips[i]) if clips is not None else info["frames"],
                "fps": info["fps"],
                "duration": info["duration"],
                "source_width": info["width"],
                "source_height": info["height"],
                "codec": info["codec"],
                "windows": windows[i],
                # repeated frames (a low-rate source stored at a higher rate) and shot cuts, which a model sees
                # as frozen motion and as jumps: counted on the frames as used
                **(repeats_and_cuts(clips[i]) if clips is not None else {}),
            }
        )
    return rows


# ------------------------------------------------------------------------------------------------------- plots


def _figure(width: float = 8.0, height: float = 4.5):
    # The object-oriented API with the Agg canvas: no pyplot, no global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, target: Path) -> Path:
    from framecast._fs import atomic_path

    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    return target


def _mark_context(ax: Any, context: int | None, frames: int) -> None:
    if context is not None and 0 < context < frames:
        ax.axvline(context - 0.5, color="0.5", linestyle="--", linewidth=1)
        ax.text(context - 0.5, 1.0, " horizon →", transform=ax.get_xaxis_transform(), va="top", fontsize=8)


def plot_intensity_over_time(stats: Accumulator, target: Path, context: int | None = None) -> Path:
    """Mean intensity per frame index, with a band of one standard deviation."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure()
    ax = fig.add_subplot()
    t = np.arange(stats.frames)
    mean, std = stats.per_frame_mean(), stats.per_frame_std()
    ax.fill_between(t, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1), alpha=0.25, label="± 1 std")
    ax.plot(t, mean, marker="o", markersize=3, label="mean")
    _mark_context(ax, context, stats.frames)
    ax.set(
        xlabel="frame index",
        ylabel="intensity [0, 1]",
        title=f"Average intensity over time ({stats.sequences:,} sequences)",
    )
    ax.set_xlim(-0.5, stats.frames - 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right")
    return _save(fig, target)


def plot_intensity_per_frame(stats: Accumulator, target: Path, context: int | None = None) -> Path:
    """Box plots of the intensities of each frame index (quartiles; whiskers at the WHISKERS percentiles)."""
    fig = _figure()
    ax = fig.add_subplot()
    lo, hi = WHISKERS
    q = stats.quantiles([lo / 100, 0.25, 0.5, 0.75, hi / 100])
    means = stats.per_frame_mean()
    boxes = [
        {"whislo": row[0], "q1": row[1], "med": row[2], "q3": row[3], "whishi": row[4], "mean": m, "label": str(i)}
        for i, (row, m) in enumerate(zip(q, means, strict=True))
    ]
    ax.bxp(boxes, positions=np.arange(stats.frames), showfliers=False, showmeans=True, widths=0.6)
    _mark_context(ax, context, stats.frames)
    if stats.frames > 25:  # keep the labels legible
        step = math.ceil(stats.frames / 20)
        ax.set_xticks(np.arange(0, stats.frames, step), [str(i) for i in range(0, stats.frames, step)])
    ax.set(
        xlabel="frame index",
        ylabel="intensity [0, 1]",
        title=f"Intensity per frame (box: quartiles, whiskers: {lo}th-{hi}th percentile, triangle: mean)",
    )
    return _save(fig, target)


def plot_histogram(stats: Accumulator, target: Path) -> Path:
    """Histogram of every intensity, on a log scale (sparse data such as Moving MNIST is mostly zeros)."""
    fig = _figure()
    ax = fig.add_subplot()
    counts = stats.hist_t.sum(axis=0)
    edges = np.linspace(0, 1, LEVELS + 1)
    ax.stairs(np.maximum(counts, 0.5), edges - 0.5 / (LEVELS - 1), fill=True)
    ax.set_yscale("log")
    summary = stats.summary()
    zero = summary["zero_share"] or 0.0
    ax.set(
        xlabel="intensity [0, 1]",
        ylabel="pixels (log scale)",
        title=f"Intensity histogram: mean {summary['mean']:.3f}, std {summary['std']:.3f}, {zero:.1%} zeros",
    )
    ax.set_xlim(-0.01, 1.01)
    return _save(fig, target)


def plot_mean_std_frames(stats: Accumulator, target: Path) -> Path:
    """The mean frame and the standard-deviation frame (averaged over channels for colour data)."""
    fig = _figure(9.0, 4.2)
    mean, std = stats.mean_frame(), stats.std_frame()
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    if stats.channels == 3:
        left.imshow(np.clip(mean.transpose(1, 2, 0), 0, 1), interpolation="nearest")
    else:
        image = left.imshow(mean[0], cmap="gray", vmin=0, vmax=max(float(mean.max()), 1e-6), interpolation="nearest")
        fig.colorbar(image, ax=left, shrink=0.8)
    image = right.imshow(std.mean(axis=0), cmap="magma", vmin=0, interpolation="nearest")
    fig.colorbar(image, ax=right, shrink=0.8)
    left.set_title("mean frame")
    right.set_title("standard-deviation frame")
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, target)


def write_sample_grid(exploration: Exploration, png: Path, gif: Path, fps: float) -> tuple[Path, Path]:
    """Sample sequences as a PNG grid (a row per sequence, a column per frame) and an animated GIF."""
    from framecast import media
    from framecast.render import tile_grid, upscale

    samples = exploration.samples  # (S, T, H, W, C)
    s, t, h, w, _c = samples.shape
    columns = sample_indices(t, GRID_FRAMES)
    tiles = samples[:, columns].reshape(s * len(columns), h, w, -1)
    labels = [f"t{i}" for i in columns] + [""] * (len(tiles) - len(columns))
    factor = max(1, 48 // max(h, w))  # tiny frames (16x16) grow until they can be seen
    grid = tile_grid(upscale(tiles, factor), ncols=len(columns), labels=labels)
    media.write_png(grid, png)
    factor = max(1, 128 // max(h, w))
    animated = tile_grid(
        upscale(samples, factor),
        ncols=min(s, 4),
        labels=[f"#{i}" for i in exploration.sample_indices],
    )
    media.write_gif(animated, gif, fps=fps)
    return png, gif


# ------------------------------------------------------------------------------------------------------ report


def _prepare_out_dir(out: str | Path | None, data: str) -> Path:
    """The report folder: --out (made if needed), else a new folder under paths.eda_dir() named after the data."""
    from framecast import paths
    from framecast.errors import InputError

    if out is None:
        name = Path(data).name if Path(data).expanduser().exists() else data
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "data"
        return paths.new_stamped_dir(paths.eda_dir(), slug)
    target = Path(out).expanduser()
    if target.exists() and not target.is_dir():
        raise InputError(f"--out {target} is a file, not a folder", "give a folder for the report")
    try:
        return paths.ensure(target)
    except OSError as exc:
        raise InputError(f"cannot create the folder {target} ({exc.strerror})", "choose another --out") from None


def run_eda(
    data: str | DataOptions = "moving-mnist",
    *,
    out: str | Path | None = None,
    split: str | None = None,
    limit: int | None = None,
    context: int = 10,
    horizon: int = 10,
    seed: int = 0,
    samples: int = SAMPLES,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Explore a dataset and write the report's plots; return the report (JSON-ready).

    Args:
        data: a dataset name or a path, or DataOptions (channels, size, frame stride, classes of videos).
        out: the report folder (default: a new folder under paths.eda_dir()).
        split: train, val, test or all; default all for a path (every clip), train for a dataset name.
        limit: at most this many sequences.
        context: frames seen by a model; context + horizon is the length of a sequence.
        horizon: frames predicted.
        seed: the seed of generated sequences.
        samples: sequences shown in the sample grid and GIF.
        on_progress: called with (sequences done, total).

    Raises:
        InputError, UsageError, DataError: from opening the data, or an unusable --out.
    """
    import json

    from framecast import _fs

    options = data if isinstance(data, DataOptions) else DataOptions(str(data))
    source = Path(options.data).expanduser()
    is_path = source.exists()
    split = split or ("all" if is_path else "train")
    dataset = options.open(split, context=context, horizon=horizon, limit=limit, seed=seed)
    out_dir = _prepare_out_dir(out, options.data)
    exploration = explore(dataset, samples=samples, on_progress=on_progress)
    files = video_files(dataset, source if is_path and source.is_dir() else None)
    outputs = _write_plots(exploration, out_dir, context, files, options.frame_stride)
    report = {
        "data": options.data,
        "split": split,
        "description": getattr(dataset, "description", ""),
        "spec": dataset.spec.to_dict(),
        "stats": _stats_summary(exploration.stats, dataset),
        "per_frame": _per_frame(exploration.stats),
        "files": files,
        "samples": exploration.sample_indices,
        "out_dir": str(out_dir),
        "outputs": {name: str(p) for name, p in outputs.items()},
    }
    if files is not None:
        report["stats"]["files"] = len(files)
    _fs.write_text(outputs["summary"], json.dumps(report, indent=2) + "\n")
    return report


def _write_plots(exploration: Exploration, out_dir: Path, context: int, files, frame_stride: int) -> dict[str, Path]:
    stats = exploration.stats
    outputs = {name: out_dir / filename for name, filename in OUTPUT_FILES.items()}
    plot_intensity_over_time(stats, outputs["intensity_over_time"], context)
    plot_intensity_per_frame(stats, outputs["intensity_per_frame"], context)
    plot_histogram(stats, outputs["histogram"])
    plot_mean_std_frames(stats, outputs["mean_std_frames"])
    fps = 5.0  # generated and array data carry no frame rate: slow enough to follow by eye
    rates = [f["fps"] for f in files or [] if f["fps"]]
    if rates:
        fps = float(np.median(rates)) / frame_stride
    write_sample_grid(exploration, outputs["samples_png"], outputs["samples_gif"], fps=max(1.0, fps))
    return outputs


def _stats_summary(stats: Accumulator, dataset: Any) -> dict[str, Any]:
    summary = stats.summary()
    summary["dtype"] = "float32"
    sample_raw = dataset.raw(0) if hasattr(dataset, "raw") else None
    summary["source_dtype"] = str(sample_raw.dtype) if sample_raw is not None else None
    return summary


def _per_frame(stats: Accumulator) -> dict[str, list[float]]:
    lo, hi = WHISKERS
    quantiles = stats.quantiles([lo / 100, 0.25, 0.5, 0.75, hi / 100])
    return {
        "mean": stats.per_frame_mean().tolist(),
        "std": stats.per_frame_std().tolist(),
        "median": quantiles[:, 2].tolist(),
        "q1": quantiles[:, 1].tolist(),
        "q3": quantiles[:, 3].tolist(),
    }
