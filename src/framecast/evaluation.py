"""Scoring predictors on a dataset: several at once, in one pass, batch by batch, so memory does not grow.

A predictor is anything called as ``predictor(context, horizon) -> prediction`` on ``(B, T, C, H, W)`` tensors:
a model, or one of the naive baselines that give every number its context:

- ``copy-last``: every future frame is the last frame seen;
- ``zeros``: every future frame is blank. On Moving MNIST, where digits are small and move, the blank frame
  beats copying the last frame, so it is the bar a model has to clear.

:func:`score` is the one scoring loop: `framecast eval`, `framecast compare` and the trainer's validation all use
it, so every figure framecast prints comes from the same code, under the same autocast. :func:`run_eval` is the
whole of `framecast eval` (and of :func:`framecast.evaluate`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from framecast.clips import to_uint8
from framecast.data.registry import DataOptions, default_window
from framecast.devices import autocast, pick_device, resolve_precision
from framecast.errors import InputError, UsageError

log = logging.getLogger("framecast")

Predictor = Callable[[torch.Tensor, int], torch.Tensor]
BASELINES = ("copy-last", "zeros")


def copy_last(context: torch.Tensor, horizon: int) -> torch.Tensor:
    return context[:, -1:].expand(-1, horizon, -1, -1, -1)


def zeros(context: torch.Tensor, horizon: int) -> torch.Tensor:
    return context.new_zeros((context.shape[0], horizon, *context.shape[2:]))


def baseline(name: str) -> Predictor:
    """The naive predictor of that name.

    Raises:
        UsageError: an unknown name.
    """
    if name == "copy-last":
        return copy_last
    if name == "zeros":
        return zeros
    raise UsageError(f"unknown baseline '{name}'", f"choose one of {', '.join(BASELINES)}")


#: SSIM below copy-last's costs this much per unit in `vs_copy_last`: 0.01 of SSIM lost weighs as 10% more MSE.
SSIM_PENALTY = 10.0


def relative_scores(model: dict[str, Any], copy: dict[str, Any]) -> dict[str, float]:
    """A model's rollout scores against copy-last's on the same sequences, the bar on natural video.

    ``mse_vs_copy_last`` is the ratio of MSEs (below 1: better than copying the last frame); ``ssim_vs_copy_last``
    the SSIM difference (above 0: sharper); ``vs_copy_last`` folds both into one number to minimise, the MSE
    ratio plus SSIM_PENALTY times any SSIM shortfall, because a model that lowers MSE by blurring is no better.
    """
    ratio = model["mse"] / max(copy["mse"], 1e-12)
    gain = model["ssim"] - copy["ssim"]
    return {
        "mse_vs_copy_last": ratio,
        "ssim_vs_copy_last": gain,
        "vs_copy_last": ratio + SSIM_PENALTY * max(0.0, -gain),
    }


def frames_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, T, C, H, W) float in [0, 1] -> uint8 (B, T, H, W, C), as files hold frames."""
    return to_uint8(x.permute(0, 1, 3, 4, 2))


@dataclass
class Scores:
    """What :func:`score` found: per predictor its metrics, and the sequences kept to look at."""

    sequences: int = 0
    seconds: float = 0.0
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> rollout, next_frame, seconds
    #: with `clips`: clip -> {"sequences": n, "results": {name: {"rollout": ...}}}, the rollout on its windows alone
    clips: dict[str, dict[str, Any]] = field(default_factory=dict)
    kept: dict[str, np.ndarray] = field(default_factory=dict)  # context, truth, and each predictor's frames


class _Tally:
    """The running scores of one predictor."""

    def __init__(self, horizon: int, next_frame: bool) -> None:
        from framecast.metrics import MetricAccumulator

        self.rollout = MetricAccumulator(horizon)
        self.one_step = MetricAccumulator(horizon) if next_frame else None
        self.seconds = 0.0

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rollout": self.rollout.result()}
        if self.one_step is not None:
            out["next_frame"] = self.one_step.result()
        out["seconds"] = self.seconds
        return out


def _next_frames(predictor: Predictor, batch: torch.Tensor, context: int, horizon: int, precision_ctx) -> torch.Tensor:
    """One-step-ahead predictions: position k predicts frame context+k from the true frames before it (a sliding
    window as long as the context), so each horizon step is scored with no error fed back."""
    steps = []
    for k in range(horizon):
        with precision_ctx():
            steps.append(predictor(batch[:, k : context + k], 1).float().clamp(0, 1))
    return torch.cat(steps, dim=1)


