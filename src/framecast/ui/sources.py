"""What a run of the page predicts: an uploaded clip, a file of the samples folder, or a generated test sequence.

Every way in ends as a :class:`Clip`, checked before any model runs: an upload against the caps of
:mod:`framecast.ui.limits` (bytes, then frames, counted by a tiny decode), a sample against its folder (a name that
leads outside it, by ``..``, an absolute path or a link, is refused), a generated sequence against the sources
framecast has. Frames are read later, per model, by :func:`framecast.predict.run_predict`, as `framecast
predict` reads them.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from framecast.errors import InputError
from framecast.ui import limits

#: Generated sources a person can pick a test sequence of, and how the page names them.
GENERATED = {"moving-mnist": "Moving MNIST", "moving-scenes": "Moving scenes"}


@dataclass(frozen=True)
class Clip:
    """A clip to predict.

    Attributes:
        path: the file, or the name of a generated source.
        label: how the page names it (the file's name, or "Moving MNIST test sequence 3").
        frames: frames in the file; None for a generated sequence (made as long as each model asks).
        sequence: which test sequence of a generated source.
        upload: whether it came from a person's browser (its decoded frames are forgotten after the run).
    """

    path: str
    label: str
    frames: int | None
    sequence: int = 0
    upload: bool = False


def readable_suffixes() -> tuple[str, ...]:
    """Extensions of the clips the page takes: the videos and arrays `framecast predict` reads."""
    from framecast.media import ARRAY_SUFFIXES, VIDEO_SUFFIXES

    return (*VIDEO_SUFFIXES, *ARRAY_SUFFIXES)


def generated(name: str, sequence: int | float | None) -> Clip:
    """A test sequence of a generated source (`moving-mnist`, `moving-scenes`).

    Raises:
        InputError: an unknown source or a negative number (one past the end is refused when it is read).
    """
    if name not in GENERATED:
        raise InputError(f"there is no generated source '{name}'", f"pick one of {', '.join(GENERATED)}")
    number = 0 if sequence is None else int(sequence)
    if number < 0 or number != (sequence or 0):
        raise InputError(f"test sequence {sequence} does not exist", "sequences are numbered 0, 1, 2...")
    return Clip(name, f"{GENERATED[name]} test sequence {number}", None, number)


def list_samples(root: str | os.PathLike[str] | None) -> list[str]:
    """The clips under `root`, as paths relative to it, sorted (hidden files and folders left out)."""
    if root is None:
        return []
    base, suffixes, found = Path(root), readable_suffixes(), []
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        depth = len(Path(folder).relative_to(base).parts)
        if depth >= 4:
            dirs.clear()
        found += [
            (Path(folder) / f).relative_to(base).as_posix()
            for f in files
            if not f.startswith(".") and Path(f).suffix.lower() in suffixes
        ]
    return sorted(found)[: limits.MAX_SAMPLES]


def sample(root: str | os.PathLike[str] | None, name: str | None) -> Clip:
    """A file of the samples folder, by its path relative to the folder.

    Raises:
        InputError: no samples folder, no name, a name that leads outside the folder, or no such clip in it.
    """
    if root is None:
        raise InputError("this page has no samples folder", "start it with `framecast ui --samples DIR`")
    if not name or not str(name).strip():
        raise InputError("no sample picked", "pick a clip of the samples folder, or upload one")
    base = Path(root).resolve()
    target = (base / str(name).strip()).resolve()
    if target == base or not target.is_relative_to(base):
        raise InputError(
            f"'{name}' is not in the samples folder: the page serves only the clips inside it",
            "pick one of the samples listed",
        )
    if not target.is_file() or target.suffix.lower() not in readable_suffixes():
        raise InputError(f"there is no sample clip '{name}'", "pick one of the samples listed")
    return Clip(str(target), target.relative_to(base).as_posix(), count_frames(target))


def upload(path: str | os.PathLike[str] | None, folder: str | os.PathLike[str] | None = None) -> Clip:
    """An uploaded file (inside `folder`, where the web server keeps uploads, when given), checked against the caps
    before any model sees it.

    Raises:
        InputError: nothing uploaded, a file elsewhere, of another kind, or past a cap. DataError: a damaged clip.
    """
    if path is None:
        raise InputError("no clip uploaded", "drop a video (mp4, avi, webm, gif...) or a .npy/.npz on the upload box")
    file = Path(path)
    if folder is not None and not file.resolve().is_relative_to(Path(folder).resolve()):
        raise InputError(f"{file.name} is not an upload of this page", "upload the clip with the page's upload box")
    if not file.is_file():
        raise InputError(
            f"the upload {file.name} is gone: uploads are removed after {limits.KEEP_SECONDS // 60} minutes",
            "upload the clip again",
        )
    size = file.stat().st_size
    if size > limits.MAX_UPLOAD_BYTES:
        raise InputError(
            f"{file.name} is {size / 2**20:.0f} MB, and the page takes clips of up to {limits.MAX_UPLOAD_MB} MB",
            "cut the clip shorter or smaller, or run `framecast predict` on it from the command line",
        )
    if file.suffix.lower() not in readable_suffixes():
        raise InputError(f"{file.name} is not a clip the page reads", f"upload one of {', '.join(readable_suffixes())}")
    if file.suffix.lower() == ".npz":
        _check_inflated(file)
    clip = Clip(str(file), file.name, count_frames(file), upload=True)
    if clip.frames > limits.MAX_UPLOAD_FRAMES:
        forget(clip)
        raise InputError(
            f"{file.name} has {clip.frames:,} frames, and the page takes clips of up to {limits.MAX_UPLOAD_FRAMES:,}",
            "cut the clip shorter (the models see only its last frames), or run `framecast predict` on it",
        )
    return clip


def _check_inflated(path: Path) -> None:
    """An .npz is a zip: refuse one whose arrays would fill memory once inflated, before inflating them."""
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # not a zip after all: reading it says what is wrong
    if inflated > limits.MAX_ARRAY_BYTES:
        raise InputError(
            f"{path.name} holds {inflated / 2**20:,.0f} MB of arrays once inflated, and the page takes up to "
            f"{limits.MAX_ARRAY_BYTES / 2**20:,.0f} MB",
            "save fewer or smaller frames, or run `framecast predict` on it",
        )


def count_frames(path: Path) -> int:
    """Frames of a clip, counted by a tiny grey decode: a file that is not a clip, or a damaged one, fails here
    with the message `framecast predict` gives (InputError, DataError)."""
    from framecast.clips import read_clip

    return len(read_clip(path, channels=1, size=limits.PROBE_SIZE).frames)


def forget(clip: Clip) -> None:
    """Remove what reading an upload left in framecast's cache of decoded clips: its frames stay nowhere."""
    from framecast import paths
    from framecast.clips import is_array_file
    from framecast.data.videos import cache_paths

    if not clip.upload or is_array_file(clip.path) or not Path(clip.path).is_file():
        return
    _, facts = cache_paths(clip.path, 1, None)  # <version>-<content hash>.json: every decode of it starts alike
    for cached in paths.clips_cache_dir().glob(f"{facts.stem}*"):
        cached.unlink(missing_ok=True)
