"""Unpacking downloaded archives into the cache: zip with the standard library, RAR with a system tool.

:func:`unpack` extracts an archive into a hidden temporary folder beside the archive, moves each top-level
entry into the destination (made only then, replacing older copies of those entries), and last writes a stamp,
``.<archive>.unpacked`` beside the archive, holding the archive's size and modification time and what was
unpacked. An unpack that is interrupted leaves no stamp and is simply done again; :func:`is_unpacked` says
whether the stamp still matches the archive (a new download of it is unpacked again).

- zip (KTH's action archives, UCF101's split lists): members with an absolute path or a ``..`` are refused, and
  every member's CRC is checked as it is read, so a damaged archive is an error, not half a dataset.
- RAR (UCF101's videos): no library in Python's standard set reads it, so the first of ``unrar``, ``unar``,
  ``7z``, ``7zz`` and ``bsdtar`` found on PATH does; each of them tests the CRCs of what it extracts.
  :func:`require_tool` fails with one line naming them (and how to install one) when none is there: the
  download checks it before fetching anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from framecast import _fs, paths
from framecast.errors import DataError, DownloadError, FramecastError

#: Programs that unpack RAR archives, in the order they are looked for on PATH.
RAR_TOOLS = ("unrar", "unar", "7z", "7zz", "bsdtar")

#: How to install one of them, for the hint of :class:`MissingToolError`.
INSTALL_HINT = (
    "install one of them: `sudo apt install unar` on Debian or Ubuntu (or the packages unrar, p7zip-full, "
    "libarchive-tools), `brew install unar` on macOS; then run the command again"
)


class MissingToolError(FramecastError):
    """An archive needs a program that is not installed (exit 1)."""

    exit_code = 1


def needs_tool(archive: str | os.PathLike[str]) -> bool:
    """Whether unpacking this archive needs a system program (RAR archives do)."""
    return Path(archive).suffix.lower() == ".rar"


def find_tool() -> tuple[str, str] | None:
    """The first RAR tool on PATH, as (name, path), or None."""
    for name in RAR_TOOLS:
        found = shutil.which(name)
        if found:
            return name, found
    return None


def require_tool(archive: str | os.PathLike[str]) -> tuple[str, str] | None:
    """The tool that will unpack `archive`: None for a zip, the RAR tool for a .rar.

    Raises:
        MissingToolError: a .rar and none of :data:`RAR_TOOLS` is on PATH.
    """
    if not needs_tool(archive):
        return None
    tool = find_tool()
    if tool is None:
        names = ", ".join(RAR_TOOLS[:-1]) + f" or {RAR_TOOLS[-1]}"
        raise MissingToolError(
            f"{Path(archive).name} is a RAR archive, and unpacking it needs one of {names}; none is installed",
            INSTALL_HINT,
        )
    return tool


def stamp_path(archive: Path) -> Path:
    """Where the stamp of an unpacked archive lives: beside the archive."""
    return archive.parent / f".{archive.name}.unpacked"


def _fingerprint(archive: Path) -> dict[str, int]:
    stat = archive.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def read_stamp(archive: str | os.PathLike[str]) -> dict | None:
    """What the stamp of an archive says (archive, bytes, mtime_ns, into, entries), or None without one."""
    try:
        return json.loads(stamp_path(Path(archive)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_unpacked(archive: str | os.PathLike[str]) -> bool:
    """True when `archive` was unpacked and has not changed since (same size and modification time)."""
    archive = Path(archive)
    stamp = read_stamp(archive)
    if stamp is None or not archive.is_file():
        return False
    return {k: stamp.get(k) for k in ("bytes", "mtime_ns")} == _fingerprint(archive)


def _safe_members(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    members = zf.infolist()
    for info in members:
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise DataError(
                f"{archive.name} holds a file outside its own folder ({info.filename}): it was not unpacked",
                "this is not the published archive: delete it and download it again",
            )
    return members


def _unzip(archive: Path, target: Path, redo: str) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in _safe_members(zf, archive):
                zf.extract(info, target)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise DataError(f"{archive.name} is not a readable zip archive ({exc})", redo) from None


def tool_command(tool: str, exe: str, archive: Path, target: Path) -> list[str]:
    """The command line that makes `tool` extract `archive` into the folder `target` (which exists)."""
    if tool == "unrar":
        return [exe, "x", "-o+", "-idq", "-y", str(archive), f"{target}{os.sep}"]
    if tool == "unar":
        return [exe, "-quiet", "-force-overwrite", "-no-directory", "-output-directory", str(target), str(archive)]
    if tool in ("7z", "7zz"):
        return [exe, "x", "-y", "-bd", f"-o{target}", str(archive)]
    return [exe, "-x", "-f", str(archive), "-C", str(target)]  # bsdtar


def _run_tool(tool: tuple[str, str], archive: Path, target: Path, redo: str) -> None:
    name, exe = tool
    result = subprocess.run(tool_command(name, exe, archive, target), capture_output=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        said = (result.stderr or result.stdout).decode("utf-8", errors="replace").strip().splitlines()
        raise DataError(
            f"{name} could not unpack {archive.name} (exit code {result.returncode})"
            + (f": {said[-1].strip()}" if said else ""),
            redo,
        )


def _needed_bytes(archive: Path) -> int:
    with contextlib.suppress(zipfile.BadZipFile, OSError, ValueError):  # a damaged zip is reported by the unpack
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                return sum(info.file_size for info in zf.infolist())
    return archive.stat().st_size  # a RAR of videos unpacks to about its own size


def _check_space(archive: Path, dest: Path) -> None:
    needed = _needed_bytes(archive)
    free = shutil.disk_usage(dest).free
    if needed > free:
        raise DownloadError(
            f"not enough disk space to unpack {archive.name}: it needs {needed / 1e6:.0f} MB, "
            f"{dest} has {free / 1e6:.0f} MB free",
            "free some disk space, or set FRAMECAST_HOME to a folder on a larger disk",
        )


def _move_into(tmp: Path, dest: Path) -> list[str]:
    entries = sorted(p.name for p in tmp.iterdir())
    for name in entries:
        target = dest / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(tmp / name, target)
    return entries


def unpack(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    redo_hint: str | None = None,
    notify: Callable[[str], None] | None = None,
) -> list[Path]:
    """Unpack `archive` into the folder `dest` (made when missing) and stamp it as unpacked.

    Args:
        archive: a .zip or a .rar.
        dest: the folder its contents go to; entries already there with the same names are replaced.
        redo_hint: what to tell people when the archive turns out damaged (default: download it again).
        notify: called with a line for people.

    Returns:
        The top-level entries unpacked, as paths in `dest`.

    Raises:
        MissingToolError: a .rar and no tool to unpack it.
        DataError: the archive is damaged or holds paths outside its folder (nothing is left half-unpacked).
        DownloadError: the disk has no room for it.
    """
    archive, dest = Path(archive), Path(dest)
    redo = redo_hint or f"delete {archive} and download it again"
    tool = require_tool(archive)
    _check_space(archive, archive.parent)
    if notify is not None:
        notify(f"unpacking {archive.name} into {dest}" + (f" with {tool[0]}" if tool else ""))
    stamp_path(archive).unlink(missing_ok=True)
    tmp = archive.parent / f".unpacking-{archive.name}.tmp"  # beside the archive: renames out of it stay on one disk
    shutil.rmtree(tmp, ignore_errors=True)  # what an interrupted run left
    tmp.mkdir()
    try:
        if tool is None:
            _unzip(archive, tmp, redo)
        else:
            _run_tool(tool, archive, tmp, redo)
        entries = _move_into(tmp, paths.ensure(dest))
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
    stamp = {"archive": archive.name, **_fingerprint(archive), "into": str(dest), "entries": entries}
    _fs.write_text(stamp_path(archive), json.dumps(stamp, indent=2) + "\n")
    return [dest / name for name in entries]
