"""A run's files as transactions: committed generations, the pointer to the current one, the writer's lock.

Everything `--resume` needs at one step (weights, optimiser, schedule, scaler and random states, the history
and the config) is written into a new folder, ``.gen-<step>.tmp-<pid>``, then renamed to ``gen-<step>``, and only
then does the small pointer file ``COMMITTED`` change, by an atomic rename, to name it. A process killed at any
moment leaves the previous generation committed and whole; resume reads only the generation ``COMMITTED`` names,
and removes what a killed write left behind. After a commit the generation's files are published beside it
(``config.json``, ``last.safetensors``, ``best.safetensors``, ``metrics.csv``), as hard links where the file
system allows, so that people and the other commands find them where they always were; older generations are
removed.

One process writes a run at a time: the writer holds an OS lock (``flock``) on ``.lock`` in the run folder, with
its pid inside. A second writer is refused, naming the holder's pid; a lock left by a process that died is free
again (the OS drops a dead process's locks), so the next writer takes it over.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from framecast import _fs
from framecast.errors import CheckpointError, UsageError

POINTER = "COMMITTED"
LOCK = ".lock"
#: What every committed generation holds, and what is published beside the generations.
STATE_FILES = ("state.pt", "last.safetensors", "config.json")
PUBLISHED = ("config.json", "last.safetensors", "best.safetensors", "metrics.csv")

Writer = Callable[[Path], None]


# ------------------------------------------------------------------------------------------------------ lock


class RunLock:
    """The one-writer lock of a run folder, held for as long as the context (or the process) lives.

    Raises (on enter):
        UsageError: another live process holds it; the message names its pid.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            raise UsageError(
                f"the run {self.path.parent} is being written by another process (pid {holder or 'unknown'})",
                "wait for it to finish, stop it, or start another run",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the lock
            self._fd = None


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        os.lseek(fd, 0, os.SEEK_SET)
        return int(os.read(fd, 32).decode().strip() or 0) or None
    return None


def writer_pid(run_dir: Path) -> int | None:
    """The pid of the live process writing `run_dir`, or None when nobody holds its lock."""
    import fcntl

    path = Path(run_dir) / LOCK
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read_pid(fd) or -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------- generations


def committed(run_dir: Path) -> Path | None:
    """The generation folder the pointer names, when it exists and holds every state file; else None."""
    try:
        name = (Path(run_dir) / POINTER).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    gen = Path(run_dir) / name
    if not name.startswith("gen-") or "/" in name or not all((gen / f).is_file() for f in STATE_FILES):
        return None
    return gen


def commit(run_dir: Path, step: int, files: dict[str, Writer], *, carry: tuple[str, ...] = ()) -> Path:
    """Write one generation of a run and make it the committed one.

    Args:
        run_dir: the run folder (its lock held by the caller).
        step: the optimiser steps done, in the generation's name.
        files: name -> a function that writes that file at the path it is given.
        carry: names to take unchanged from the committed generation when `files` does not write them (the best
            weights of an epoch that did not improve), as hard links.

    Returns:
        The committed generation folder.
    """
    run_dir = Path(run_dir)
    previous = committed(run_dir)
    tmp = run_dir / f".gen-{step:09d}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, write in files.items():
        write(tmp / name)
    for name in carry:
        if name not in files and previous is not None and (previous / name).is_file():
            _link_or_copy(previous / name, tmp / name)
    final = _free_name(run_dir, f"gen-{step:09d}")
    os.rename(tmp, final)
    _fs.write_text(run_dir / POINTER, final.name + "\n")  # the commit: one atomic rename
    publish(run_dir, final)
    for old in run_dir.glob("gen-*"):
        if old != final and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return final


def _free_name(run_dir: Path, base: str) -> Path:
    """`base`, or `base-2`... when a generation of that step exists (a run stopped twice at one step)."""
    candidate, n = run_dir / base, 2
    while candidate.exists():
        candidate, n = run_dir / f"{base}-{n}", n + 1
    return candidate


def publish(run_dir: Path, gen: Path) -> None:
    """Put the generation's files beside it, each replaced atomically, so readers never see half of one."""
    for name in PUBLISHED:
        source, target = gen / name, run_dir / name
        if not source.is_file() or (target.is_file() and os.path.samefile(source, target)):
            continue  # (renaming a link onto another link of the same file does nothing, and leaves the link)
        with _fs.atomic_path(target) as tmp:
            tmp.unlink()
            _link_or_copy(source, tmp)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


def clean_temporaries(run_dir: Path) -> list[Path]:
    """Remove what killed writes left in a run folder (the caller holds its lock, so nobody is writing)."""
    removed = []
    for path in Path(run_dir).iterdir():
        if path.name.startswith(".gen-") or (path.name.startswith(".") and ".tmp" in path.name):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def require_committed(run_dir: Path) -> Path:
    """The committed generation to resume from.

    Raises:
        CheckpointError: none (a run from before generations, or one whose first commit never happened).
    """
    gen = committed(run_dir)
    if gen is None:
        raise CheckpointError(
            f"{run_dir} holds no committed training state to resume from",
            "start a new run (its files may be from an older framecast, or damaged)",
        )
    return gen
