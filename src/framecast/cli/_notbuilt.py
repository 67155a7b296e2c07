"""The plain answer of a command whose capability is not in this release yet."""

from __future__ import annotations

from framecast.errors import NotBuiltError


def not_built(command: str, what: str) -> NotBuiltError:
    from framecast import __version__

    return NotBuiltError(
        f"`framecast {command}` is not built yet in framecast {__version__}: {what} comes in a later release",
        "see the CHANGELOG and `framecast --help` for what works today",
    )
