"""`framecast compare`: several models on the same sequences, in one table, one plot and one GIF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from framecast.cli._common import Json, Quiet, examples

HELP = (
    "Compare models on exactly the same sequences: MSE, MAE, PSNR, SSIM, parameters, FLOPs, time and peak memory "
    "per sequence in one table, a per-horizon plot of MSE and SSIM, and a GIF of truth beside every prediction."
)

EPILOG = examples(
    "framecast compare --models convlstm,predrnn",
    "framecast compare --checkpoint runs/a/best.safetensors --checkpoint runs/b -o cmp.gif --plot cmp.png",
    "framecast compare --models convlstm,vit --data clips/ --split val --limit 64 --json > cmp.json",
    "framecast compare --models predrnn --baseline none    # no copy-last/zeros rows",
)


def command(
    models: Annotated[
        Optional[str], typer.Option("--models", "-m", help="Model names, comma separated: each one's newest run.")
    ] = None,
    checkpoint: Annotated[
        Optional[list[Path]],
        typer.Option("--checkpoint", "-c", help="A .safetensors file, run folder or shipped (vit/shipped); repeat."),
    ] = None,
    data: Annotated[str, typer.Option("--data", "-d", help="Dataset name or path.")] = "moving-mnist",
    split: Annotated[str, typer.Option("--split", help="val, test, or all (a path's every clip).")] = "test",
    limit: Annotated[int, typer.Option("--limit", min=0, help="At most N sequences, 0 for all.")] = 256,
    context: Annotated[
        Optional[int], typer.Option("--context", min=1, help="Frames seen (default: the models' own).")
    ] = None,
    horizon: Annotated[
        Optional[int], typer.Option("--horizon", min=1, help="Frames predicted (default: the models' own).")
    ] = None,
    baseline: Annotated[
        str, typer.Option("--baseline", help="Baseline rows: copy-last,zeros, one of them, or none.")
    ] = "copy-last,zeros",
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="The GIF of truth and predictions (default: in the data dir)."),
    ] = None,
    plot: Annotated[
        Optional[Path],
        typer.Option("--plot", help="The PNG of MSE and SSIM per horizon step (default: in the data dir)."),
    ] = None,
    gif_sequences: Annotated[
        int, typer.Option("--gif-sequences", min=1, max=16, help="Sequences shown in the GIF.")
    ] = 4,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Sequences per batch.")] = 16,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")] = "auto",
    fps: Annotated[
        Optional[float], typer.Option("--fps", min=0.1, help="Frames per second of the GIF (default: 5).")
    ] = None,
    scale: Annotated[
        Optional[int],
        typer.Option("--scale", min=1, max=16, help="Pixel upscale in the GIF (default: 3 for 64x64 frames)."),
    ] = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from framecast.cli import _output
    from framecast.compare import Outputs, run_compare

    names = [m.strip() for m in (models or "").split(",") if m.strip()]
    wanted = [b.strip() for b in baseline.split(",") if b.strip() and b.strip() != "none"]
    with _output.progress() as bar:
        task = bar.add_task("compare", total=None)
        report = run_compare(
            models=names,
            checkpoints=list(checkpoint or []),
            data=data,
            split=split,
            limit=limit or None,
            context=context,
            horizon=horizon,
            baselines=wanted,
            batch_size=batch_size,
            device=device,
            outputs=Outputs(gif=output, plot=plot, gif_sequences=gif_sequences, fps=fps, scale=scale),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if json_out:
        _output.emit_json(report)
        return
    if quiet:
        _output.emit_paths(report["gif"], report["plot"])
        return
    out = _output.out()
    t = _output.table(
        f"{report['sequences']} sequences, {report['context']} -> {report['horizon']} frames, on {report['device']}",
        ["model", "MSE", "MAE", "PSNR", "SSIM", "accuracy", "params", "GFLOPs", "ms", "memory"],
    )
    for row in report["rows"]:
        m = row["metrics"]
        memory = row["peak_memory_bytes"]
        t.add_row(
            row["label"],
            f"{m['mse']:.1f}",
            f"{m['mae']:.1f}",
            f"{m['psnr']:.2f}",
            f"{m['ssim']:.4f}",
            f"{m['accuracy']:.4f}",
            f"{row['params']:,}",
            f"{row['flops'] / 1e9:.3f}",
            f"{row['seconds_per_sequence'] * 1e3:.1f}",
            _output.fmt_bytes(memory) if memory is not None else "n/a",
        )
    out.print(t)
    if report.get("clips"):
        from framecast.cli.evaluate import clip_table

        out.print(clip_table(report["clips"]))
    out.print(
        f"data: {report['data']}\nGFLOPs and ms: per sequence ({report['flops_counted']}; the median of "
        f"one-sequence forwards after warm-up); memory: {report['memory_method'] or 'not measured on this device'}\n"
        f"plot: {report['plot']}\ngif:  {report['gif']}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("compare", help=HELP, epilog=EPILOG)(command)
