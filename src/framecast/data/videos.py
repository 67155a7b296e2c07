"""Folders of videos as a source of clips: find the files, decode each once, keep the frames on disk.

A folder is searched recursively. UCF101-style class folders (``root/PushUps/v_PushUps_g01_c01.avi``) can be
picked by name: a file's class is the name of the folder it sits in.

Decoded clips are cached under :func:`framecast.paths.clips_cache_dir`, so a second epoch or a second command
never decodes a file again. The cache is keyed by the file's *content*, not its name or place: a BLAKE2b hash
of all of its bytes (about 1 GB/s, a few milliseconds for a clip of a few MB, small beside the decode it
saves; a copy or a move of the file still hits, an edit in place misses). The hash is remembered for the rest
of the process by path, size and modification time, so a file is read once per process at most. Beside the
content, the key holds what changes the frames: channels and frame size. Frames are always cached at full
frame rate; a frame stride is a view of the cached array. Files in the cache, readable with ``ls``::

    v1-<hash>-gray-64x64.npy     uint8 (T, H, W, C) frames, loaded memory-mapped
    v1-<hash>-rgb-64x80.npy
    v1-<hash>.json               what the decode learnt: frames, fps, stored size, codec (media.VideoInfo)

Every file is written atomically, so two processes decoding the same clip at once do no harm. Deleting the
folder (or any file in it) is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framecast import paths
from framecast.errors import InputError, closest
from framecast.media import VIDEO_SUFFIXES

#: Bumped whenever decoding changes what frames come out, so that old cache entries are not reused.
CACHE_VERSION = 1

_digests: dict[tuple[str, int, int, int], str] = {}


@dataclass(frozen=True)
class Clip:
    """A decoded clip and what its decode learnt about the file."""

    frames: np.ndarray  # uint8 (T, H, W, C); read-only, memory-mapped from the cache
    info: dict  # media.VideoInfo as a dict: frames, fps, width, height, duration, codec, container, path


def find_videos(root: str | os.PathLike[str], classes: list[str] | None = None) -> list[Path]:
    """Video files under `root`, searched recursively, in a stable (sorted) order.

    Args:
        root: a folder, or one video file (returned as it is).
        classes: keep only files whose folder has one of these names (UCF101-style class folders).

    Raises:
        InputError: `root` does not exist; a class name matches no folder (the closest is suggested); no video
            file is found.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise InputError(f"{root} does not exist", "check the path")
    if root.is_file():
        return [root]
    found = sorted(
        (
            p
            for p in root.rglob("*")
            if p.suffix.lower() in VIDEO_SUFFIXES
            and not p.name.startswith(".")  # hidden files, and half-written temporaries of atomic writes
            and p.is_file()
        ),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    if not found:
        raise InputError(
            f"no video files in {root}",
            f"put videos ({', '.join(e.lstrip('.') for e in VIDEO_SUFFIXES)}) in the folder or its subfolders",
        )
    if not classes:
        return found
    available = sorted({p.parent.name for p in found if p.parent != root})
    if not available:
        raise InputError(
            f"{root} has no class folders, so classes cannot be picked",
            "drop --classes, or arrange the videos as <folder>/<class>/<video>",
        )
    unknown = [c for c in classes if c not in available]
    if unknown:
        suggestion = closest(unknown[0], available)
        maybe = f". Did you mean '{suggestion}'?" if suggestion else ""
        listed = ", ".join(available[:30]) + (f" and {len(available) - 30} more" if len(available) > 30 else "")
        raise InputError(f"no class folder named '{unknown[0]}' in {root}{maybe}", f"classes found: {listed}")
    wanted = set(classes)
    return [p for p in found if p.parent != root and p.parent.name in wanted]


def class_of(path: Path, root: Path) -> str | None:
    """The class of a video under `root`: the name of its folder, or None for a file directly in `root`."""
    return None if path.parent == root else path.parent.name


def file_digest(path: str | os.PathLike[str]) -> str:
    """BLAKE2b (128-bit) hex digest of a file's bytes, remembered per process by path, size and mtime."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    digest = _digests.get(key)
    if digest is None:
        h = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        digest = _digests[key] = h.hexdigest()
    return digest


def _size_tag(size: tuple[int, int] | None) -> str:
    return "native" if size is None else f"{size[0]}x{size[1]}"


def cache_paths(path: str | os.PathLike[str], channels: int, size: tuple[int, int] | None) -> tuple[Path, Path]:
    """Where the decoded frames (.npy) and the decode's facts (.json) of a file are cached."""
    stem = f"v{CACHE_VERSION}-{file_digest(path)}"
    kind = "gray" if channels == 1 else "rgb"
    root = paths.clips_cache_dir()
    return root / f"{stem}-{kind}-{_size_tag(size)}.npy", root / f"{stem}.json"


def _load_cached(frames_path: Path) -> np.ndarray | None:
    try:
        return np.load(frames_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):  # missing, or damaged by hand: decode again
        return None


def read_cached(
    path: str | os.PathLike[str],
    *,
    channels: int = 1,
    size: tuple[int, int] | None = (64, 64),
    frame_stride: int = 1,
) -> Clip:
    """Decode a video (or take it from the cache) and return its frames with the facts of its file.

    Args:
        path: a video file.
        channels: 1 grey, 3 RGB.
        size: (height, width) after centre-crop and resize (see framecast.media), or None for the stored size.
        frame_stride: keep every Nth frame.

    Raises:
        InputError: the path does not exist or is not a video.
        DataError: the video is damaged or truncated.
    """
    from framecast import _fs, media

    path = Path(path).expanduser()
    if not path.is_file():
        media.read_video(path)  # raises the right error for a missing path or a folder
    if frame_stride < 1:
        raise InputError(f"frame stride must be at least 1, not {frame_stride}", "use --frame-stride 1 or more")
    frames_path, info_path = cache_paths(path, channels, size)
    frames = _load_cached(frames_path)
    info = None
    if frames is not None:
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = None
    if frames is None or info is None:
        decoded, video_info = media.read_video(path, channels=channels, size=size)
        paths.ensure(frames_path.parent)
        with _fs.atomic_path(frames_path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, decoded, allow_pickle=False)
        info = video_info.to_dict()
        _fs.write_text(info_path, json.dumps(info, indent=2))
        frames = _load_cached(frames_path)
        assert frames is not None  # just written
    info = {**info, "path": str(path)}  # the facts are the content's; the name is the caller's
    return Clip(frames=frames[::frame_stride] if frame_stride > 1 else frames, info=info)


def load_clip(
    path: str | os.PathLike[str],
    *,
    channels: int = 1,
    size: tuple[int, int] | None = (64, 64),
    frame_stride: int = 1,
) -> np.ndarray:
    """Frames of a video as uint8 ``(T, H, W, C)``, decoded once and then read memory-mapped from the cache.

    The array is read-only (a view of the cache file); ``np.array(frames)`` makes a private copy.

    Args:
        path: a video file.
        channels: 1 grey, 3 RGB.
        size: (height, width) after centre-crop and resize (see framecast.media), or None for the stored size.
        frame_stride: keep every Nth frame.

    Raises:
        InputError: the path does not exist or is not a video.
        DataError: the video is damaged or truncated.
    """
    return read_cached(path, channels=channels, size=size, frame_stride=frame_stride).frames


def clip_info(path: str | os.PathLike[str], *, channels: int = 1, size: tuple[int, int] | None = (64, 64)) -> dict:
    """Frames decoded, fps, stored size and codec of a video file, from the cache when it has them.

    `channels` and `size` only matter when the file has never been decoded: the decode they ask for fills the
    cache for the next :func:`load_clip` with the same options.
    """
    path = Path(path).expanduser()
    if path.is_file():
        _, info_path = cache_paths(path, channels, size)
        try:
            return {**json.loads(info_path.read_text(encoding="utf-8")), "path": str(path)}
        except (OSError, ValueError):
            pass  # never decoded (or the cache was cleared): decode now
    return read_cached(path, channels=channels, size=size).info
