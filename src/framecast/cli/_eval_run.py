"""The work behind `framecast eval`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framecast.errors import InputError, UsageError


def check_spec_matches(spec: dict[str, int], dataset, source: str) -> None:
    """A checkpoint scores only data of its own frame format: say so plainly when the data differs."""
    got = dataset.spec
    want = (spec["channels"], spec["height"], spec["width"])
    have = (got.channels, got.height, got.width)
    if want != have:
        raise InputError(
            f"the checkpoint expects {want[0]}-channel {want[1]}x{want[2]} frames, but {source} gives "
            f"{have[0]}-channel {have[1]}x{have[2]} frames",
            f"convert the data with --channels {want[0]} --size {want[1]}x{want[2]}, or use a checkpoint "
            "trained on this data",
        )


def run_eval(
    *,
    model: str | None,
    checkpoint: Path | None,
    data: str,
    split: str,
    limit: int | None,
    baselines: list[str],
    next_frame: bool,
    save: int,
    save_to: Path | None,
    context: int | None,
    horizon: int | None,
    batch_size: int,
    device: str,
    precision: str,
    channels: int | None,
    size: tuple[int, int] | None,
    frame_stride: int,
    classes: list[str] | None,
    show_progress: bool,
    digits: str | None = None,
) -> dict[str, Any]:
    from framecast.checkpoints import load_checkpoint, origin, resolve_model
    from framecast.cli import _output
    from framecast.data.registry import open_dataset
    from framecast.devices import pick_device
    from framecast.evaluation import baseline, evaluate
    from framecast.training.trainer import resolve_precision

    if model and checkpoint:
        raise UsageError("give --model or --checkpoint, not both", "--model NAME uses the newest finished run")
    if split not in ("val", "test", "all"):
        raise UsageError(f"--split must be val, test or all, not '{split}'", "the train split is for training")
    for b in baselines:
        baseline(b)  # an unknown name fails before any work
    if not (model or checkpoint or baselines):
        raise UsageError("nothing to score", "give --model NAME, --checkpoint PATH or --baseline copy-last,zeros")
    dev = pick_device(device)
    prec = resolve_precision(precision, dev)
    ckpt = None
    chosen_by = None
    if model or checkpoint:
        path = resolve_model(model) if model else checkpoint
        ckpt = load_checkpoint(path, dev)
        chosen_by = f"--model {model}: {origin(path)}" if model else "given with --checkpoint"
        _output.log(f"checkpoint: {ckpt.path} ({chosen_by})")
    spec = ckpt.spec if ckpt else {}
    ctx = context or spec.get("context", 10)
    hor = horizon or spec.get("horizon", 10)
    dataset = open_dataset(
        data,
        split,
        context=ctx,
        horizon=hor,
        channels=channels,
        size=size,
        frame_stride=frame_stride,
        classes=classes,
        limit=limit,
        digits=digits,
    )
    if ckpt is not None:
        check_spec_matches(ckpt.spec, dataset, data)
    _output.log(dataset.description)
    if save and save_to is None:
        if ckpt is not None and ckpt.run_dir is not None:
            save_to = ckpt.run_dir / "predictions.npz"
        else:
            raise UsageError("--save needs --save-to PATH.npz here", "for example --save-to predictions.npz")
    if save_to is not None:
        from framecast._fs import check_writable_output

        save_to = check_writable_output(save_to)

    predictors: list[tuple[str, Any]] = []
    if ckpt is not None:
        predictors.append((ckpt.name, ckpt.model))
    predictors += [(b, baseline(b)) for b in baselines]
    results: dict[str, Any] = {}
    saved = None
    with _output.progress() as bar:
        for i, (who, predictor) in enumerate(predictors):
            task = bar.add_task(who, total=len(dataset))
            scores = evaluate(
                predictor,
                dataset,
                context=ctx,
                horizon=hor,
                device=dev,
                batch_size=batch_size,
                precision=prec if ckpt is not None and i == 0 else "fp32",
                next_frame=next_frame,
                save=save if i == 0 else 0,
                save_path=save_to if i == 0 else None,
                progress=lambda n, task=task: bar.update(task, completed=n),
            )
            saved = saved or scores.pop("saved", None)
            results[who] = {k: scores[k] for k in ("rollout", "next_frame") if k in scores}
            results[who]["seconds"] = scores["seconds"]
    return {
        "checkpoint": str(ckpt.path) if ckpt else None,
        "chosen_by": chosen_by if ckpt else None,
        "model": ckpt.name if ckpt else None,
        "data": dataset.description,
        "split": split,
        "sequences": len(dataset),
        "context": ctx,
        "horizon": hor,
        "device": str(dev),
        "precision": prec,
        "results": results,
        "saved": saved,
    }
