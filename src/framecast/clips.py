"""The one frame policy at the file edge: read any clip, know its layout, fit it to a frame format, go to uint8.

Every command that takes frames from a file (train, eval, compare, predict, render-gif, eda, the Python API)
comes through here, so a clip is turned into the same frames whichever command reads it:

- **reading**: a video is decoded once by ffmpeg and cached (:mod:`framecast.data.videos`); a ``.npy``/``.npz``
  array is memory-mapped (:mod:`framecast.data.arrays`) and its layout read from its shape
  (:func:`as_sequences`);
- **fitting** (:func:`fit`): grey by BT.601 luma (:data:`LUMA`) or colour by repeating grey; then, when the frame
  size differs, a centre crop to the target's aspect ratio followed by area scaling. ffmpeg applies this same
  policy while it decodes a video (in display pixels, see :mod:`framecast.media`); arrays get it here, in torch.
  A stretched picture would move differently from the one the model learnt on, which is why nothing stretches;
- **uint8** (:func:`to_uint8`, :func:`as_uint8_frames`): floats in [0, 1] are rounded to 0..255, the only
  float-to-uint8 conversion in framecast.

Inside the library frames are float32 in [0, 1]; uint8 ``(T, H, W, C)`` lives only at the edges.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framecast.errors import InputError
from framecast.media import ARRAY_SUFFIXES

#: ITU-R BT.601 luma weights, as ffmpeg's grey conversion uses them.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# ------------------------------------------------------------------------------------------- layout and uint8


def to_uint8(x: Any) -> np.ndarray:
    """Frames of any layout to uint8 numpy of the same shape: floats in [0, 1] are clipped and rounded.

    Accepts numpy or torch; uint8 passes through, booleans become 0/255, other integers are clipped to 0..255.
    """
    if hasattr(x, "detach"):  # a torch tensor, recognised without importing torch
        x = x.detach().cpu().numpy()
    array = np.asarray(x)
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        return np.rint(np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.clip(array, 0, 255).astype(np.uint8)


def _channels_first(shape: tuple[int, ...]) -> bool:
    """Whether a stack of frames is (..., C, H, W) rather than (..., H, W, C): a C axis of 1 or 3 before H, W."""
    return shape[-3] in (1, 3) and shape[-1] not in (1, 3, 4)


def as_uint8_frames(frames: Any, *, channels_first: bool | None = None) -> np.ndarray:
    """Bring frames to uint8 ``(T, H, W, C)`` with C of 1 or 3, from numpy or torch, uint8 or float in [0, 1].

    Accepted shapes: ``(H, W)`` (one grey frame), ``(T, H, W)`` (grey frames), ``(T, H, W, C)`` and the
    library's ``(T, C, H, W)``; which of the last two is meant is read from the shape unless `channels_first`
    says. A 4th (alpha) channel is dropped.

    Raises:
        InputError: for any other shape.
    """
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().numpy()
    array = np.asarray(frames)
    if array.ndim == 2:
        array = array[None, :, :, None]
    elif array.ndim == 3:
        array = array[..., None]
    elif array.ndim == 4:
        if _channels_first(array.shape) if channels_first is None else channels_first:
            array = array.transpose(0, 2, 3, 1)
    else:
        raise InputError(
            f"frames of shape {tuple(array.shape)} are not frames",
            "give (T, H, W), (T, H, W, C) or (T, C, H, W) frames",
        )
    if array.shape[-1] == 4:
        array = array[..., :3]
    if array.shape[-1] not in (1, 3):
        raise InputError(f"frames with {array.shape[-1]} channels cannot be used", "use 1 (grey) or 3 (RGB)")
    return np.ascontiguousarray(to_uint8(array))


def is_standard_layout(path: Path) -> bool:
    """The standard Moving MNIST test file keeps time first: (T, N, H, W)."""
    return path.name.startswith("mnist_test_seq")


def as_sequences(array: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
    """An array of frames or of sequences as ``(N, T, H, W, C)`` (views, no copy) and the layout it was read as.

    Layouts: one clip ``(T, H, W)``, ``(T, H, W, C)`` or ``(T, C, H, W)``; sequences ``(N, T, H, W)``,
    ``(N, T, H, W, C)`` or ``(N, T, C, H, W)``, with C of 1 or 3; the standard Moving MNIST file ``(T, N, H, W)``.

    Raises:
        InputError: for any other rank or channel count.
    """
    if array.ndim == 3:
        return array[None, ..., None], "(T, H, W)"
    if array.ndim == 4:
        if is_standard_layout(path):
            return array.transpose(1, 0, 2, 3)[..., None], "(T, N, H, W)"
        if array.shape[-1] in (1, 3):
            return array[None], "(T, H, W, C)"
        if array.shape[1] in (1, 3):
            return array.transpose(0, 2, 3, 1)[None], "(T, C, H, W)"
        return array[..., None], "(N, T, H, W)"
    if array.ndim == 5:
        if array.shape[-1] in (1, 3):
            return array, "(N, T, H, W, C)"
        if array.shape[2] in (1, 3):
            return array.transpose(0, 1, 3, 4, 2), "(N, T, C, H, W)"
        raise InputError(
            f"{path} has shape {tuple(array.shape)}: no axis of 1 or 3 channels",
            "use (N, T, H, W), (N, T, H, W, C) or (N, T, C, H, W) with C = 1 or 3",
        )
    raise InputError(
        f"{path} has shape {tuple(array.shape)}, which is neither a clip nor sequences",
        "give frames as (T, H, W), (T, H, W, C), or sequences as (N, T, H, W[, C])",
    )


# ---------------------------------------------------------------------------------------------- the policy


def crop_box(height: int, width: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width): the centred crop of a frame to the aspect ratio of `size`."""
    th, tw = size
    ch, cw = min(height, round(width * th / tw)), min(width, round(height * tw / th))
    return (height - ch) // 2, (width - cw) // 2, ch, cw


