"""`framecast eval`: score a checkpoint (and the naive baselines) on a split of a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from framecast.cli._common import (
    Channels,
    Classes,
    Digits,
    FrameStride,
    Json,
    Limit,
    SelfCheckFrames,
    Size,
    Views,
    examples,
)

HELP = "Score a trained model on a dataset split (MSE, MAE, PSNR, SSIM per horizon step) beside naive baselines."

EPILOG = examples(
    "framecast eval --model convlstm --split test --baseline copy-last,zeros",
    "framecast eval --checkpoint run/best.safetensors --data clips/ --split val --next-frame",
    "framecast eval --model predrnn --limit 500 --save 8 --json > scores.json",
    "framecast eval --baseline zeros --split test     # the baselines alone",
)

METRICS = ("mse", "mse_pixel", "mae", "mae_pixel", "psnr", "ssim", "accuracy")


def command(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Newest finished run of this model.")] = None,
    checkpoint: Annotated[
        Optional[Path],
        typer.Option("--checkpoint", "-c", help="A .safetensors file, run folder or shipped (vit/shipped)."),
    ] = None,
    data: Annotated[str, typer.Option("--data", "-d", help="Dataset name or path.")] = "moving-mnist",
    split: Annotated[str, typer.Option("--split", help="val, test, or all (a path's every clip).")] = "test",
    limit: Limit = None,
    baseline: Annotated[
        Optional[str], typer.Option("--baseline", help="copy-last, zeros, or both: copy-last,zeros.")
    ] = None,
    next_frame: Annotated[bool, typer.Option("--next-frame", help="Also score one-step-ahead prediction.")] = False,
    save: Annotated[
        int, typer.Option("--save", min=0, help="Keep N sequences (context, truth, prediction) in an .npz.")
    ] = 0,
    save_to: Annotated[
        Optional[Path], typer.Option("--save-to", help="Where --save writes (default: predictions.npz in the run).")
    ] = None,
    context: Annotated[
        Optional[int], typer.Option("--context", min=1, help="Frames seen (default: the checkpoint's).")
    ] = None,
    horizon: Annotated[
        Optional[int], typer.Option("--horizon", min=1, help="Frames predicted (default: the checkpoint's).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Sequences per batch.")] = 32,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="auto, fp32, bf16 or fp16.")] = "fp32",
    channels: Channels = None,
    size: Size = None,
    frame_stride: FrameStride = 1,
    classes: Classes = None,
    digits: Digits = None,
    skip_cuts: Annotated[
        bool, typer.Option("--skip-cuts", help="Leave out video windows that straddle a scene cut.")
    ] = False,
    self_check: SelfCheckFrames = None,
    views: Views = None,
    json_out: Json = False,
) -> None:
    from framecast.cli import _output
    from framecast.cli._common import parse_classes, parse_size
    from framecast.data.registry import DataOptions
    from framecast.evaluation import run_eval

    options = DataOptions(data, channels, parse_size(size), frame_stride, parse_classes(classes), digits, skip_cuts)
    with _output.progress() as bar:
        task = bar.add_task("scoring", total=None)
        report = run_eval(
            model=model,
            checkpoint=checkpoint,
            data=options,
            split=split,
            limit=limit,
            baselines=[b.strip() for b in baseline.split(",") if b.strip()] if baseline else [],
            next_frame=next_frame,
            save=save,
            save_to=save_to,
            context=context,
            horizon=horizon,
            batch_size=batch_size,
            device=device,
            precision=precision,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            self_check=self_check,
            views=views,
        )
    if json_out:
        _output.emit_json(report)
        return
    out = _output.out()
    out.print(f"[bold]{report['data']}[/]", highlight=False)
    t = _output.table(
        f"{report['sequences']} sequences, {report['context']} -> {report['horizon']} frames", ["predictor", *METRICS]
    )
    for who, scores in report["results"].items():
        for task in ("rollout", "next_frame"):
            if task in scores:
                label = who if task == "rollout" else f"{who} (next frame)"
                t.add_row(
                    label,
                    *(
                        f"{scores[task][m]:.4f}" if m in ("ssim", "accuracy") else f"{scores[task][m]:.3f}"
                        for m in METRICS
                    ),
                )
    out.print(t)
    main = next(iter(report["results"].values()))["rollout"]
    steps = _output.table("per horizon step (first predictor)", ["step", "mse", "psnr", "ssim"])
    per_step = main["per_step"]
    for i, (m, p, s) in enumerate(zip(per_step["mse"], per_step["psnr"], per_step["ssim"], strict=True)):
        steps.add_row(str(i + 1), f"{m:.3f}", f"{p:.3f}", f"{s:.4f}")
    out.print(steps)
    if report.get("clips"):
        out.print(clip_table(report["clips"]))
    if report.get("saved"):
        out.print(f"saved {report['saved']}", highlight=False)


def clip_table(clips: dict) -> Any:
    """Each clip's rollout scores on its own windows, and against copy-last's where it was scored."""
    from framecast.cli import _output

    relative = all("copy-last" in c["results"] for c in clips.values())
    columns = ["clip", "windows", "predictor", "mse", "ssim"] + (["mse / copy-last", "ssim - copy-last"] * relative)
    t = _output.table("per clip", columns)
    for clip, entry in clips.items():
        for who, scores in entry["results"].items():
            mine = scores["rollout"]
            row = [clip, str(entry["sequences"]), who, f"{mine['mse']:.3f}", f"{mine['ssim']:.4f}"]
            if relative:
                copy = entry["results"]["copy-last"]["rollout"]
                row += [f"{mine['mse'] / max(copy['mse'], 1e-12):.3f}", f"{mine['ssim'] - copy['ssim']:+.4f}"]
            t.add_row(*row)
    return t


def register(app: typer.Typer) -> None:
    app.command("eval", help=HELP, epilog=EPILOG)(command)
