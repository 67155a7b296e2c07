"""`framecast predict`."""

from __future__ import annotations

import typer

from framecast.cli._common import examples

HELP = "predicting the future of a clip."


def command() -> None:
    from framecast.cli._notbuilt import not_built

    raise not_built("predict", "predicting the future of a clip")


def register(app: typer.Typer) -> None:
    app.command("predict", help=HELP, epilog=examples("framecast predict --help"))(command)
