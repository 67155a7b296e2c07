"""The output contract, in one place.

stdout carries results: a table for people, exactly one JSON document with ``--json``, or only the paths written
with ``--quiet``. stderr carries progress, logs, warnings and errors. Progress bars appear only on a terminal.
"""

from __future__ import annotations

import json
import re
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
    """A line for a person, on stderr, printed literally (names and paths may hold brackets)."""
    err().print(message, markup=False, highlight=False)


def warn(message: str) -> None:
    """A warning, on stderr."""
    err().print(f"[yellow]Warning:[/] {escape(message)}", highlight=False)


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


def table(title: str | None = None, columns: list[str] | None = None, *, keys: int = 1, **kwargs: Any) -> FitTable:
    """A table with framecast's look that never cuts what it shows (see FitTable). `keys` columns name the rows."""
    t = FitTable(title, keys=keys)
    for column in columns or []:
        t.add_column(column)
    return t


class _Column:
    def __init__(self, header: str, justify: str | None = None) -> None:
        self.header = header
        self.justify = justify


_NUMBER = re.compile(r"^[\s\d.,:%+\-eE()x/>~#]*(?:[kMGT]?B|s|ms|%|dB)?$")


class FitTable:
    """A rich table whose names wrap and whose numbers are never cut.

    Rich shrinks a table that is wider than the terminal by cutting cells to `893.…`; a number cut to its first
    digits says nothing, and a run name cut to `convls…` cannot be passed back to `--resume`. Here the key
    columns (the names) and text columns fold onto more lines, number columns keep their full width, and when
    those do not fit side by side the number columns move to a second table (the names repeated), with a note.
    """

    def __init__(self, title: str | None, *, keys: int = 1) -> None:
        self.title = title
        self.keys = keys
        self.columns: list[_Column] = []
        self.rows: list[list[str]] = []

    def add_column(self, header: str, **_kwargs: Any) -> None:
        self.columns.append(_Column(header, _kwargs.get("justify")))

    def add_row(self, *cells: Any) -> None:
        self.rows.append(["" if c is None else str(c) for c in cells])

    def _numeric(self, i: int) -> bool:
        return i >= self.keys and all(_NUMBER.match(row[i]) for row in self.rows if i < len(row))

    def _widths(self) -> list[int]:
        widths = []
        for i, column in enumerate(self.columns):
            longest = max([len(row[i]) for row in self.rows if i < len(row)] or [0])
            words = max((len(w) for w in column.header.split()), default=0)
            # numbers at their full width; names and text may fold, down to a readable minimum
            widths.append(max(longest, words) if self._numeric(i) else min(max(longest, words), 16))
        return widths

    def _chunks(self, width: int) -> list[list[int]]:
        widths = self._widths()
        cost = [w + 3 for w in widths]  # a column's padding and its border
        keys = list(range(min(self.keys, len(self.columns))))
        base = 1 + sum(cost[i] for i in keys)
        chunks: list[list[int]] = [[]]
        used = base
        for i in range(len(keys), len(self.columns)):
            if chunks[-1] and used + cost[i] > width:
                chunks.append([])
                used = base
            chunks[-1].append(i)
            used += cost[i]
        return [keys + chunk for chunk in chunks]

    def _render(self, indices: list[int], title: str | None):
        from rich.table import Table

        t = Table(title=title, title_justify="left")
        for i in indices:
            column, numeric = self.columns[i], self._numeric(i)
            t.add_column(
                column.header,
                justify=column.justify or ("right" if numeric else "left"),
                no_wrap=numeric,
                min_width=max((len(r[i]) for r in self.rows if i < len(r)), default=1) if numeric else None,
                overflow="fold",
            )
        for row in self.rows:
            t.add_row(*(row[i] if i < len(row) else "" for i in indices))
        return t

    def __rich_console__(self, console, options):
        chunks = self._chunks(options.max_width)
        for n, indices in enumerate(chunks):
            title = self.title if n == 0 else f"{self.title or 'table'} (continued)"
            yield self._render(indices, title)
        if len(chunks) > 1:
            from rich.text import Text

            yield Text(f"({len(chunks)} tables: the columns did not fit the terminal's {options.max_width} columns)")


def fmt_bytes(n: float) -> str:
    """Bytes as a short human figure (1.2 MB)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
