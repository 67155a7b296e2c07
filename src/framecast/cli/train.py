"""`framecast train`."""

from __future__ import annotations

import typer

from framecast.cli._common import examples

HELP = "training models."


def command() -> None:
    from framecast.cli._notbuilt import not_built

    raise not_built("train", "training models")


def register(app: typer.Typer) -> None:
    app.command("train", help=HELP, epilog=examples("framecast train --help"))(command)
