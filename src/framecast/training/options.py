"""Every training option, declared once: its type, default and help live in one dataclass field.

`framecast train` builds its command-line options from these fields (flag, help with the default filled in,
bounds), config.json stores them, and `--resume` reads them back; a stored key this version does not know is an
error that names it, never silently dropped. This module imports nothing heavy, so `framecast --help` stays quick.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from framecast.errors import CheckpointError

OPTIMIZERS = ("adamw", "adam")
LR_SCHEDULES = ("onecycle", "cosine", "plateau", "constant")


def option(
    default: Any = None,
    help: str = "",
    *,
    flags: tuple[str, ...] = (),
    min: float | None = None,
    max: float | None = None,
    resumable: bool = False,
    cli: bool = True,
    factory: Any = None,
) -> Any:
    """A training option: a dataclass field carrying what the command line needs to offer it.

    Args:
        default: the value when not given; help: one line for `--help` (the default is added to it).
        flags: the command-line flags (default: the field name with dashes, ``--max-steps``).
        min, max: bounds checked by the command line.
        resumable: `--resume` may change it (the rest comes from the run's config.json).
        cli: offered as its own command-line option (False: set another way, such as --set).
        factory: a default factory, for mutable defaults.
    """
    meta = {"help": help, "flags": flags, "min": min, "max": max, "resumable": resumable, "cli": cli}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainOptions:
    """Everything a run needs; stored in config.json so that `--resume` restores it."""

    model: str = option(
        None,
        "convlstm, predrnn, predrnn-v2, predrnn++, mim, simvp, tau, vit or dmvfn (see `framecast models`).",
        flags=("--model", "-m"),
    )
    preset: str = option("small", "tiny, small or base.")
    overrides: dict[str, Any] = option(help="Model options that differ from the preset.", cli=False, factory=dict)
    data: str = option(
        "moving-mnist", "Dataset name or path (folder of videos, video, .npy/.npz).", flags=("--data", "-d")
    )
    channels: int | None = option(None, "Video frames: 1 grey (default) or 3 RGB.", min=1, max=3)
    size: list[int] | None = option(None, "Video frames are resized to this: 64 or HxW such as 64x80.")
    frame_stride: int = option(1, "Keep every Nth frame of a video.", min=1)
    classes: list[str] | None = option(None, "Only these class folders of a video folder (PushUps,PullUps).")
    digits: str | None = option(None, "Digits for generated Moving MNIST: idx folder or .npz.")
    skip_cuts: bool = option(False, "Leave out video windows that straddle a scene cut.")
    held_frames: float = option(
        0.0,
        "Share of the moving-scenes training sequences that show each frame twice (a 15 fps source in a 30 fps "
        "file); validation is left as it is.",
        min=0.0,
        max=1.0,
    )
    motion_stops: float = option(
        0.0,
        "Share of the moving-scenes training sequences whose motion eases to a stop (or a crawl) or starts from "
        "rest at a random frame; validation is left as it is.",
        min=0.0,
        max=1.0,
    )
    context: int | None = option(None, "Frames seen by the model (default: the data's protocol, 10; ucf101 30).", min=1)
    horizon: int | None = option(
        None, "Frames to predict (default: the data's protocol, 10; kth 20, ucf101 15).", min=1
    )
    epochs: int = option(10, "Passes over the training data.", min=1, resumable=True)
    max_steps: int | None = option(None, "Stop after this many optimiser steps in all.", min=1, resumable=True)
    time_limit: float | None = option(
        None,
        "Train for this long (90s, 30m, 2h; seconds in config.json): the schedules span it, and --epochs "
        "becomes a cap only when given.",
        resumable=True,
    )
    train_size: int | None = option(None, "Training sequences per epoch (generated data: 10,000).", min=1)
    val_size: int | None = option(256, "Validation sequences scored each epoch.", min=1)
    batch_size: int = option(
        16,
        "Sequences per step in each process: the global batch is this times the processes (--devices, torchrun).",
        flags=("--batch-size", "-b"),
        min=1,
    )
    lr: float = option(1e-3, "Peak learning rate.", min=0.0)
    weight_decay: float = option(0.0, "AdamW's decoupled weight decay.", min=0.0)
    optimizer: str = option("adamw", "adamw or adam.")
    schedule: str = option("onecycle", "LR schedule: onecycle, cosine, plateau (on validation), constant.")
    patience: int | None = option(None, "Stop after N epochs without improvement.", min=1, resumable=True)
    clip_grad: float | None = option(1.0, "Gradient-norm clip, 0 for none.", min=0.0)
    ema: float | None = option(
        None,
        "Validate and save a moving average of the weights, decaying by this much a step (0.999); training "
        "goes on from its own weights.",
        min=0.0,
        max=1.0,
    )
    loss: str = option("mse", "mse, l1, bce, gdl, combined: mse+0.1*gdl.")
    precision: str = option("auto", "auto, fp32, bf16 or fp16 (CUDA).")
    device: str = option("auto", "auto, cpu, cuda or mps.", resumable=True)
    devices: int = option(1, "Processes on this machine (DDP).", min=1)
    seed: int = option(0, "Seed of data, initial weights and teacher forcing.")
    workers: int = option(0, "Data-loader processes.", min=0, resumable=True)
    sampling: str = option("linear", "Scheduled sampling: linear, exp, sigmoid, none.")
    sampling_end: float = option(0.5, "Share of steps by which teacher forcing reaches 0.", min=0.0, max=1.0)
    val_metric: str | None = option(
        None,
        "Validation metric for the best checkpoint, early stopping and plateau: mse, ssim, vs_copy_last... "
        "(default: mse on digits, vs_copy_last on natural video).",
    )
    name: str | None = option(None, "Run id (default: the start time).")
    compile: bool = option(False, "torch.compile the model.")
    init: str | None = option(
        None, "Start from these weights: .safetensors, run folder or name, or shipped (vit/shipped-scenes)."
    )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainOptions:
        """Options from a stored config.

        Raises:
            CheckpointError: a key this version does not know (named), or no model.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CheckpointError(
                f"the stored training options have keys this framecast does not know: {', '.join(unknown)}",
                "the run was written by another framecast version; use that version, or start a new run",
            )
        if not d.get("model"):
            raise CheckpointError("the stored training options name no model", "start a new run")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_duration(text: str, flag: str) -> float:
    """Seconds from `90s`, `30m`, `1.5h`.

    Raises:
        UsageError: anything else, or a duration that is not positive.
    """
    from framecast.durations import read_amount
    from framecast.errors import UsageError

    amount = read_amount(text)
    if amount is None or amount[1] is None:
        raise UsageError(f"{flag} '{text}' is not a duration", f"give a time with its unit: {flag} 30m (or 90s, 2h)")
    return amount[0] * amount[1]


def option_fields() -> list[Any]:
    """The fields of TrainOptions that the command line offers, in declaration order."""
    return [f for f in fields(TrainOptions) if f.metadata.get("cli", True)]


def default_of(f: Any) -> Any:
    return None if f.default is MISSING else f.default


def resumable() -> tuple[str, ...]:
    """What a resumed run may change; everything else comes from the run's config.json."""
    return tuple(f.name for f in fields(TrainOptions) if f.metadata.get("resumable"))
