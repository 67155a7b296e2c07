"""`framecast train`: train a model, with checkpoints, resume, mixed precision and DDP."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from framecast.cli._common import (
    Channels,
    Classes,
    Context,
    Digits,
    FrameStride,
    Horizon,
    Json,
    Quiet,
    Size,
    examples,
)

HELP = "Train a model on a dataset; checkpoints, resume, mixed precision, several processes."

EPILOG = examples(
    "framecast train --model convlstm --preset tiny --epochs 2",
    "framecast train --model predrnn --epochs 20 --precision bf16 --patience 3",
    "framecast train --model convlstm --data clips/ --context 30 --horizon 15 --loss mse+0.1*gdl",
    "framecast train --resume                      # the newest unfinished run",
    "framecast train --model convlstm --devices 2  # two processes (DDP)",
)


def command(
    model: Annotated[
        Optional[str], typer.Option("--model", "-m", help="convlstm, predrnn, vit (see `framecast models`).")
    ] = None,
    data: Annotated[
        str, typer.Option("--data", "-d", help="Dataset name or path (folder of videos, video, .npy/.npz).")
    ] = "moving-mnist",
    preset: Annotated[Optional[str], typer.Option("--preset", help="tiny, small or base.")] = None,
    epochs: Annotated[
        Optional[int], typer.Option("--epochs", min=1, help="Passes over the training data (default 10).")
    ] = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", min=1, help="Stop after this many steps.")] = None,
    batch_size: Annotated[
        Optional[int], typer.Option("--batch-size", "-b", min=1, help="Sequences per step and process (default 16).")
    ] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", min=0.0, help="Peak learning rate (default 1e-3).")] = None,
    weight_decay: Annotated[
        Optional[float], typer.Option("--weight-decay", min=0.0, help="AdamW weight decay (default 0).")
    ] = None,
    optimizer: Annotated[Optional[str], typer.Option("--optimizer", help="adamw or adam.")] = None,
    schedule: Annotated[
        Optional[str], typer.Option("--schedule", help="LR schedule: onecycle, cosine, plateau, constant.")
    ] = None,
    context: Context = None,
    horizon: Horizon = None,
    loss: Annotated[Optional[str], typer.Option("--loss", help="mse, l1, bce, gdl, combined: mse+0.1*gdl.")] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", help="auto, fp32, bf16 or fp16 (CUDA).")] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="auto, cpu, cuda or mps.")] = None,
    devices: Annotated[Optional[int], typer.Option("--devices", min=1, help="Processes on this machine (DDP).")] = None,
    seed: Annotated[
        Optional[int], typer.Option("--seed", help="Seed of data, initial weights, sampling (default 0).")
    ] = None,
    patience: Annotated[
        Optional[int], typer.Option("--patience", min=1, help="Stop after N epochs without improvement.")
    ] = None,
    clip_grad: Annotated[
        Optional[float], typer.Option("--clip-grad", min=0.0, help="Gradient-norm clip, 0 for none (default 1).")
    ] = None,
    sampling: Annotated[
        Optional[str], typer.Option("--sampling", help="Scheduled sampling: linear, exp, sigmoid, none.")
    ] = None,
    sampling_end: Annotated[
        Optional[float],
        typer.Option(
            "--sampling-end", min=0.0, max=1.0, help="Share of steps by which teacher forcing reaches 0 (default 0.5)."
        ),
    ] = None,
    train_size: Annotated[
        Optional[int], typer.Option("--train-size", min=1, help="Training sequences per epoch.")
    ] = None,
    val_size: Annotated[
        Optional[int], typer.Option("--val-size", min=1, help="Validation sequences per epoch (default 256).")
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option("--workers", min=0, help="Data-loader processes (default 0).")
    ] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="A model option, KEY=VALUE (repeatable).")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Run id (default: the start time).")] = None,
    resume: Annotated[
        Optional[str], typer.Option("--resume", help="Continue the newest unfinished run, or the one named.")
    ] = None,
    compile_: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    init: Annotated[
        Optional[str], typer.Option("--init", help="Start from these weights (.safetensors, run folder or run name).")
    ] = None,
    channels: Channels = None,
    size: Size = None,
    frame_stride: FrameStride = 1,
    classes: Classes = None,
    digits: Digits = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from framecast.cli import _output
    from framecast.cli._common import parse_classes, parse_size
    from framecast.cli._train_run import run_training

    given = {
        "model": model, "data": data, "preset": preset, "epochs": epochs, "max_steps": max_steps,
        "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay, "optimizer": optimizer,
        "schedule": schedule, "context": context, "horizon": horizon, "loss": loss, "precision": precision,
        "device": device, "devices": devices, "seed": seed, "patience": patience,
        "clip_grad": (clip_grad or None) if clip_grad is not None else None, "sampling": sampling,
        "sampling_end": sampling_end, "train_size": train_size, "val_size": val_size, "workers": workers,
        "name": name, "compile": compile_ or None, "channels": channels,
        "size": list(parse_size(size)) if size else None, "frame_stride": frame_stride if frame_stride != 1 else None,
        "classes": parse_classes(classes), "digits": digits, "init": init,
    }  # fmt: skip
    if clip_grad == 0:
        given["clip_grad"] = 0.0
    summary = run_training(given, set_ or [], resume, quiet=quiet or json_out)
    if summary.get("rank", 0) != 0:  # started by torchrun: rank 0 alone reports
        return
    if json_out:
        _output.emit_json(summary)
    elif quiet:
        _output.emit_paths(summary["run"])
    else:
        _output.out().print(_history_table(summary))
        best = summary["best"]
        _output.out().print(
            f"{summary['status']}: {summary['epochs']} epochs, {summary['steps']} steps in "
            f"{summary['train_seconds']:.0f} s; best val {best['metric']} {best['value']:.3f} at epoch {best['epoch']}"
            f"\nrun: {summary['run']}",
            highlight=False,
        )


def _history_table(summary: dict):
    from framecast.cli import _output

    t = _output.table(
        f"{summary['model']} ({summary['preset']}) on {summary['device']}, {summary['precision']}",
        ["epoch", "step", "train loss", "val mse", "val mae", "val psnr", "val ssim", "lr", "s", "data wait"],
    )
    for h in summary["history"]:
        v = h["val"]
        t.add_row(
            str(h["epoch"]),
            str(h["step"]),
            f"{h['train_loss']:.4f}",
            f"{v.get('mse', float('nan')):.2f}",
            f"{v.get('mae', float('nan')):.2f}",
            f"{v.get('psnr', float('nan')):.2f}",
            f"{v.get('ssim', float('nan')):.4f}",
            f"{h['lr']:.2e}",
            f"{h['seconds']:.1f}",
            f"{100 * h['data_wait_share']:.1f}%",
        )
    return t


def register(app: typer.Typer) -> None:
    app.command("train", help=HELP, epilog=EPILOG)(command)
