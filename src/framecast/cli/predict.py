"""`framecast predict`: the future of one or more clips, written as a GIF, a video, a PNG strip or arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from framecast.cli._common import Json, Quiet, examples

HELP = (
    "Predict the frames that follow a clip (any video ffmpeg reads, or a .npy/.npz of frames) with a trained model; "
    "with --start, the frames after the context are the truth, shown beside the prediction and scored."
)

EPILOG = examples(
    "framecast predict clip.mp4 --model convlstm                   # the frames after the clip's end",
    "framecast predict clip.mp4 --model convlstm --start 20 -o out.gif   # context 20.., truth and error too",
    "framecast predict clip.avi --checkpoint run/best.safetensors --horizon 30 -o future.mp4",
    "framecast predict a.mp4 b.avi seqs.npy --model predrnn --out-dir preds/ --format png --json",
    "framecast predict clip.mp4 --model convlstm -o future.npy     # the predicted frames, uint8 (T, H, W, C)",
)

METRICS = ("mse", "mae", "psnr", "ssim")


def command(
    clips: Annotated[list[Path], typer.Argument(help="Videos (mp4, avi, mkv, webm, gif, ...) or .npy/.npz frames.")],
    model: Annotated[
        Optional[str], typer.Option("--model", "-m", help="The best weights of this model's newest finished run.")
    ] = None,
    checkpoint: Annotated[
        Optional[Path], typer.Option("--checkpoint", "-c", help="A .safetensors file or a run folder.")
    ] = None,
    context: Annotated[
        Optional[int], typer.Option("--context", min=1, help="Frames the model sees (default: the checkpoint's).")
    ] = None,
    start: Annotated[
        Optional[int],
        typer.Option(
            "--start", min=0, help="First context frame (from 0); the frames after the context are the truth."
        ),
    ] = None,
    horizon: Annotated[
        Optional[int],
        typer.Option("--horizon", min=1, help="Frames to predict (default: the checkpoint's); more rolls forward."),
    ] = None,
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="Output file: .gif, .mp4 (or other video), .png strip, .npy, .npz."),
    ] = None,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out-dir", help="Folder for one output per clip, named after the clip.")
    ] = None,
    fmt: Annotated[
        Optional[str],
        typer.Option("--format", "-f", help="Format with --out-dir or the default folder (default: gif)."),
    ] = None,
    channels: Annotated[
        Optional[int],
        typer.Option("--channels", min=1, max=3, help="Insist on 1 or 3 channels (the checkpoint must match)."),
    ] = None,
    sequence: Annotated[
        int, typer.Option("--sequence", min=0, help="Which sequence of an array file holding several.")
    ] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")] = "auto",
    fps: Annotated[
        Optional[float], typer.Option("--fps", min=0.1, help="Frames per second of animations (default: 5).")
    ] = None,
    scale: Annotated[
        Optional[int],
        typer.Option("--scale", min=1, max=16, help="Pixel upscale of pictures (default: 3 for 64x64 frames)."),
    ] = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from framecast.cli import _output
    from framecast.predict import OutputPlan, run_predict

    report = run_predict(
        [str(c) for c in clips],
        model=model,
        checkpoint=checkpoint,
        context=context,
        start=start,
        horizon=horizon,
        outputs=OutputPlan(output=output, out_dir=out_dir, fmt=fmt),
        channels=channels,
        sequence=sequence,
        device=device,
        fps=fps,
        scale=scale,
    )
    if json_out:
        _output.emit_json(report)
        return
    if quiet:
        _output.emit_paths(*(c["output"] for c in report["clips"]))
        return
    out = _output.out()
    scored = [c for c in report["clips"] if c["metrics"]]
    for clip in report["clips"]:
        frames = clip["frames"]
        known = f", truth {frames['truth'][0]}-{frames['truth'][-1]}" if frames["truth"] else ", no truth"
        out.print(
            f"{clip['input']}: context frames {frames['context'][0]}-{frames['context'][-1]}{known}, "
            f"{frames['horizon']} predicted in {clip['timings']['predict_s']:.2f} s -> {clip['output']}",
            highlight=False,
        )
    if scored:
        t = _output.table(
            f"{report['horizon']} frames predicted from {report['context']} (metrics over the truth frames)",
            ["clip", "frames", *METRICS, "copy-last mse", "copy-last ssim"],
        )
        for clip in scored:
            m, b = clip["metrics"], clip["baselines"]["copy-last"]
            t.add_row(
                Path(clip["input"]).name,
                str(m["frames"]),
                *(f"{m[k]:.4f}" if k == "ssim" else f"{m[k]:.2f}" for k in METRICS),
                f"{b['mse']:.2f}",
                f"{b['ssim']:.4f}",
            )
        out.print(t)


def register(app: typer.Typer) -> None:
    app.command("predict", help=HELP, epilog=EPILOG)(command)
