"""`framecast runs`: trained runs, their data spec and best metrics."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from framecast.cli._common import Json, examples

HELP = (
    "List trained runs and the checkpoints shipped with framecast: model, status, data spec, epochs, best "
    "validation metrics."
)


def command(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Only runs of this model.")] = None,
    json_out: Json = False,
) -> None:
    from framecast.checkpoints import run_summaries
    from framecast.cli import _output

    rows = run_summaries(model)
    if json_out:
        _output.emit_json({"runs": rows})
        return
    if not rows:
        _output.log("no runs yet: train one with `framecast train --model convlstm`")
        return
    t = _output.table(None, ["run", "status", "data", "frames", "epochs", "best mse", "best ssim", "updated"])
    for r in rows:
        s = r["spec"] or {}
        frames = f"{s.get('channels')}x{s.get('height')}x{s.get('width')} {s.get('context')}->{s.get('horizon')}"
        best = r["best"] or {}
        t.add_row(
            r["run"],
            str(r["status"]),
            str(r["data"]),
            frames,
            "-" if r["epochs"] is None else str(r["epochs"]),
            f"{best['mse']:.2f}" if "mse" in best else "-",
            f"{best['ssim']:.4f}" if "ssim" in best else "-",
            str(r["updated"] or "-"),
        )
    _output.out().print(t)


def register(app: typer.Typer) -> None:
    app.command("runs", help=HELP, epilog=examples("framecast runs", "framecast runs --model predrnn --json"))(command)
