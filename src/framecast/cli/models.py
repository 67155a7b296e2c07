"""`framecast models`: the model registry, with parameters and forward FLOPs for every model and preset."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from framecast.cli._common import Json, examples

HELP = "List the models and their presets: parameters and forward FLOPs of one 10+10-frame 64x64 sequence."


def command(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Only this model.")] = None,
    preset: Annotated[
        Optional[str], typer.Option("--preset", "-p", help="Only this preset: tiny, small, base.")
    ] = None,
    channels: Annotated[
        int, typer.Option("--channels", min=1, max=3, help="Count for frames of 1 (grey) or 3 (RGB) channels.")
    ] = 1,
    json_out: Json = False,
) -> None:
    from framecast.cli import _output
    from framecast.models.costs import catalogue

    info = catalogue(model, preset, channels)
    if json_out:
        _output.emit_json(info)
        return
    t = _output.table(None, ["model", "preset", "parameters", "GFLOPs"])
    t.columns[2].justify = "right"
    t.columns[3].justify = "right"
    for r in info["models"]:
        t.add_row(r["model"], r["preset"], f"{r['params']:,}", f"{r['flops'] / 1e9:.2f}")
    _output.out().print(t)
    for name, summary in info["summaries"].items():
        _output.out().print(f"[bold]{name}[/]: {summary}", highlight=False)
    f = info["flops_for"]
    _output.out().print(
        f"FLOPs: one forward pass of batch {f['batch']}, {f['context']} context + {f['horizon']} predicted "
        f"{f['height']}x{f['width']} frames of {f['channels']} channel{'s' if f['channels'] > 1 else ''} "
        "(multiply-add = 2 FLOPs).",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command(
        "models",
        help=HELP,
        epilog=examples(
            "framecast models",
            "framecast models --preset base",
            "framecast models --model dmvfn --preset base --channels 3 --json",
            "framecast models --json",
        ),
    )(command)
