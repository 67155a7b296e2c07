"""Amounts of time and work as the command line writes them: `90s`, `30m`, `1.5h`, or a bare count.

`train --time-limit` takes a time; `predict --adapt` takes a time or a step count. Both read their text here, so
the units they accept are the same and a new one is added once.
"""

from __future__ import annotations

import re

#: Seconds in each unit the command line accepts.
UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}

_AMOUNT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(" + "|".join(sorted(UNITS, key=len, reverse=True)) + r")?\s*")


def read_amount(text: str) -> tuple[float, float | None] | None:
    """(the number, seconds per unit, or None when no unit is written) from `text`; None when it is neither a
    positive number nor one with a unit."""
    match = _AMOUNT.fullmatch(str(text).lower())
    if match is None or float(match[1]) <= 0:
        return None
    return float(match[1]), (UNITS[match[2]] if match[2] else None)
