"""`framecast compare`."""

from __future__ import annotations

import typer

from framecast.cli._common import examples

HELP = "comparing models."


def command() -> None:
    from framecast.cli._notbuilt import not_built

    raise not_built("compare", "comparing models")


def register(app: typer.Typer) -> None:
    app.command("compare", help=HELP, epilog=examples("framecast compare --help"))(command)
