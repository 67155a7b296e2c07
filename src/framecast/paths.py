"""Where framecast keeps things.

- ``FRAMECAST_HOME``, when set, holds everything: ``cache/``, ``data/`` and ``config/`` below it.
- Otherwise the platform's user directories (platformdirs, which honours ``XDG_*`` variables on Linux):
  the user cache dir holds downloads and datasets (rebuildable), the user data dir holds runs and checkpoints
  (precious), the user config dir holds settings.

Nothing here creates a directory at import; functions that return a place to write call :func:`ensure`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

APP = "framecast"


def home() -> Path | None:
    """The single root set by FRAMECAST_HOME, or None."""
    value = os.environ.get("FRAMECAST_HOME", "").strip()
    return Path(value).expanduser() if value else None


def _platformdirs():  # imported lazily: keeps `framecast --help` lean
    import platformdirs

    return platformdirs


def cache_dir() -> Path:
    """Downloads, decoded clips and other things that can be rebuilt."""
    root = home()
    if root is not None:
        return root / "cache"
    return Path(_platformdirs().user_cache_dir(APP, appauthor=False))


def data_dir() -> Path:
    """Runs and checkpoints: things that cost time to make."""
    root = home()
    if root is not None:
        return root / "data"
    return Path(_platformdirs().user_data_dir(APP, appauthor=False))


def config_dir() -> Path:
    """Settings."""
    root = home()
    if root is not None:
        return root / "config"
    return Path(_platformdirs().user_config_dir(APP, appauthor=False))


def downloads_dir() -> Path:
    """Downloaded dataset files, one folder per dataset (``mnist/``, ``moving-mnist/``)."""
    return cache_dir() / "downloads"


def dataset_dir(name: str) -> Path:
    """The folder that holds the downloaded files of one dataset."""
    return downloads_dir() / name


def clips_cache_dir() -> Path:
    """Decoded video clips, keyed by file content and decoding options."""
    return cache_dir() / "clips"


def runs_dir() -> Path:
    """Training runs: ``runs/<model>/<run id>/``."""
    return data_dir() / "runs"


def eda_dir() -> Path:
    """Default home of ``framecast eda`` reports."""
    return data_dir() / "eda"


def ensure(path: Path) -> Path:
    """Create a directory (and its parents) if needed and return it."""
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_stamped_dir(parent: Path, prefix: str = "") -> Path:
    """Create and return a fresh folder in `parent` named after the time (``<prefix>-20261201-143000``), with
    ``-2``, ``-3``... when another process or command made that name in the same second.

    Creation is the check (mkdir fails on an existing name), so two processes never get the same folder.
    """
    import time

    ensure(parent)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{prefix}-{stamp}" if prefix else stamp
    for n in range(1, 1000):
        folder = parent / (base if n == 1 else f"{base}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"no free folder name for {base} in {parent}")  # pragma: no cover


def offline() -> bool:
    """True when FRAMECAST_OFFLINE forbids every network access."""
    return os.environ.get("FRAMECAST_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def debug() -> bool:
    """True when FRAMECAST_DEBUG asks for tracebacks."""
    return os.environ.get("FRAMECAST_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def tree_size(path: Path) -> int:
    """Bytes used by the files below `path` (0 when it does not exist)."""
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).stat().st_size
    return total