def fit(frames: np.ndarray, *, channels: int | None, size: tuple[int, int] | None) -> tuple[np.ndarray, list[str]]:
    """Bring ``(T, H, W, C)`` frames (uint8, or floats in [0, 1]) to `channels` and `size`, as floats.

    Grey by BT.601 luma, colour by repeating grey; then, for another size, a centre crop to the target's
    aspect followed by area scaling. None keeps the frames' own channels or size.

    Returns:
        float32 ``(T, H', W', C')`` in [0, 1], and each change made, in words (empty when none was needed).
    """
    notes: list[str] = []
    x = np.asarray(frames)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else np.asarray(x, dtype=np.float32)
    c = x.shape[-1]
    if channels is not None and channels != c:
        if channels == 1:
            x = (x @ LUMA)[..., None]
            notes.append("converted colour to grey (BT.601 luma)")
        else:
            x = np.repeat(x, 3, axis=-1)
            notes.append("converted grey to 3 channels (repeated)")
    _, h, w, _ = x.shape
    if size is not None and (h, w) != tuple(size):
        x = _crop_and_scale(x, tuple(size))
        _, _, ch, cw = crop_box(h, w, tuple(size))
        crop = f"centre-cropped to {cw}x{ch}, " if (ch, cw) != (h, w) else ""
        notes.append(f"resized from {w}x{h} to {size[1]}x{size[0]} ({crop}area scaling)")
    return np.ascontiguousarray(np.clip(x, 0.0, 1.0)), notes