def score(
    predictors: dict[str, Predictor],
    dataset: torch.utils.data.Dataset,
    *,
    context: int,
    horizon: int,
    device: torch.device,
    precision: str = "fp32",
    batch_size: int = 16,
    next_frame: bool = False,
    keep: int = 0,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
    clips: list[str] | None = None,
) -> Scores:
    """Score every predictor on every sequence of `dataset`, all of them on each batch before the next.

    Args:
        predictors: name -> predictor(context, horizon).
        dataset: yields (T, C, H, W) clips with T >= context + horizon.
        context: frames given; horizon: frames predicted.
        device: where to run; precision: fp32, bf16 or fp16 (autocast around every predictor).
        batch_size: sequences per batch; workers: data-loader worker processes.
        next_frame: also score one-step-ahead prediction at every position from the true frames before it.
        keep: keep context, truth and every prediction of the first `keep` sequences (uint8, in `Scores.kept`).
        progress: called with (sequences done, total) after each batch.
        clips: the clip each sequence of `dataset` is cut from: each clip's rollout is also scored on its own
            (in `Scores.clips`), from the same predictions.
    """
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, generator=torch.Generator()
    )  # its own generator: scoring must not move the global RNG that training draws from
    tallies = {name: _Tally(horizon, next_frame) for name in predictors}
    per_clip = _ClipTallies(clips, list(predictors), horizon) if clips else None
    kept: dict[str, list[np.ndarray]] = {}
    scores = Scores()
    started = time.perf_counter()
    with torch.inference_mode():
        for batch in loader:
            batch = batch.to(device, non_blocking=True)
            take = max(0, min(keep - scores.sequences, batch.shape[0]))
            preds = _score_batch(predictors, tallies, batch, context, horizon, device, precision, kept, take)
            if per_clip is not None:
                per_clip.update(scores.sequences, preds, batch[:, context : context + horizon])
            scores.sequences += batch.shape[0]
            if progress is not None:
                progress(scores.sequences, len(dataset))
    scores.seconds = time.perf_counter() - started
    scores.results = {name: tally.result() for name, tally in tallies.items()}
    scores.kept = {k: np.concatenate(v) for k, v in kept.items()}
    scores.clips = per_clip.result() if per_clip is not None else {}
    return scores


class _ClipTallies:
    """The rollout scores of every predictor on each clip's sequences alone (sequence i is cut from clips[i])."""

    def __init__(self, clips: list[str], names: list[str], horizon: int) -> None:
        from framecast.metrics import MetricAccumulator

        self.clips = clips
        self.tallies = {c: {n: MetricAccumulator(horizon) for n in names} for c in dict.fromkeys(clips)}
        self.counts = dict.fromkeys(self.tallies, 0)

    def update(self, first: int, preds: dict[str, torch.Tensor], truth: torch.Tensor) -> None:
        """Add a batch whose first sequence is sequence `first`: each clip's rows to that clip's tallies."""
        labels = self.clips[first : first + truth.shape[0]]
        for clip in dict.fromkeys(labels):
            rows = torch.tensor([i for i, c in enumerate(labels) if c == clip], device=truth.device)
            self.counts[clip] += len(rows)
            for name, pred in preds.items():
                self.tallies[clip][name].update(pred[rows], truth[rows])

    def result(self) -> dict[str, dict[str, Any]]:
        return {
            clip: {"sequences": self.counts[clip], "results": {n: {"rollout": t.result()} for n, t in tallies.items()}}
            for clip, tallies in self.tallies.items()
        }


def _score_batch(predictors, tallies, batch, context, horizon, device, precision, kept, take) -> dict:
    """Score one batch with every predictor; return their rollout predictions, name -> (B, horizon, C, H, W)."""
    ctx, truth = batch[:, :context], batch[:, context : context + horizon]
    preds = {}
    if take:
        kept.setdefault("context", []).append(frames_uint8(ctx[:take]))
        kept.setdefault("truth", []).append(frames_uint8(truth[:take]))
    for name, predictor in predictors.items():
        began = time.perf_counter()
        with autocast(device, precision):
            pred = predictor(ctx, horizon)
        pred = pred.float().clamp(0, 1)  # not in place: a baseline may return an expanded view
        tally = tallies[name]
        tally.rollout.update(pred, truth)
        if tally.one_step is not None:
            tally.one_step.update(
                _next_frames(predictor, batch, context, horizon, lambda: autocast(device, precision)), truth
            )
        tally.seconds += time.perf_counter() - began
        if take:
            kept.setdefault(name, []).append(frames_uint8(pred[:take]))
        preds[name] = pred
    return preds


