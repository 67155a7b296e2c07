"""`framecast render-gif`: saved predictions, arrays or videos as an animated GIF (or video, or PNG strip)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from framecast.cli._common import Json, Quiet, Size, examples

HELP = (
    "Render saved predictions (the .npz of `framecast eval --save`), a clip with its predicted frames (--pred), "
    "an array of sequences or a video as an animated GIF: rows for context, truth, prediction and error."
)

EPILOG = examples(
    "framecast render-gif run/predictions.npz -o predictions.gif",
    "framecast render-gif clip.mp4 --pred future.npy --start 20 --context 10 -o side-by-side.gif",
    "framecast render-gif sequences.npy -o sequences.mp4 --fps 10 --scale 2",
    "framecast render-gif clip.mp4 --size 64 --channels 1 -o preview.gif",
    "framecast render-gif moving-scenes --channels 3 --limit 8 -o scenes.gif   # generated natural motion",
)


def command(
    source: Annotated[
        Path,
        typer.Argument(
            help="Saved predictions (.npz), frames or sequences (.npy/.npz), a video, or a generated dataset "
            "(moving-mnist, moving-scenes)."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The GIF (or .mp4, or .png strip) to write.")],
    pred: Annotated[
        Optional[Path], typer.Option("--pred", help="Predicted frames (.npy/.npz) that continue INPUT's context.")
    ] = None,
    fps: Annotated[
        Optional[float], typer.Option("--fps", min=0.1, help="Frames per second (default: 5; a video's own rate).")
    ] = None,
    scale: Annotated[
        Optional[int],
        typer.Option("--scale", min=1, max=16, help="Nearest-neighbour upscale (default: 3 for 64x64 frames)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most N sequences side by side.")] = 4,
    start: Annotated[
        Optional[int], typer.Option("--start", min=0, help="With --pred: INPUT's first context frame.")
    ] = None,
    context: Annotated[
        Optional[int], typer.Option("--context", min=1, help="With --pred: context frames of INPUT (default: 10).")
    ] = None,
    channels: Annotated[
        Optional[int], typer.Option("--channels", min=1, max=3, help="1 grey or 3 colour (default: as stored).")
    ] = None,
    size: Size = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from framecast.cli import _output
    from framecast.cli._common import parse_size
    from framecast.render import render_gif

    report = render_gif(
        source,
        output,
        pred=pred,
        fps=fps,
        scale=scale,
        limit=limit,
        start=start,
        context=context,
        channels=channels,
        size=parse_size(size),
    )
    for note in report["conversions"]:
        _output.log(f"Note: {note}")
    if json_out:
        _output.emit_json(report)
    elif quiet:
        _output.emit_paths(report["output"])
    else:
        h, w = report["frame_size"]
        _output.out().print(
            f"{report['kind']}: {report['sequences']} sequence(s), rows {', '.join(report['rows'])}; "
            f"{report['frames']} frame(s) of {w}x{h} at {report['scale']}x, {report['fps']:g} fps "
            f"-> {report['output']}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    app.command("render-gif", help=HELP, epilog=EPILOG)(command)
