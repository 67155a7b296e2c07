"""`framecast runs`."""

from __future__ import annotations

import typer

from framecast.cli._common import examples

HELP = "listing trained runs."


def command() -> None:
    from framecast.cli._notbuilt import not_built

    raise not_built("runs", "listing trained runs")


def register(app: typer.Typer) -> None:
    app.command("runs", help=HELP, epilog=examples("framecast runs --help"))(command)
