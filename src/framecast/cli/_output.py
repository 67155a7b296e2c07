"""The output contract, in one place.

stdout carries results: a table for people, exactly one JSON document with ``--json``, or only the paths written
with ``--quiet``. stderr carries progress, logs, warnings and errors. Progress bars appear only on a terminal.
"""

from __future__ import annotations

import json
import sys
from typing import Any

_stdout = None
_stderr = None


def out():
    """A rich console on stdout, for results."""
    global _stdout
    if _stdout is None:
        from rich.console import Console

        _stdout = Console(soft_wrap=True)
    return _stdout


def err():
    """A rich console on stderr, for progress, logs, warnings and errors."""
    global _stderr
    if _stderr is None:
        from rich.console import Console

        _stderr = Console(stderr=True, soft_wrap=True)
    return _stderr


def reset() -> None:
    """Forget the consoles (tests swap sys.stdout and sys.stderr between invocations)."""
    global _stdout, _stderr
    _stdout = None
    _stderr = None


def _default(obj: Any) -> Any:
    from pathlib import Path

    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy and torch scalars and arrays
        return obj.tolist()
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, default=_default) + "\n")
    sys.stdout.flush()


def emit_paths(*paths: Any) -> None:
    """Print only the paths written, one per line (``--quiet``)."""
    for path in paths:
        sys.stdout.write(f"{path}\n")
    sys.stdout.flush()


def install_log_handler() -> None:
    """Show the library's `logging.getLogger("framecast")` records on stderr, literally (no markup), as the
    command line shows its own lines. Under torchrun only rank 0 speaks, so N processes print one log."""
    import logging
    import os

    logger = logging.getLogger("framecast")
    if any(getattr(h, "_framecast_cli", False) for h in logger.handlers):
        return
    rank = os.environ.get("RANK", "0")

    class Handler(logging.Handler):
        _framecast_cli = True

        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if record.levelno >= logging.WARNING:
                err().print(f"[yellow]Warning:[/] {escape(message)}", highlight=False)
            else:
                err().print(message, markup=False, highlight=False)

    handler = Handler(level=logging.INFO if rank == "0" else logging.ERROR)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def escape(text: str) -> str:
    """`text` with rich markup disarmed, for printing names and paths literally inside a marked-up line."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def log(message: str) -> None:
    """A line for a person, on stderr."""
    err().print(message, highlight=False)


def warn(message: str) -> None:
    """A warning, on stderr."""
    err().print(f"[yellow]Warning:[/] {message}", highlight=False)


def show_progress() -> bool:
    """Progress bars only for a person at a terminal."""
    return sys.stderr.isatty()


def progress(*, transient: bool = True):
    """A rich Progress on stderr, disabled when stderr is not a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err(),
        transient=transient,
        disable=not show_progress(),
    )


def table(title: str | None = None, columns: list[str] | None = None, **kwargs: Any):
    """A rich Table with framecast's look."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", **kwargs)
    for column in columns or []:
        t.add_column(column)
    return t


def fmt_bytes(n: float) -> str:
    """Bytes as a short human figure (1.2 MB)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
