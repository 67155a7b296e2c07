"""Pictures of predictions: context, truth, prediction and error, as an animation or a still strip.

Every picture here is built from *rows*. A row is one kind of frame (the context, the true future, a model's
prediction, its absolute error) for N sequences, uint8 ``(N, T, H, W, C)``. Two layouts:

- :func:`animate`: frames ``(Tc + Tf, H', W', C)`` for a GIF or a video. Rows are stacked top to bottom, one
  column per sequence; a single sequence has its rows side by side instead, which fits a screen better. The
  context row plays its Tc frames and then holds its last one; every future row is blank while the context
  plays and then plays its own frames, so truth and prediction of the same step are always on screen together.
  Each tile is labelled with its row and its step ("context 3/10", "truth +2").
- :func:`strip`: one image for a PNG: per sequence, one line of tiles per row, time running left to right.

:func:`render_gif` is `framecast render-gif`: it reads an ``.npz`` of saved predictions (``framecast eval
--save``, or ``framecast predict -o x.npz``), an array of sequences, or a video, and writes the animation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framecast.clips import as_uint8_frames
from framecast.errors import InputError, UsageError
from framecast.media import ANIMATION_SUFFIXES, STILL_SUFFIXES

#: Frames per second of an animated prediction: slow enough to follow a 10-frame future by eye.
DEFAULT_FPS = 5.0
#: Tiles are scaled up (nearest neighbour) until they are about this many pixels across, so that a 64x64
#: frame is shown at 3x and its pixels stay crisp.
TARGET_TILE_PIXELS = 192
#: Sequences drawn by default from a file that holds many.
DEFAULT_SEQUENCES = 4
#: Keys of a saved-predictions archive (`framecast eval --save`): uint8 (N, T, H, W, C) each.
SAVED_KEYS = ("context", "truth", "prediction")
#: Grey level of a tile with nothing to show yet (a future row while the context plays).
_BLANK = 24
#: Grey level of the gutters and label bands between tiles.
_GUTTER = 72
#: Approximate width of a character of the default label font, to shorten labels that would not fit a tile.
_CHAR_PIXELS = 6


@dataclass
class Row:
    """One line of a picture: a kind of frame for every sequence.

    Attributes:
        label: what the row shows ("context", "truth", "convlstm", "error").
        frames: uint8 ``(N, T, H, W, C)``.
        future: False for the context (played first), True for frames after it (shown after the context).
    """

    label: str
    frames: np.ndarray
    future: bool = True


def default_scale(height: int, width: int) -> int:
    """The nearest-neighbour scale that shows a frame about 192 pixels across (3 for 64x64, 1 from 192 up)."""
    return max(1, round(TARGET_TILE_PIXELS / max(height, width, 1)))


def error_frames(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Absolute error of uint8 frames, uint8 of the same shape (0 black: no error; 255: the largest)."""
    steps = min(prediction.shape[-4], truth.shape[-4])
    pred = prediction[..., :steps, :, :, :].astype(np.int16)
    return np.abs(pred - truth[..., :steps, :, :, :].astype(np.int16)).astype(np.uint8)


def prediction_rows(
    context: np.ndarray,
    truth: np.ndarray | None,
    predictions: list[tuple[str, np.ndarray]],
    *,
    error: bool = True,
) -> list[Row]:
    """The rows of a picture of predictions: context, truth (when known), each prediction, each error.

    Args:
        context: uint8 ``(N, Tc, H, W, C)``, the frames the predictions were made from.
        truth: uint8 ``(N, Tt, H, W, C)``, the frames that really followed (Tt may be shorter than the
            predictions when the clip ended), or None.
        predictions: (label, uint8 ``(N, Tf, H, W, C)``) for each predictor.
        error: add, after each prediction, a row of its absolute error against the truth (when there is one).
    """
    rows = [Row("context", context, future=False)]
    if truth is not None and truth.shape[1] > 0:
        rows.append(Row("truth", truth))
    for label, frames in predictions:
        rows.append(Row(label, frames))
    if error and truth is not None and truth.shape[1] > 0:
        for label, frames in predictions:
            rows.append(Row("error" if len(predictions) == 1 else f"{label} error", error_frames(frames, truth)))
    return rows


