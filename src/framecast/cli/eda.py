"""`framecast eda`: statistics and plots of a dataset, as a model would see it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from framecast.cli._common import (
    Channels,
    Classes,
    Context,
    FrameStride,
    Horizon,
    Json,
    Limit,
    Quiet,
    Size,
    examples,
    parse_classes,
    parse_size,
)

HELP = (
    "Explore a dataset: sequences, frame size, pixel statistics and frame-to-frame change, per-file frame counts "
    "and rates of a video folder; writes plots (intensity over time and per frame, histogram, mean and std "
    "frames) and a grid of sample sequences as PNG and GIF."
)


def command(
    data: Annotated[
        str,
        typer.Argument(
            help="A dataset name (moving-mnist) or a path: a folder of videos, a video, or a .npy/.npz array.",
            show_default=True,
        ),
    ] = "moving-mnist",
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Folder for the plots (default: a new folder in framecast's data dir)."),
    ] = None,
    limit: Limit = None,
    split: Annotated[
        Optional[str],
        typer.Option("--split", help="train, val, test or all (default: all for a path, train for a name)."),
    ] = None,
    channels: Channels = None,
    size: Size = None,
    frame_stride: FrameStride = 1,
    classes: Classes = None,
    context: Context = None,
    horizon: Horizon = None,
    samples: Annotated[int, typer.Option("--samples", min=1, max=64, help="Sequences in the sample grid.")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Seed of generated sequences.")] = 0,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from framecast.cli import _output
    from framecast.data.registry import DataOptions, default_window
    from framecast.eda import run_eda

    window = default_window(data)
    options = DataOptions(data, channels, parse_size(size), frame_stride, parse_classes(classes))
    with _output.progress() as bar:
        task = bar.add_task("Exploring", total=None)
        report = run_eda(
            options,
            out=out,
            split=split,
            limit=limit,
            context=context or window[0],
            horizon=horizon or window[1],
            seed=seed,
            samples=samples,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if quiet and not json_out:
        _output.emit_paths(*report["outputs"].values())
        return
    if json_out:
        _output.emit_json(report)
    else:
        render(report)
    _output.log(f"Wrote {len(report['outputs'])} files to {report['out_dir']}")


def render(report: dict) -> None:
    """The report as tables on stdout."""
    from framecast.cli import _output

    stats = report["stats"]

    def num(value: float | None, fmt: str = ".4f") -> str:
        return "-" if value is None else format(value, fmt)

    t = _output.table(f"eda: {report['data']} ({report['split']} split)", ["what", "value"])
    t.add_row("data", report["description"])
    if "files" in stats:
        t.add_row("files", str(stats["files"]))
    spec = report["spec"]
    t.add_row("sequences", f"{stats['sequences']:,}")
    t.add_row(
        "frames per sequence", f"{stats['frames_per_sequence']} ({spec['context']} context + {spec['horizon']} horizon)"
    )
    t.add_row("frame size", f"{stats['height']}x{stats['width']}")
    t.add_row("channels", str(stats["channels"]))
    source = f" (stored as {stats['source_dtype']})" if stats.get("source_dtype") else ""
    t.add_row("dtype", f"{stats['dtype']} in [0, 1]{source}")
    t.add_row("pixel mean / std", f"{num(stats['mean'])} / {num(stats['std'])}")
    t.add_row("pixel min / max", f"{num(stats['min'])} / {num(stats['max'])}")
    t.add_row("zero pixels", "-" if stats["zero_share"] is None else f"{stats['zero_share']:.2%}")
    t.add_row("mean |frame-to-frame change|", num(stats["mean_abs_change"]))
    t.add_row("report", report["out_dir"])
    _output.out().print(t)
    if report.get("files"):
        files = _output.table("files")
        files.add_column("file", overflow="fold")  # whole names, even in a narrow pipe
        for column in ("class", "frames", "fps", "source size", "windows", "repeated", "cuts at"):
            files.add_column(column)
        for row in report["files"]:
            frames = str(row["frames"])
            if row["frames_used"] != row["frames"]:
                frames += f" ({row['frames_used']} used)"
            files.add_row(
                row["file"],
                row["class"] or "-",
                frames,
                f"{row['fps']:g}" if row["fps"] else "-",
                f"{row['source_width']}x{row['source_height']}",
                str(row["windows"]),
                f"{100 * row['repeated_share']:.0f}%" + (f" (x{row['cadence']})" if row["cadence"] > 1 else ""),
                ", ".join(map(str, row["cuts"])) or "-",
            )
        _output.out().print(files)


def register(app: typer.Typer) -> None:
    app.command(
        "eda",
        help=HELP,
        epilog=examples(
            "framecast eda",
            "framecast eda moving-mnist --limit 500 --out eda-mnist",
            "framecast eda videos/ --classes PushUps,PullUps --size 64 --frame-stride 2",
            "framecast eda clip.mp4 --channels 3 --size 48x64 --json",
            "framecast eda sequences.npy --quiet",
        ),
    )(command)
