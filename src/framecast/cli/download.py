"""`framecast download`."""

from __future__ import annotations

import typer

from framecast.cli._common import examples

HELP = "downloading datasets."


def command() -> None:
    from framecast.cli._notbuilt import not_built

    raise not_built("download", "downloading datasets")


def register(app: typer.Typer) -> None:
    app.command("download", help=HELP, epilog=examples("framecast download --help"))(command)
