"""Scoring predictors on a dataset, batch by batch, so memory does not grow with the dataset.

A predictor is anything called as ``predictor(context, horizon) -> prediction`` on ``(B, T, C, H, W)`` tensors:
a model, or one of the naive baselines that give every number its context:

- ``copy-last``: every future frame is the last frame seen;
- ``zeros``: every future frame is blank. On Moving MNIST, where digits are small and move, the blank frame
  beats copying the last frame, so it is the bar a model has to clear.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from framecast.errors import UsageError

Predictor = Callable[[torch.Tensor, int], torch.Tensor]
BASELINES = ("copy-last", "zeros")


def copy_last(context: torch.Tensor, horizon: int) -> torch.Tensor:
    return context[:, -1:].expand(-1, horizon, -1, -1, -1)


def zeros(context: torch.Tensor, horizon: int) -> torch.Tensor:
    return context.new_zeros((context.shape[0], horizon, *context.shape[2:]))


def baseline(name: str) -> Predictor:
    if name == "copy-last":
        return copy_last
    if name == "zeros":
        return zeros
    raise UsageError(f"unknown baseline '{name}'", f"choose one of {', '.join(BASELINES)}")


def autocast(device: torch.device, precision: str):
    """The autocast context for a resolved precision (fp32 means none)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if precision == "fp16":
        return torch.autocast(device_type=device.type, dtype=torch.float16)
    return contextlib.nullcontext()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, T, C, H, W) float in [0, 1] -> uint8 (B, T, H, W, C)."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()


def evaluate(
    predictor: Predictor,
    dataset: torch.utils.data.Dataset,
    *,
    context: int,
    horizon: int,
    device: torch.device,
    batch_size: int = 16,
    precision: str = "fp32",
    next_frame: bool = False,
    save: int = 0,
    save_path: Path | None = None,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Score `predictor` on every sequence of `dataset`.

    Args:
        predictor: called as predictor(context, horizon).
        dataset: yields (T, C, H, W) clips with T >= context + horizon.
        context: frames given; horizon: frames predicted.
        device: where to run.
        batch_size: sequences per batch.
        precision: fp32, bf16 or fp16 (autocast).
        next_frame: also score one-step-ahead prediction at every position from the true frames before it.
        save: keep context, truth and prediction of the first `save` sequences in `save_path` (.npz).
        save_path: where to write them (atomically).
        workers: data-loader worker processes.
        progress: called with the number of sequences done after each batch.

    Returns:
        A JSON-ready dict: "rollout" (metrics overall and per horizon step), optionally "next_frame",
        "sequences", and "seconds".
    """
    from framecast.metrics import MetricAccumulator

    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, generator=torch.Generator()
    )  # its own generator: scoring must not move the global RNG that training draws from
    rollout = MetricAccumulator(horizon)
    one_step = MetricAccumulator(horizon) if next_frame else None
    kept: dict[str, list[np.ndarray]] = {"context": [], "truth": [], "prediction": []}
    n_kept = 0
    done = 0
    started = time.perf_counter()
    with torch.inference_mode():
        for batch in loader:
            batch = batch.to(device, non_blocking=True)
            ctx = batch[:, :context]
            truth = batch[:, context : context + horizon]
            with autocast(device, precision):
                pred = predictor(ctx, horizon)
            pred = pred.float().clamp(0, 1)  # not in place: a baseline may return an expanded view
            rollout.update(pred, truth)
            if one_step is not None:
                # position k predicts frame context+k from the true frames before it (a sliding window as long
                # as the context), so each horizon step is scored with no error fed back
                steps = []
                for k in range(horizon):
                    window = batch[:, k + 1 : context + k + 1] if k else ctx
                    with autocast(device, precision):
                        steps.append(predictor(window, 1).float().clamp(0, 1))
                one_step.update(torch.cat(steps, dim=1), truth)
            if n_kept < save:
                take = min(save - n_kept, batch.shape[0])
                kept["context"].append(to_uint8(ctx[:take]))
                kept["truth"].append(to_uint8(truth[:take]))
                kept["prediction"].append(to_uint8(pred[:take]))
                n_kept += take
            done += batch.shape[0]
            if progress is not None:
                progress(done)
    result: dict[str, Any] = {"sequences": done, "seconds": time.perf_counter() - started, "rollout": rollout.result()}
    if one_step is not None:
        result["next_frame"] = one_step.result()
    if save and save_path is not None and n_kept:
        from framecast import _fs

        with _fs.atomic_path(save_path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, **{k: np.concatenate(v) for k, v in kept.items()})
        result["saved"] = str(save_path)
    return result
