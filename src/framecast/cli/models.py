"""`framecast models`: the model registry, with parameters and forward FLOPs for every model and preset."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from framecast.cli._common import Json, examples

HELP = "List the models and their presets: parameters and forward FLOPs of one 10+10-frame 64x64 sequence."

#: The sequence FLOPs are counted on: the Moving MNIST set-up of the published tables.
FLOPS_FOR = {"batch": 1, "context": 10, "horizon": 10, "channels": 1, "height": 64, "width": 64}


def count(name: str, preset: str) -> dict:
    """Parameters and forward FLOPs of model `name` at `preset`, on FLOPS_FOR.

    The model is built on the meta device, so nothing is allocated or computed: FlopCounterMode counts each
    operation from its shapes (attention included, which the CPU's fused kernel would hide from it).
    """
    import dataclasses

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from framecast.models import create_model

    f = FLOPS_FOR
    with torch.device("meta"):
        model = create_model(name, preset, channels=f["channels"], height=f["height"], width=f["width"]).eval()
        context = torch.empty(f["batch"], f["context"], f["channels"], f["height"], f["width"])
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(context, f["horizon"])
    return {
        "model": name,
        "preset": preset,
        "params": sum(p.numel() for p in model.parameters()),
        "flops": counter.get_total_flops(),
        "config": dataclasses.asdict(model.config),
    }


def gather(model: str | None = None, preset: str | None = None) -> dict:
    """Every model (or `model`) at every preset (or `preset`), as a JSON-ready dict."""
    from framecast.errors import unknown_name
    from framecast.models import PRESETS, list_models, model_summary

    names = list_models()
    if model is not None and model not in names:
        raise unknown_name("model", model, names)
    if preset is not None and preset not in PRESETS:
        raise unknown_name("preset", preset, list(PRESETS))
    rows = [count(name, p) for name in ([model] if model else names) for p in ([preset] if preset else list(PRESETS))]
    summaries = {name: model_summary(name) for name in ([model] if model else names)}
    return {"flops_for": FLOPS_FOR, "summaries": summaries, "models": rows}


def command(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Only this model.")] = None,
    preset: Annotated[
        Optional[str], typer.Option("--preset", "-p", help="Only this preset: tiny, small, base.")
    ] = None,
    json_out: Json = False,
) -> None:
    from framecast.cli import _output

    info = gather(model, preset)
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
    f = FLOPS_FOR
    _output.out().print(
        f"FLOPs: one forward pass of batch {f['batch']}, {f['context']} context + {f['horizon']} predicted "
        f"{f['height']}x{f['width']} frames of {f['channels']} channel (multiply-add = 2 FLOPs).",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command(
        "models",
        help=HELP,
        epilog=examples("framecast models", "framecast models --preset base", "framecast models --json"),
    )(command)