def _common_channels(rows: list[Row]) -> list[Row]:
    """Grey rows become RGB when any row is in colour, so that every tile of a grid has the same channels."""
    if all(r.frames.shape[-1] == rows[0].frames.shape[-1] for r in rows):
        return rows
    return [
        Row(r.label, np.repeat(r.frames, 3, axis=-1) if r.frames.shape[-1] == 1 else r.frames, r.future) for r in rows
    ]


def _check_rows(rows: list[Row]) -> tuple[int, int, int, int]:
    if not rows:
        raise ValueError("nothing to draw: no rows")
    n, _, h, w, _ = rows[0].frames.shape
    for row in rows:
        if row.frames.ndim != 5 or row.frames.dtype != np.uint8:
            raise ValueError(
                f"row '{row.label}' must be uint8 (N, T, H, W, C), not {row.frames.dtype} {row.frames.shape}"
            )
        if row.frames.shape[0] != n or row.frames.shape[2:4] != (h, w):
            raise ValueError(f"row '{row.label}' has shape {row.frames.shape}, the first row {rows[0].frames.shape}")
    c = max(r.frames.shape[-1] for r in rows)
    return n, h, w, c


def _fit_label(text: str, tile_width: int) -> str:
    """Shorten a label to fit above its tile (the label font is about 6 pixels a character)."""
    room = max(3, tile_width // _CHAR_PIXELS)
    return text if len(text) <= room else text[: room - 1] + "~"


def upscale(frames: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale of ``(..., H, W, C)`` frames by an integer factor (pixels stay crisp)."""
    if factor < 1:
        raise ValueError(f"upscale factor must be at least 1, not {factor}")
    if factor == 1:
        return frames
    return np.repeat(np.repeat(frames, factor, axis=-3), factor, axis=-2)


def _font():
    from PIL import ImageFont

    return ImageFont.load_default()


def _label_band(texts: Sequence[str], width: int, channels: int, color: int) -> np.ndarray:
    """A row of labels, each centred over its tile of `width` pixels: uint8 (band height, n x width, C)."""
    from PIL import Image, ImageDraw

    font = _font()
    _left, top, _right, bottom = font.getbbox("Ag")
    height = int(bottom - top) + 4
    mode = "L" if channels == 1 else "RGB"
    fill = color if channels == 1 else (color, color, color)
    image = Image.new(mode, (width * len(texts), height), 0 if channels == 1 else (0, 0, 0))
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(texts):
        if not text:
            continue
        text_width = draw.textlength(text, font=font)
        x = i * width + max(0.0, (width - text_width) / 2)
        draw.text((x, 2 - top), text, fill=fill, font=font)
    band = np.asarray(image, dtype=np.uint8)
    return band[..., None] if channels == 1 else band


def tile_grid(
    tiles: Any,
    *,
    ncols: int | None = None,
    labels: Sequence[str] | None = None,
    pad: int = 2,
    background: int = 0,
    label_color: int = 255,
) -> np.ndarray:
    """Tile images, or whole sequences, into one grid.

    Args:
        tiles: ``(N, H, W, C)`` images give one ``(H', W', C)`` image; ``(N, T, H, W, C)`` sequences give
            ``(T, H', W', C)`` frames, each the grid of the N sequences at that time (an animated grid).
            Grey ``(N, H, W)`` / ``(N, T, H, W)`` and float input in [0, 1] are accepted too.
        ncols: tiles per row (default: a near-square grid).
        labels: one text per tile, drawn above it; rows whose labels are all empty get no label band.
        pad: pixels between tiles and around the grid.
        background: grey level of the padding.
        label_color: grey level of the label text.

    Returns:
        uint8 image ``(H', W', C)`` or frames ``(T, H', W', C)``.
    """
    if hasattr(tiles, "detach"):
        tiles = tiles.detach().cpu().numpy()
    array = np.asarray(tiles)
    if array.ndim in (3, 4) and (array.ndim == 3 or array.shape[-1] not in (1, 3)):
        array = array[..., None]  # grey without a channel axis
    if array.ndim == 4:  # images: one time step
        animated = False
        array = array[:, None]
    elif array.ndim == 5:
        animated = True
    else:
        raise ValueError(f"tile_grid takes (N, H, W, C) or (N, T, H, W, C), not {tuple(array.shape)}")
    n, t, h, w, c = array.shape
    array = as_uint8_frames(array.reshape(n * t, h, w, c), channels_first=False).reshape(n, t, h, w, c)
    if n == 0:
        raise ValueError("tile_grid needs at least one tile")
    if labels is not None and len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} tiles")
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    rows = []
    for r in range(nrows):
        members = list(range(r * ncols, min(n, (r + 1) * ncols)))
        row = np.full((t, h, ncols * w + (ncols - 1) * pad, c), background, dtype=np.uint8)
        for j, i in enumerate(members):
            row[:, :, j * (w + pad) : j * (w + pad) + w] = array[i]
        texts = [labels[i] for i in members] if labels is not None else []
        if any(texts):
            texts += [""] * (ncols - len(members))
            band = _label_band(texts, w + pad, c, label_color)[:, : row.shape[2]]
            band = np.where(band > 0, band, np.uint8(background))
            row = np.concatenate([np.broadcast_to(band, (t, *band.shape)), row], axis=1)
        rows.append(row)
    width = rows[0].shape[2]
    height = sum(row.shape[1] for row in rows) + (nrows + 1) * pad
    grid = np.full((t, height, width + 2 * pad, c), background, dtype=np.uint8)
    y = pad
    for row in rows:
        grid[:, y : y + row.shape[1], pad : pad + width] = row
        y += row.shape[1] + pad
    return grid if animated else grid[0]


def animate(rows: list[Row], *, scale: int | None = None, across: bool | None = None) -> np.ndarray:
    """Frames of an animation of `rows`: rows top to bottom, sequences left to right (see the module docstring).

    Args:
        rows: the rows; the first context row (``future=False``) plays first, future rows after it.
        scale: nearest-neighbour upscale of each tile (default: :func:`default_scale`).
        across: lay the rows side by side, left to right (default: when there is a single sequence).

    Returns:
        uint8 ``(Tc + Tf, H', W', C)``, Tc the context's length and Tf the longest future row's.
    """
    rows = _common_channels(rows)
    n, h, w, c = _check_rows(rows)
    scale = scale or default_scale(h, w)
    tc = max((r.frames.shape[1] for r in rows if not r.future), default=0)
    tf = max((r.frames.shape[1] for r in rows if r.future), default=0)
    big = [np.asarray(r.frames) for r in rows]
    blank = np.full((h * scale, w * scale, c), _BLANK, dtype=np.uint8)
    frames = []
    for t in range(tc + tf):
        tiles, labels = [], []
        for row, data in zip(rows, big, strict=True):
            length = data.shape[1]
            if not row.future:
                step = min(t, length - 1)  # the context holds its last frame while the future plays
                label = f"{row.label} {step + 1}/{length}"
            else:
                step = t - tc
                label = f"{row.label} +{step + 1}" if 0 <= step < length else row.label
            for i in range(n):
                tiles.append(upscale(data[i, step], scale) if 0 <= step < length else blank)
                labels.append(_fit_label(label, w * scale))
        if across if across is not None else n == 1:
            order = [r * n + i for i in range(n) for r in range(len(rows))]  # sequence-major: one line per sequence
            tiles, labels = [tiles[k] for k in order], [labels[k] for k in order]
            frames.append(_grid(tiles, labels, ncols=len(rows)))
        else:
            frames.append(_grid(tiles, labels, ncols=n))
    return np.stack(frames)


def _grid(tiles: list[np.ndarray], labels: list[str], *, ncols: int) -> np.ndarray:
    # a dark grey between tiles: black frames (Moving MNIST) would otherwise run into each other
    return tile_grid(np.stack(tiles), ncols=ncols, labels=labels, background=_GUTTER)


def strip(rows: list[Row], *, scale: int | None = None, max_sequences: int | None = None) -> np.ndarray:
    """One image of `rows`: per sequence, a line of tiles per row, time left to right.

    The context row holds the Tc frames seen; future rows start in the first column, so that truth and
    prediction of the same step sit one above the other.

    Returns:
        uint8 ``(H', W', C)``.
    """
    rows = _common_channels(rows)
    n, h, w, c = _check_rows(rows)
    scale = scale or default_scale(h, w)
    n = min(n, max_sequences) if max_sequences else n
    ncols = max(r.frames.shape[1] for r in rows)
    blank = np.zeros((h * scale, w * scale, c), dtype=np.uint8)
    tiles, labels = [], []
    for i in range(n):
        for row in rows:
            length = row.frames.shape[1]
            for k in range(ncols):
                if k < length:
                    tiles.append(upscale(row.frames[i, k], scale))
                    text = f"{row.label} {k + 1}" if not row.future else f"{row.label} +{k + 1}"
                    if n > 1 and k == 0:
                        text = f"#{i + 1} {text}"
                    labels.append(_fit_label(text, w * scale))
                else:
                    tiles.append(blank)
                    labels.append("")
    return _grid(tiles, labels, ncols=ncols)


def write_rows(
    path: str | os.PathLike[str], rows: list[Row], *, fps: float = DEFAULT_FPS, scale: int | None = None
) -> Path:
    """Write `rows` as an animation (.gif, .mp4, ...) or a still strip (.png), by extension, atomically.

    Raises:
        InputError: an extension that is neither.
    """
    from framecast import media

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix in STILL_SUFFIXES:
        return media.write_png(strip(rows, scale=scale), target)
    if suffix in ANIMATION_SUFFIXES:
        return media.write_frames(animate(rows, scale=scale), target, fps=fps, loop=0)
    raise InputError(
        f"cannot write {target}: unknown format {suffix or '(no extension)'}",
        f"use one of {', '.join(ANIMATION_SUFFIXES + STILL_SUFFIXES)}",
    )


def check_output_suffix(path: Path, allowed: tuple[str, ...]) -> None:
    """Fail before any work when an output's extension names no format we write.

    Raises:
        UsageError: the extension is not in `allowed`.
    """
    if path.suffix.lower() not in allowed:
        raise UsageError(
            f"cannot write {path}: unknown format {path.suffix or '(no extension)'}", f"use one of {', '.join(allowed)}"
        )


# ----------------------------------------------------------------------------------------- render-gif input


def read_saved_predictions(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a saved-predictions ``.npz`` (context, prediction and, when known, truth), or None.

    None means the file is an ``.npz`` of another kind (plain sequences).

    Raises:
        DataError: a damaged archive.
        InputError: an archive whose arrays do not fit together.
    """
    from framecast.errors import DataError

    try:
        with np.load(path, allow_pickle=False) as archive:
            if not {"context", "prediction"} <= set(archive.files):
                return None
            saved = {k: np.asarray(archive[k]) for k in SAVED_KEYS if k in archive.files}
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc})", "check the file, or save it again") from None
    for key, array in saved.items():
        if array.ndim == 4:  # (N, T, H, W): grey without a channel axis
            saved[key] = array = array[..., None]
        if array.ndim != 5 or array.dtype != np.uint8:
            raise InputError(
                f"{path}: '{key}' is {array.dtype} {tuple(array.shape)}, not uint8 (N, T, H, W, C)",
                "give an .npz written by `framecast eval --save` or `framecast predict -o x.npz`",
            )
    shapes = {k: (a.shape[0], *a.shape[2:]) for k, a in saved.items()}
    if len(set(shapes.values())) != 1:
        raise InputError(
            f"{path}: its arrays do not fit together ({', '.join(f'{k} {a.shape}' for k, a in saved.items())})",
            "context, truth and prediction must hold the same sequences at the same frame size",
        )
    return saved


