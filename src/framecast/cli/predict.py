"""`framecast predict`: the future of one or more clips, written as a GIF, a video, a PNG strip or arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from framecast.cli._common import Json, Quiet, SelfCheckFrames, Views, examples

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
    "framecast predict clip.mp4 --model predrnn --adapt 60s        # fine-tune on the clip first, if it helps",
)

METRICS = ("mse", "mae", "psnr", "ssim")


def command(
    clips: Annotated[list[Path], typer.Argument(help="Videos (mp4, avi, mkv, webm, gif, ...) or .npy/.npz frames.")],
    model: Annotated[
        Optional[str], typer.Option("--model", "-m", help="The best weights of this model's newest finished run.")
    ] = None,
    checkpoint: Annotated[
        Optional[Path],
        typer.Option("--checkpoint", "-c", help="A .safetensors file, run folder or shipped (vit/shipped)."),
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
    adapt: Annotated[
        Optional[str],
        typer.Option(
            "--adapt",
            help="First fine-tune on the clip's own past for this long (60s, 2m, or a step count); kept only if it "
            "beats the original weights on the most recent window, held back to judge by.",
        ),
    ] = None,
    save_adapted: Annotated[
        Optional[str], typer.Option("--save-adapted", help="Keep the adapted weights as a run of this name.")
    ] = None,
    keep_repeats: Annotated[
        bool,
        typer.Option(
            "--keep-repeats",
            help="Predict frame by frame even when the clip holds each frame several times (by default the content "
            "is predicted at its own rate and held as the file holds it).",
        ),
    ] = False,
    show_flow: Annotated[
        bool,
        typer.Option(
            "--show-flow",
            help="Also write each predicted step's flow as a colour-wheel GIF, OUTPUT-flow.gif (hue: direction, "
            "saturation: speed; models that move pixels).",
        ),
    ] = False,
    self_check: SelfCheckFrames = None,
    views: Views = None,
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
        adapt=adapt,
        save_adapted=save_adapted,
        keep_repeats=keep_repeats,
        show_flow=show_flow,
        self_check=self_check,
        views=views,
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
    adapted = [c for c in report["clips"] if c.get("adapt")]
    if adapted:
        out.print(_adapt_table(adapted))


def _adapt_table(clips: list[dict]):
    """The held-back window of each adapted clip: the original weights, the adapted ones, copy-last."""
    from framecast.cli import _output

    t = _output.table(
        "adapting, judged on the held-back window (the most recent before the prediction, never trained on)",
        ["clip", "steps", "s", "frames", "mse before", "mse after", "copy-last mse", "ssim before", "ssim after",
         "copy-last ssim", "kept"],
    )  # fmt: skip
    for clip in clips:
        a, h = clip["adapt"], clip["adapt"]["held_back"]
        t.add_row(
            Path(clip["input"]).name, str(a["steps"]), f"{a['seconds']:.0f}", f"{h['frames'][0]}-{h['frames'][1]}",
            f"{h['before']['mse']:.2f}", f"{h['after']['mse']:.2f}", f"{h['copy_last']['mse']:.2f}",
            f"{h['before']['ssim']:.4f}", f"{h['after']['ssim']:.4f}", f"{h['copy_last']['ssim']:.4f}",
            "yes" if a["kept"] else "no",
        )  # fmt: skip
    return t


def register(app: typer.Typer) -> None:
    app.command("predict", help=HELP, epilog=EPILOG)(command)
