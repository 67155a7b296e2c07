"""Options shared by several commands, written once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the paths written.")]
Limit = Annotated[Optional[int], typer.Option("--limit", min=1, help="Use at most N sequences.")]
Data = Annotated[
    str,
    typer.Option(
        "--data",
        "-d",
        help="A dataset name (moving-mnist, moving-mnist-standard) or a path: a folder of videos, a video, "
        "or a .npy/.npz array of sequences.",
    ),
]
Channels = Annotated[
    Optional[int], typer.Option("--channels", min=1, max=3, help="Video frames: 1 grey (default) or 3 RGB.")
]
Size = Annotated[
    Optional[str], typer.Option("--size", help="Video frames are resized to this: 64 or HxW such as 64x80.")
]
FrameStride = Annotated[int, typer.Option("--frame-stride", min=1, help="Keep every Nth frame of a video.")]
Classes = Annotated[
    Optional[str],
    typer.Option("--classes", help="Only these class folders of a video folder, comma separated (PushUps,PullUps)."),
]
Digits = Annotated[
    Optional[str], typer.Option("--digits", help="Digits for generated Moving MNIST: idx folder or .npz.")
]
SelfCheckFrames = Annotated[
    Optional[int],
    typer.Option(
        "--self-check",
        min=0,
        help="Check the model on the context's last N frames first and move the future only as far as that "
        "earns (0: off; default: the checkpoint's setting).",
    ),
]
Views = Annotated[
    Optional[int],
    typer.Option(
        "--views",
        help="Average the prediction over N mirrored views of the input: 1 (off), 2 (left-right), 4 (and upside "
        "down), 8 (and transposed, square frames) (default: the checkpoint's setting).",
    ),
]
Context = Annotated[Optional[int], typer.Option("--context", min=1, help="Frames seen by the model.")]
Horizon = Annotated[Optional[int], typer.Option("--horizon", min=1, help="Frames to predict.")]


def examples(*lines: str) -> str:
    """The epilog of a command's help: its examples, one per line."""
    body = "\n\n".join(f"  [cyan]{line}[/]" for line in lines)
    return f"[bold]Examples[/]\n\n{body}"


def parse_size(size: str | None) -> tuple[int, int] | None:
    """`64` -> (64, 64); `48x64` -> (48, 64) as (height, width); None stays None."""
    from framecast.errors import UsageError

    if size is None:
        return None
    text = size.lower().strip()
    try:
        if "x" in text:
            h, w = (int(part) for part in text.split("x", 1))
        else:
            h = w = int(text)
    except ValueError:
        raise UsageError(f"--size '{size}' is not a size", "give one number (64) or HxW (48x64)") from None
    if h < 4 or w < 4:
        raise UsageError(f"--size '{size}' is too small", "frames must be at least 4x4 pixels")
    return h, w


def parse_classes(classes: str | None) -> list[str] | None:
    """`PushUps,PullUps` -> ['PushUps', 'PullUps']."""
    if not classes:
        return None
    return [c.strip() for c in classes.split(",") if c.strip()]
