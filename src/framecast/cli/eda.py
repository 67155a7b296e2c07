"""`framecast eda`."""

from __future__ import annotations

import typer

from framecast.cli._common import examples

HELP = "exploring a dataset."


def command() -> None:
    from framecast.cli._notbuilt import not_built

    raise not_built("eda", "exploring a dataset")


def register(app: typer.Typer) -> None:
    app.command("eda", help=HELP, epilog=examples("framecast eda --help"))(command)
