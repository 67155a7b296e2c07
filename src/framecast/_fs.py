"""Atomic file writes: a file is written under a temporary name beside its target and renamed into place,
so a process killed at any moment leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it is renamed onto `target`, on failure removed.

    Args:
        target: the file to create or replace.
        suffix: extension of the temporary name (default: the target's own), for writers that pick a format
            from the extension.
    """
    target = Path(target)
    suffix = target.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; a finished file gets the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def usual_mode(path: str | os.PathLike[str]) -> None:
    """Give a file the permissions a new file gets in this process (0666 less the umask)."""
    os.chmod(path, 0o666 & ~_umask())


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Atomically write `data` to `target`."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Atomically write `text` (UTF-8) to `target`."""
    write_bytes(target, text.encode("utf-8"))


def check_writable_output(path: str | os.PathLike[str]) -> Path:
    """Check that a file can be written at `path` before any work is done, and return it as a Path.

    Raises:
        InputError: when the folder does not exist or cannot be written.
    """
    from framecast.errors import InputError

    path = Path(path).expanduser()
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(
            f"cannot write {path}: the folder {parent} does not exist",
            "create the folder first, or choose another output path",
        )
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder", "give a file name, such as out.gif")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"cannot replace {path}: it is read-only", "choose another output path, or make it writable")
    try:  # a real probe: permissions, a read-only file system or a special folder all show here, before any work
        fd, probe = tempfile.mkstemp(prefix=".framecast-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(
            f"cannot write {path}: the folder {parent} is not writable ({exc.strerror or exc})",
            "choose another output path",
        ) from None
    return path
