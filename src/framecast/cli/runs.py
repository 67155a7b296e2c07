"""`framecast runs`: trained runs, their data spec and best metrics."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from framecast.cli._common import Json, examples

HELP = (
    "List trained runs and the checkpoints shipped with framecast: model, status, data spec, epochs, best "
    "validation metrics."
)


def gather(model: str | None = None) -> list[dict]:
    """Runs, newest first, then the shipped checkpoints (status "shipped"), which `--model NAME` falls back to."""
    from framecast.checkpoints import list_runs, read_run_config, shipped_records

    rows = []
    for run in list_runs(model):
        c = read_run_config(run)
        last_val = c.get("history", [{}])[-1].get("val", {}) if c.get("history") else {}
        best_epoch = c.get("best", {}).get("epoch")
        best_val = next((h["val"] for h in c.get("history", []) if h.get("epoch") == best_epoch), last_val)
        rows.append(
            {
                "run": f"{c.get('model', run.parent.name)}/{run.name}",
                "path": str(run),
                "model": c.get("model"),
                "preset": c.get("preset"),
                "status": c.get("status"),
                "spec": c.get("spec"),
                "data": c.get("data", {}).get("name"),
                "epochs": c.get("epochs_done"),
                "steps": c.get("steps_done"),
                "train_seconds": c.get("train_seconds"),
                "parameters": c.get("parameters"),
                "best_epoch": best_epoch,
                "best": best_val,
                "updated": c.get("updated"),
            }
        )
    for weights, meta in shipped_records(model):
        rows.append(
            {
                "run": f"{meta['model']}/shipped",
                "path": str(weights),
                "model": meta["model"],
                "preset": meta.get("preset"),
                "status": "shipped",
                "spec": meta.get("spec"),
                "data": meta.get("data", {}).get("name"),
                "epochs": meta.get("epochs"),
                "steps": meta.get("steps"),
                "train_seconds": meta.get("train_seconds"),
                "parameters": meta.get("parameters"),
                "best_epoch": meta.get("best", {}).get("epoch"),
                "best": meta.get("val"),
                "updated": None,
                "test": meta.get("test", {}).get("scores", {}).get(meta["model"]),
            }
        )
    return rows


def command(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Only runs of this model.")] = None,
    json_out: Json = False,
) -> None:
    from framecast.cli import _output

    rows = gather(model)
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
            str(r["epochs"]),
            f"{best['mse']:.2f}" if "mse" in best else "-",
            f"{best['ssim']:.4f}" if "ssim" in best else "-",
            str(r["updated"] or "-"),
        )
    _output.out().print(t)


def register(app: typer.Typer) -> None:
    app.command("runs", help=HELP, epilog=examples("framecast runs", "framecast runs --model predrnn --json"))(command)