def render_gif(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    pred: str | os.PathLike[str] | None = None,
    fps: float | None = None,
    scale: int | None = None,
    limit: int = DEFAULT_SEQUENCES,
    start: int | None = None,
    context: int | None = None,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Render saved predictions, an array of sequences or a video as an animated GIF (or video, or PNG strip).

    Args:
        source: an ``.npz`` of saved predictions (context, truth, prediction), a ``.npy``/``.npz`` of
            sequences, or a video.
        output: the file to write; its extension picks the format (.gif, .mp4, ..., or .png for a strip).
        pred: predicted frames (``.npy``/``.npz``, as `framecast predict -o x.npy` writes) that continue
            `source`: `source` then gives the context and, where it has them, the true frames.
        fps: frames per second (default: 5 for predictions, the video's own rate for a video).
        scale: nearest-neighbour upscale (default: tiles about 192 pixels across, 3x for 64x64).
        limit: at most this many sequences from a file that holds several.
        start: with `pred`, the first context frame in `source` (default: the context ends where `source`
            ends, so nothing is known of the future).
        context: with `pred`, how many frames of `source` form the context (default 10, or as many as there are).
        channels: 1 or 3 for a video (default: colour) or to force grey/colour.
        size: (height, width) frames are brought to (default: as stored), by the one policy of framecast.clips.

    Returns:
        A JSON-ready summary: output, kind of input, frames, frame size, sequences.

    Raises:
        InputError: a missing or unusable input, or an output that cannot be written.
        DataError: a damaged input file.
    """
    from framecast._fs import check_writable_output

    source, target = Path(source).expanduser(), check_writable_output(output)
    check_output_suffix(target, ANIMATION_SUFFIXES + STILL_SUFFIXES)
    if limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}", "for example --limit 4")
    if pred is None and _is_dataset_name(source):
        return _write_picture(
            _dataset_picture(str(source), limit, channels, size), source, target, pred=None, fps=fps, scale=scale
        )
    if not source.exists():
        raise InputError(f"{source} does not exist", "check the path")
    saved = read_saved_predictions(source) if source.suffix.lower() == ".npz" and source.is_file() else None
    if pred is not None:
        if saved is not None:
            raise UsageError(f"{source} already holds predictions", "drop --pred")
        picture = _clip_and_prediction(source, Path(pred).expanduser(), start, context, channels)
    elif saved is not None:
        picture = _Picture("saved predictions", _saved_rows(saved, limit), DEFAULT_FPS)
    else:
        picture = _frames_picture(source, limit, channels, size)
    return _write_picture(picture, source, target, pred=pred, fps=fps, scale=scale)


@dataclass
class _Picture:
    """What render-gif draws: the kind of input, its rows, its natural frame rate and the conversions made."""

    kind: str
    rows: list[Row]
    fps: float
    notes: list[str] | None = None


def _saved_rows(saved: dict[str, np.ndarray], limit: int) -> list[Row]:
    n = min(limit, saved["context"].shape[0])
    saved = {k: v[:n] for k, v in saved.items()}
    return prediction_rows(saved["context"], saved.get("truth"), [("prediction", saved["prediction"])])


def _clip_and_prediction(
    source: Path, pred: Path, start: int | None, context: int | None, channels: int | None
) -> _Picture:
    """A clip with the frames predicted after it: the context from the clip, the truth where the clip goes on."""
    from framecast.clips import fit, read_clip

    predicted = _read_predicted(pred)  # uint8 (1, T, H, W, C)
    _, _, ph, pw, pc = predicted.shape
    clip = read_clip(source, channels=pc if channels is None else channels, size=(ph, pw))
    frames = clip.uint8()
    if frames.shape[-1] != pc:  # --channels asked for other channels than the prediction has
        predicted = as_uint8_frames(fit(predicted[0], channels=frames.shape[-1], size=None)[0])[None]
    total = len(frames)
    ctx = min(context or 10, total) if start is None else (context or min(10, total - start))
    first = total - ctx if start is None else start
    if first < 0 or first + ctx > total or ctx < 1:
        raise InputError(
            f"{source} has {total} frames: a context of {ctx} from frame {first} does not fit",
            "lower --context or --start",
        )
    saved = {"context": frames[None, first : first + ctx], "prediction": predicted[:1]}
    truth = frames[first + ctx : first + ctx + predicted.shape[1]]
    if len(truth):
        saved["truth"] = truth[None]
    return _Picture("clip and prediction", _saved_rows(saved, 1), DEFAULT_FPS, clip.conversions)


def _is_dataset_name(source: Path) -> bool:
    from framecast.data.registry import DATASETS

    return str(source) in DATASETS and not source.exists()


def _dataset_picture(name: str, limit: int, channels: int | None, size: tuple[int, int] | None) -> _Picture:
    """The first `limit` sequences of a named dataset's test split (generated ones need no download)."""
    from framecast.data.registry import open_dataset

    dataset = open_dataset(name, "test", context=10, horizon=10, channels=channels, size=size, limit=limit)
    clips = np.stack([as_uint8_frames(dataset[i], channels_first=True) for i in range(len(dataset))])
    return _Picture(f"sequences of {name}", [Row("frame", clips, future=False)], DEFAULT_FPS, [dataset.description])


def _frames_picture(source: Path, limit: int, channels: int | None, size: tuple[int, int] | None) -> _Picture:
    """The frames of a video, or up to `limit` sequences of an array file, as one row."""
    from framecast.clips import is_array_file, read_clip

    first = read_clip(source, channels=channels, size=size)
    if is_array_file(source):
        count = min(limit, first.source.get("sequences", 1))
        others = [read_clip(source, channels=channels, size=size, sequence=i) for i in range(1, count)]
        clips = np.stack([first.uint8()] + [c.uint8() for c in others])
        return _Picture("sequences", [Row("frame", clips, future=False)], DEFAULT_FPS)
    rate = first.source.get("fps") or DEFAULT_FPS
    return _Picture("video", [Row("frame", first.uint8()[None], future=False)], rate)


def _write_picture(
    picture: _Picture, source: Path, target: Path, *, pred: Any, fps: float | None, scale: int | None
) -> dict[str, Any]:
    rows = picture.rows
    frames_h, frames_w = rows[0].frames.shape[2:4]
    scale = scale or default_scale(frames_h, frames_w)
    rate = fps or picture.fps
    write_rows(target, rows, fps=rate, scale=scale)
    n_frames = max(r.frames.shape[1] for r in rows if not r.future) + max(
        (r.frames.shape[1] for r in rows if r.future), default=0
    )
    return {
        "input": str(source),
        "pred": str(pred) if pred is not None else None,
        "kind": picture.kind,
        "output": str(target),
        "frames": 1 if target.suffix.lower() in STILL_SUFFIXES else n_frames,
        "frame_size": [int(frames_h), int(frames_w)],
        "scale": scale,
        "fps": rate,
        "sequences": int(rows[0].frames.shape[0]),
        "rows": [r.label for r in rows],
        "conversions": picture.notes or [],
    }


def _read_predicted(path: Path) -> np.ndarray:
    """Predicted frames from an array file as uint8 (1, T, H, W, C): `predict`'s .npy, or the prediction of an .npz."""
    from framecast.clips import read_clip

    saved = read_saved_predictions(path) if path.suffix.lower() == ".npz" and path.is_file() else None
    if saved is not None:
        return saved["prediction"][:1]
    return read_clip(path).uint8()[None]


# ----------------------------------------------------------------------------------------------------- flow


def flow_to_rgb(flow: np.ndarray, max_speed: float | None = None) -> np.ndarray:
    """Flow (T, 2, H, W) of (dx, dy) pixels as colour-wheel frames, uint8 (T, H, W, 3).

    The hue is the direction the content comes from and goes to (0 red: rightwards; a third of the wheel, green:
    down and to the left, 120 degrees on, and so on with image y pointing down), the saturation the speed (white:
    still; full colour: `max_speed`, by default the fastest pixel of all the frames).
    """
    from matplotlib.colors import hsv_to_rgb

    flow = np.asarray(flow, dtype=np.float32)
    dx, dy = flow[:, 0], flow[:, 1]
    speed = np.hypot(dx, dy)
    top = float(max_speed) if max_speed else float(speed.max())
    hue = (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0
    saturation = np.clip(speed / max(top, 1e-6), 0.0, 1.0)
    hsv = np.stack([hue, saturation, np.ones_like(hue)], axis=-1)
    return np.rint(hsv_to_rgb(hsv) * 255).astype(np.uint8)


def flow_picture(flow: np.ndarray, *, scale: int | None = None) -> np.ndarray:
    """Animation frames of a flow (T, 2, H, W): each step's colour wheel under a band that gives the speed of full
    colour ("full colour: 2.30 px/frame")."""
    # at least 1 px/frame for full colour: a nearly still prediction should look nearly white, not saturated
    speed = max(1.0, float(np.hypot(flow[:, 0], flow[:, 1]).max()))
    frames = flow_to_rgb(flow, speed)  # (T, H, W, 3)
    scale = scale or default_scale(*frames.shape[1:3])
    big = upscale(frames, scale)
    band = _label_band([f"full colour: {speed:.2f} px/frame"], big.shape[2], 3, 255)
    band = np.broadcast_to(band, (len(big), *band.shape))
    return np.concatenate([band, big], axis=1)
