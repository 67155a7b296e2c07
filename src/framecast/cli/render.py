"""`framecast render-gif`."""

from __future__ import annotations

import typer

from framecast.cli._common import examples

HELP = "rendering GIFs."


def command() -> None:
    from framecast.cli._notbuilt import not_built

    raise not_built("render-gif", "rendering GIFs")


def register(app: typer.Typer) -> None:
    app.command("render-gif", help=HELP, epilog=examples("framecast render-gif --help"))(command)
