"""Errors that framecast knows how to explain.

Every error a user can cause or meet carries a message (what went wrong) and a hint (what to do about it).
The command line prints them as two lines, `Error: ...` and `Hint: ...`, and exits with the error's code:
2 for bad usage or bad input named on the command line, 1 for a failure while working.
"""

from __future__ import annotations


class FramecastError(Exception):
    """Base class: a known failure with a message and a hint."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(FramecastError):
    """A bad option or argument on the command line (exit code 2)."""

    exit_code = 2


class InputError(FramecastError):
    """A named input that cannot be used as it is: missing path, wrong kind of file, wrong shape (exit 2)."""

    exit_code = 2


class DataError(FramecastError):
    """A file that should be good but is not: corrupt, truncated, failed checksum (exit 1)."""

    exit_code = 1


class DownloadError(FramecastError):
    """A download that could not be completed (exit 1)."""

    exit_code = 1


class OfflineError(DownloadError):
    """The network is forbidden by FRAMECAST_OFFLINE=1 (exit 1)."""


class CheckpointError(FramecastError):
    """A checkpoint that is missing, corrupt or does not match the data (exit 1)."""

    exit_code = 1


def closest(name: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The choice closest to `name`, or None when nothing is close enough to suggest."""
    import difflib

    found = difflib.get_close_matches(name.lower(), [c.lower() for c in choices], n=1, cutoff=0.5)
    if not found:
        return None
    for choice in choices:
        if choice.lower() == found[0]:
            return choice
    return None


def unknown_name(kind: str, name: str, choices: list[str] | tuple[str, ...]) -> UsageError:
    """An error for an unknown name, suggesting the closest valid one and listing all of them."""
    suggestion = closest(name, choices)
    valid = ", ".join(choices)
    if suggestion:
        return UsageError(f"unknown {kind} '{name}'. Did you mean '{suggestion}'?", f"valid {kind}s: {valid}")
    return UsageError(f"unknown {kind} '{name}'", f"valid {kind}s: {valid}")
