"""Adapting a checkpoint to one clip, guarded: `framecast predict clip.mp4 --adapt 60s`.

A model fine-tuned on a clip's past learns that past, which its future often does not repeat: a probe on this
project's CPU found that 60 s of plain fine-tuning made the next window worse on most real clips, at every
learning rate tried. So adapting here has to prove itself every time:

1. the frames before the point predicted from are cut into windows of context + horizon frames;
2. the most recent window is held back: it is never trained on, and it is the one the adapted weights are judged
   by (its context ends where the held-back target begins, so nothing of it leaks into training);
3. the model is fine-tuned on the other windows (all of whose frames come before the held-back target) for the
   budget given, a number of steps or of seconds;
4. the adapted weights are kept only if they beat the original ones on the held-back window, by the measure the
   training of natural video uses (MSE against copy-last's, with a penalty for any SSIM lost); otherwise the
   original weights predict, and the report says so. Both scores are reported beside copy-last's.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from framecast.durations import read_amount
from framecast.errors import InputError, UsageError

log = logging.getLogger("framecast")

#: Learning rate of adapting: an order below training's, as fine-tuning a few windows wants.
ADAPT_LR = 1e-4
ADAPT_BATCH = 8
ADAPT_LOSS = "mse+0.05*ssim"


@dataclass(frozen=True)
class Budget:
    """How long to adapt: a number of optimiser steps, or of seconds."""

    steps: int | None = None
    seconds: float | None = None

    @classmethod
    def parse(cls, text: str) -> Budget:
        """`200` (steps), `60s`, `1.5m`, `1h` (time).

        Raises:
            UsageError: anything else, or a budget that is not positive.
        """
        amount = read_amount(text)
        if amount is None:
            raise UsageError(f"--adapt '{text}' is not a budget", "give steps (200) or a time (60s, 2m)")
        value, unit = amount
        if unit is None:
            if not value.is_integer():
                raise UsageError(f"--adapt {text}: a step count is a whole number", "for example --adapt 200")
            return cls(steps=int(value))
        return cls(seconds=value * unit)

    def spent(self, steps: int, seconds: float) -> bool:
        return (self.steps is not None and steps >= self.steps) or (
            self.seconds is not None and seconds >= self.seconds
        )


@dataclass
class Adapted:
    """What adapting did: the model to predict with and the scores that decided it."""

    model: Any
    kept: bool
    steps: int
    seconds: float
    windows: int
    held_back: dict[str, Any] = field(default_factory=dict)
    adapted_model: Any = None  # the fine-tuned weights, kept or not (for --save-adapted)

    def report(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "steps": self.steps,
            "seconds": self.seconds,
            "training_windows": self.windows,
            "held_back": self.held_back,
        }


def split_windows(frames_before: int, context: int, horizon: int) -> tuple[list[int], int]:
    """Start frames of the training windows and of the held-back window among the first `frames_before` frames.

    Raises:
        InputError: too few frames for one training window and the held-back one.
    """
    length = context + horizon
    held = frames_before - length
    starts = list(range(0, held - horizon + 1))  # a training window ends before the held-back target begins
    if held < 0 or not starts:
        need = length + horizon
        raise InputError(
            f"adapting needs at least {need} frames before the point predicted from, but there are {frames_before}",
            "give a later --start, a shorter --context/--horizon, or drop --adapt",
        )
    return starts, held


def adapt(
    model: torch.nn.Module,
    frames: np.ndarray,
    *,
    context: int,
    horizon: int,
    budget: Budget,
    device: torch.device,
    seed: int = 0,
) -> Adapted:
    """Fine-tune a copy of `model` on windows of float (T, H, W, C) `frames` (the frames before the point
    predicted from), holding back the most recent window, and keep it only if it does better there."""
    from framecast.training.losses import Loss

    starts, held = split_windows(len(frames), context, horizon)
    clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(device)  # (T, C, H, W)
    held_back = clip[None, held : held + context + horizon]
    before = _judge(model, held_back, context, horizon)
    tuned = copy.deepcopy(model).train()
    optimiser = torch.optim.AdamW([p for p in tuned.parameters() if p.requires_grad], lr=ADAPT_LR)
    loss_fn, rng = Loss(ADAPT_LOSS), np.random.default_rng(seed)
    steps, began = 0, time.perf_counter()
    while not budget.spent(steps, time.perf_counter() - began):
        batch = torch.stack([clip[s : s + context + horizon] for s in rng.choice(starts, ADAPT_BATCH)])
        optimiser.zero_grad(set_to_none=True)
        pred = tuned(batch[:, :context], horizon)
        loss = loss_fn(pred.float(), batch[:, context:])
        extra = tuned.extra_loss(batch[:, :context], loss_fn)
        (loss if extra is None else loss + extra).backward()
        torch.nn.utils.clip_grad_norm_(tuned.parameters(), 1.0)
        optimiser.step()
        steps += 1
    tuned.eval()
    after = _judge(tuned, held_back, context, horizon)
    kept = after["score"] < before["score"]
    scores = {"frames": [held + context, held + context + horizon - 1], "before": before, "after": after}
    scores["copy_last"] = before.pop("copy_last")
    after.pop("copy_last")
    log.info(
        "adapted for %d steps (%.0f s) on %d windows: held-back window MSE %.2f -> %.2f (copy-last %.2f): %s",
        steps, time.perf_counter() - began, len(starts), before["mse"], after["mse"], scores["copy_last"]["mse"],
        "kept" if kept else "not better, the original weights predict",
    )  # fmt: skip
    return Adapted(tuned if kept else model, kept, steps, time.perf_counter() - began, len(starts), scores, tuned)


def _judge(model: torch.nn.Module, window: torch.Tensor, context: int, horizon: int) -> dict[str, Any]:
    """Scores of `model` on a held-back (1, T, C, H, W) window, with copy-last's and the combined measure."""
    from framecast.evaluation import copy_last, relative_scores, score

    class _One(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 1

        def __getitem__(self, _index: int) -> torch.Tensor:
            return window[0]

    result = score(
        {"model": model, "copy-last": copy_last}, _One(), context=context, horizon=horizon, device=window.device
    ).results
    mine, copy = result["model"]["rollout"], result["copy-last"]["rollout"]
    keys = ("mse", "mae", "psnr", "ssim")
    return {
        **{k: mine[k] for k in keys},
        "score": relative_scores(mine, copy)["vs_copy_last"],
        "copy_last": {k: copy[k] for k in keys},
    }


def save_adapted(adapted: Adapted, ckpt, name: str, source: str) -> str:
    """Write the adapted weights as a finished run `<model>/<name>`, so `--model`, `runs` and `--init` find it."""
    from dataclasses import asdict

    from framecast._version import __version__
    from framecast.checkpoints import WEIGHT_FILES, new_run_dir, save_weights, write_json

    run = new_run_dir(ckpt.name, name)
    config = asdict(adapted.adapted_model.config)
    spec = {**ckpt.spec, "content": "natural"}  # adapted to a clip: it has learnt that clip's natural video
    meta = {"model": ckpt.name, "config": config, "spec": spec, "framecast": __version__, "which": "best"}
    save_weights(adapted.adapted_model, run / WEIGHT_FILES[0], meta)
    write_json(
        run / "config.json",
        {
            "model": ckpt.name,
            "preset": (ckpt.meta or {}).get("preset"),
            "config": config,
            "spec": spec,
            "data": {"name": source, "adapted_from": str(ckpt.path)},
            "status": "finished",
            "adapt": adapted.report(),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "framecast": __version__,
        },
    )
    return str(run)
