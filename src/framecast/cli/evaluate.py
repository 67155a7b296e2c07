"""`framecast eval`."""

from __future__ import annotations

import typer

from framecast.cli._common import examples

HELP = "evaluating checkpoints."


def command() -> None:
    from framecast.cli._notbuilt import not_built

    raise not_built("eval", "evaluating checkpoints")


def register(app: typer.Typer) -> None:
    app.command("eval", help=HELP, epilog=examples("framecast eval --help"))(command)