def check_spec_matches(spec: dict[str, int], dataset, source: str) -> None:
    """A checkpoint scores only data of its own frame format: say so plainly when the data differs.

    Raises:
        InputError: the data's channels or frame size differ from the checkpoint's.
    """
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
    model: str | None = None,
    checkpoint: str | Path | None = None,
    data: DataOptions | str = "moving-mnist",
    split: str = "test",
    limit: int | None = None,
    baselines: list[str] | tuple[str, ...] = (),
    next_frame: bool = False,
    save: int = 0,
    save_to: str | Path | None = None,
    context: int | None = None,
    horizon: int | None = None,
    batch_size: int = 32,
    device: str = "auto",
    precision: str = "fp32",
    progress: Callable[[int, int], None] | None = None,
    self_check: int | None = None,
    views: int | None = None,
) -> dict[str, Any]:
    """Score a checkpoint (`model` names its newest finished run, or the shipped one; or a `checkpoint` path)
    and the baselines on a split of a dataset; return what `framecast eval --json` prints.

    Raises:
        UsageError, InputError: bad options or data (checked before any scoring); CheckpointError: a damaged
        checkpoint.
    """
    from framecast.models.views import inference_settings

    data = data if isinstance(data, DataOptions) else DataOptions(str(data))
    _check_eval_options(model, checkpoint, split, baselines)
    dev = pick_device(device)
    prec = resolve_precision(precision, dev)
    found = _load(model, checkpoint, dev, data, self_check, views)
    spec = found.checkpoint.spec if found else {}
    window = default_window(data.data)
    ctx, hor = context or spec.get("context", window[0]), horizon or spec.get("horizon", window[1])
    _check_memory(ctx, hor, batch_size, spec, dev)
    dataset = data.open(split, context=ctx, horizon=hor, limit=limit)
    if found is not None:
        check_spec_matches(spec, dataset, data.data)
    log.info("%s", dataset.description)
    save_path = _save_target(save, save_to, found)
    predictors = {found.checkpoint.name: found.checkpoint.model} if found else {}
    predictors.update({b: baseline(b) for b in baselines})
    scores = score(
        predictors, dataset, context=ctx, horizon=hor, device=dev, precision=prec, batch_size=batch_size,
        next_frame=next_frame, keep=save, progress=progress, clips=clips_to_score(dataset),
    )  # fmt: skip
    saved = _write_saved(scores, save_path, next(iter(predictors))) if save_path and scores.kept else None
    return {
        "checkpoint": str(found.checkpoint.path) if found else None,
        "chosen_by": found.chosen_by if found else None,
        "model": found.checkpoint.name if found else None,
        "data": dataset.description,
        "split": split,
        "sequences": len(dataset),
        "skipped_for_cuts": dataset.skipped_for_cuts,
        "context": ctx,
        "horizon": hor,
        "device": str(dev),
        "precision": prec,
        **inference_settings(found.checkpoint.model if found else None),
        "results": scores.results,
        "clips": scores.clips or None,
        "saved": saved,
    }


def clips_to_score(dataset) -> list[str] | None:
    """The clip of each sequence, where the sequences come from several named clips (each is then scored alone)."""
    clips = dataset.clip_of_each()
    return clips if clips and len(set(clips)) > 1 else None


def _load(model: str | None, checkpoint, device, data: DataOptions, self_check: int | None, views: int | None):
    """The checkpoint to score (None: baselines only), with its self-check and views as asked."""
    from framecast.checkpoints import resolve
    from framecast.models.self_check import set_frames
    from framecast.models.views import set_views

    if not (model or checkpoint):
        return None
    found = resolve(model=model, checkpoint=checkpoint, device=device, want=data.want())
    log.info("checkpoint: %s (%s)", found.checkpoint.path, found.chosen_by)
    set_frames(found.checkpoint.model, self_check)
    set_views(found.checkpoint.model, views)
    return found


def _check_memory(context: int, horizon: int, batch: int, spec: dict[str, int], device) -> None:
    """A batch of sequences, its predictions and their scores, about four float copies of every frame."""
    from framecast.devices import check_fits

    pixels = spec.get("channels", 1) * spec.get("height", 64) * spec.get("width", 64)
    per_frame = batch * pixels * 4 * 4
    check_fits(
        per_frame * (context + horizon), f"scoring {batch} sequences of {context} + {horizon} frames at a time",
        per_frame=per_frame, frames=horizon, option="--horizon (or --batch-size)", device=device,
    )  # fmt: skip


def _check_eval_options(model, checkpoint, split: str, baselines) -> None:
    if model and checkpoint:
        raise UsageError("give --model or --checkpoint, not both", "--model NAME uses the newest finished run")
    if split not in ("val", "test", "all"):
        raise UsageError(f"--split must be val, test or all, not '{split}'", "the train split is for training")
    for b in baselines:
        baseline(b)  # an unknown name fails before any work
    if not (model or checkpoint or baselines):
        raise UsageError("nothing to score", "give --model NAME, --checkpoint PATH or --baseline copy-last,zeros")


def _save_target(save: int, save_to: str | Path | None, found) -> Path | None:
    """Where `--save N` writes, checked before any work: --save-to, else predictions.npz in the run's folder."""
    from framecast._fs import check_writable_output

    if save and save_to is None:
        if found is not None and found.checkpoint.run_dir is not None:
            save_to = found.checkpoint.run_dir / "predictions.npz"
        else:
            raise UsageError("--save needs --save-to PATH.npz here", "for example --save-to predictions.npz")
    if save_to is None:
        return None
    target = check_writable_output(save_to)
    if target.suffix.lower() != ".npz":
        raise UsageError(f"--save-to {target} must name an .npz file", "for example --save-to predictions.npz")
    return target


def _write_saved(scores: Scores, path: Path, first: str) -> str:
    """Context, truth and the first predictor's frames as an .npz (what render-gif reads), atomically."""
    from framecast import _fs

    arrays = {"context": scores.kept["context"], "truth": scores.kept["truth"], "prediction": scores.kept[first]}
    with _fs.atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return str(path)