def _crop_and_scale(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop float (T, H, W, C) frames to the aspect of `size`, then area-scale them to it."""
    import torch
    import torch.nn.functional as F

    top, left, ch, cw = crop_box(x.shape[1], x.shape[2], size)
    # a copy: the frames may be a read-only memory map, which torch warns about even when it only reads them
    t = torch.from_numpy(np.array(x[:, top : top + ch, left : left + cw], order="C")).permute(0, 3, 1, 2)
    return F.interpolate(t, size=size, mode="area").permute(0, 2, 3, 1).numpy()


# -------------------------------------------------------------------------------------------------- reading


def is_array_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is read as an array of frames rather than decoded as a video."""
    return Path(path).suffix.lower() in ARRAY_SUFFIXES


def open_sequences(path: Path) -> tuple[np.ndarray, str]:
    """The sequences of an array file as ``(N, T, H, W, C)`` (memory-mapped views for .npy) and their layout.

    Raises:
        InputError: not an array of frames or sequences; DataError: a damaged file or values out of range.
    """
    from framecast.data.arrays import check_values, open_array

    array = open_array(path)
    check_values(array, path)
    return as_sequences(array, path)


@dataclass
class ClipFrames:
    """A clip's frames in the format asked for, and what it took to get them there.

    Attributes:
        path: the file read.
        frames: float32 ``(T, H, W, C)`` in [0, 1].
        source: the clip as stored: kind ("video", "array" or "dataset"), frames, height, width, channels (None
            for a video, whose pixel format is not reported), fps and codec (videos), layout, sequence and
            sequences (arrays).
        conversions: each change made to the frames, in words (empty when none was needed).
    """

    path: Path
    frames: np.ndarray
    source: dict[str, Any]
    conversions: list[str] = field(default_factory=list)

    def uint8(self) -> np.ndarray:
        """The frames as uint8 ``(T, H, W, C)``."""
        return to_uint8(self.frames)

    def conversion(self) -> dict[str, Any]:
        """The conversion as JSON: whether anything changed, from what, to what, and the steps."""
        _, h, w, c = self.frames.shape
        return {
            "changed": bool(self.conversions),
            "from": {k: self.source.get(k) for k in ("height", "width", "channels")},
            "to": {"height": h, "width": w, "channels": c},
            "steps": list(self.conversions),
        }


def read_clip(
    path: str | os.PathLike[str],
    *,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    sequence: int = 0,
) -> ClipFrames:
    """Read a clip, a video or an array file, as float ``(T, H, W, C)`` frames of the format asked for.

    Args:
        path: a video (mp4, avi, mkv, webm, gif, ...) or a ``.npy``/``.npz`` of frames or of sequences.
        channels: 1 or 3 (default: a video is read in colour, an array keeps its own).
        size: (height, width) (default: as stored).
        sequence: which sequence of an array of several.

    Raises:
        InputError: a missing path, a file that is neither a video nor an array of frames, a bad `sequence`.
        DataError: a damaged or truncated file.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path} does not exist", "check the path")
    if is_array_file(path):
        return _read_array_clip(path, channels=channels, size=size, sequence=sequence)
    return _read_video_clip(path, channels=channels, size=size)


def _read_array_clip(path: Path, *, channels: int | None, size: tuple[int, int] | None, sequence: int) -> ClipFrames:
    sequences, layout = open_sequences(path)
    n, t, h, w, c = sequences.shape
    if not 0 <= sequence < n:
        raise InputError(
            f"{path} holds {n} sequence{'s' if n != 1 else ''}, so there is no sequence {sequence}",
            f"give --sequence 0 to {n - 1}",
        )
    frames, notes = fit(sequences[sequence], channels=channels, size=size)
    if n > 1:
        notes.insert(0, f"took sequence {sequence} of the {n} in the file")
    source = {"kind": "array", "layout": layout, "frames": t, "height": h, "width": w, "channels": c}
    return ClipFrames(path, frames, {**source, "sequence": sequence, "sequences": n}, notes)


def _read_video_clip(path: Path, *, channels: int | None, size: tuple[int, int] | None) -> ClipFrames:
    from framecast.data.videos import read_cached

    clip = read_cached(path, channels=channels or 3, size=size)
    info = clip.info
    notes = ["decoded as grey (BT.601 luma)"] if channels == 1 else []
    if size is not None and (info["height"], info["width"]) != tuple(size):
        notes.append(
            f"resized from {info['width']}x{info['height']} to {size[1]}x{size[0]} (centre-cropped to the target's "
            "aspect in display pixels, area scaling)"
        )
    source = {"kind": "video", "frames": info["frames"], "height": info["height"], "width": info["width"]}
    source.update(channels=None, fps=info["fps"], codec=info["codec"])
    frames, _ = fit(clip.frames, channels=None, size=None)
    return ClipFrames(path, frames, source, notes)


# ------------------------------------------------------------------------------------------- what a clip shows


def looks_like_digits(frames: np.ndarray) -> bool:
    """Whether float frames look like Moving MNIST (bright strokes on an almost all black canvas) rather than a
    natural scene: three quarters of their pixels or more are black. A guess, used only to pick and warn."""
    return float((np.asarray(frames) < 0.05).mean()) >= 0.75


def is_colour(path: str | os.PathLike[str], *, sequence: int = 0) -> bool:
    """Whether a clip holds colour, not grey stored as RGB (a small decode, cached, for a video)."""
    clip = read_clip(path, channels=None, size=(32, 32), sequence=sequence)
    frames = clip.frames
    if frames.shape[-1] != 3:
        return False
    spread = np.abs(frames - frames.mean(axis=-1, keepdims=True)).mean()
    return float(spread) > 2 / 255  # more than JPEG-like noise between the channels


# ------------------------------------------------------------------------------------- repeats and scene cuts

#: Consecutive frames whose mean absolute difference is under this (of 255) hold the same content: a 15 fps
#: source stored at 30 fps repeats every frame once.
REPEAT_LEVEL = 0.5
#: A change between two frames is a cut when it is this many times the typical change around it, and at least
#: CUT_LEVEL (of 255): a new shot changes most pixels at once, motion changes a few.
CUT_FACTOR = 5.0
CUT_LEVEL = 20.0
#: Frames on each side whose changes make the "typical change" a cut is measured against.
CUT_WINDOW = 8


def frame_changes(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference between each frame and the one before it, in grey levels (0-255): T-1 values."""
    x = np.asarray(frames, dtype=np.float32)
    x = x if np.asarray(frames).dtype == np.uint8 else x * 255.0
    return np.abs(np.diff(x, axis=0)).reshape(len(x) - 1, -1).mean(axis=1) if len(x) > 1 else np.zeros(0)


def find_cuts(frames: np.ndarray) -> list[int]:
    """Indices t where a new shot starts (frame t is unlike frame t-1 as a cut is, not as motion is)."""
    changes = frame_changes(frames)
    cuts = []
    for i, change in enumerate(changes):
        around = np.concatenate([changes[max(0, i - CUT_WINDOW) : i], changes[i + 1 : i + 1 + CUT_WINDOW]])
        moving = around[around >= REPEAT_LEVEL]  # repeated frames would make every change look large
        typical = float(np.median(moving)) if len(moving) else 0.0
        if change >= CUT_LEVEL and change >= CUT_FACTOR * max(typical, 1.0):
            cuts.append(i + 1)
    return cuts


def repeat_cadence(frames: np.ndarray) -> int:
    """How many times each frame of content is held: 1 for none, 2 for a 15 fps source in a 30 fps file...

    A steady cadence is one where at least 70% of the gaps between new contents have the same length k > 1
    (a slip of the pattern here and there is allowed); anything else is 1.
    """
    changes = frame_changes(frames)
    new = np.flatnonzero(changes >= REPEAT_LEVEL) + 1  # frames that bring new content
    if len(new) < 4:
        return 1
    gaps = np.diff(new)
    values, counts = np.unique(gaps, return_counts=True)
    k = int(values[np.argmax(counts)])
    return k if k > 1 and counts.max() >= 0.7 * len(gaps) else 1


def content_frames(frames: np.ndarray) -> np.ndarray:
    """Indices of the frames that bring new content: the first, and every one unlike the last one kept."""
    x = np.asarray(frames, dtype=np.float32)
    scale = 1.0 if np.asarray(frames).dtype == np.uint8 else 255.0
    kept = [0]
    for t in range(1, len(x)):
        if np.abs(x[t] - x[kept[-1]]).mean() * scale >= REPEAT_LEVEL:
            kept.append(t)
    return np.array(kept)


def repeats_and_cuts(frames: np.ndarray) -> dict[str, Any]:
    """What `eda` reports of a clip: the share of repeated frames, the cadence, and where the cuts are."""
    changes = frame_changes(frames)
    return {
        "repeated_share": float((changes < REPEAT_LEVEL).mean()) if len(changes) else 0.0,
        "cadence": repeat_cadence(frames),
        "cuts": find_cuts(frames),
    }
