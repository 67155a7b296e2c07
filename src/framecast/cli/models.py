"""`framecast models`."""

from __future__ import annotations

import typer

from framecast.cli._common import examples

HELP = "the model registry."


def command() -> None:
    from framecast.cli._notbuilt import not_built

    raise not_built("models", "the model registry")


def register(app: typer.Typer) -> None:
    app.command("models", help=HELP, epilog=examples("framecast models --help"))(command)
