"""Test-time views: a prediction averaged over mirrored (and transposed) copies of the input.

A scene seen in a mirror moves as its mirror image, and the physics of a clip does not change when it is flipped
left to right, upside down, or (for square frames) transposed. A model trained on finite data does not honour
these symmetries exactly: its errors on a clip and on the clip's mirror image differ, and the squared error of
their average is never above the mean of their squared errors (it is below it wherever they disagree, and the
average is blurrier there, which is where the future is uncertain). So the prediction is
made on each view of the context, mapped back, and averaged: 1 view (off), 2 (left-right), 4 (and upside down),
8 (and each of those transposed; square frames only, others use 4).

It is an inference-time rule like the self-check (models/self_check.py), which each view applies for itself: a
framecast model whose `views` is above 1 averages every call outside training (`FramePredictor.__call__`), and
training and `--adapt`'s fine-tuning see the model itself. A checkpoint may carry it (`"views"` in its metadata);
`framecast eval` and `predict` take `--views N`. Cost: N forwards.

Measured (results page, "Test-time views"): 8 views lowered each shipped natural-video checkpoint's MSE by 5-9% on
the validation scenes and by 2-3% on three real clips, and raised its SSIM; on digits they did not help.
"""

from __future__ import annotations

from typing import Any

import torch

from framecast.errors import CheckpointError, UsageError

#: The numbers of views there are: the identity, then left-right, upside-down, both; then the same transposed.
VIEWS = (1, 2, 4, 8)
_FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-1, -2))


def transforms(views: int, height: int, width: int) -> list[tuple[tuple[int, ...], bool]]:
    """The (flipped dims, transposed) of each view, the identity last; transposes only where frames are square."""
    flips = _FLIPS[: min(views, 4)]
    chosen = [(f, t) for t in ((False, True) if views == 8 and height == width else (False,)) for f in flips]
    return chosen[1:] + chosen[:1]


def _apply(x: torch.Tensor, flip: tuple[int, ...], transpose: bool) -> torch.Tensor:
    """A view of (B, T, C, H, W) frames: flipped, then transposed (`_undo` maps a view's frames back)."""
    x = x.flip(flip) if flip else x
    return x.transpose(-1, -2) if transpose else x


def _undo(x: torch.Tensor, flip: tuple[int, ...], transpose: bool) -> torch.Tensor:
    x = x.transpose(-1, -2) if transpose else x
    return x.flip(flip) if flip else x


def averaged(model: Any, context: torch.Tensor, horizon: int, kwargs: dict[str, Any]) -> torch.Tensor:
    """The mean of the model's (self-checked) predictions on each view of `context`, mapped back. What the model
    leaves after a call (`last_flow`, `last_trust`) is the identity view's, which is predicted last."""
    total, dtype = None, context.dtype
    chosen = transforms(model.views, context.shape[-2], context.shape[-1])
    for flip, transpose in chosen:
        prediction = _undo(model.checked_call(_apply(context, flip, transpose), horizon, **kwargs), flip, transpose)
        total, dtype = (prediction.float() if total is None else total + prediction.float()), prediction.dtype
    return (total / len(chosen)).to(dtype)


def check(views: int) -> int:
    """A number of views, as given.

    Raises:
        UsageError: one that is not 1, 2, 4 or 8.
    """
    if views not in VIEWS:
        raise UsageError(
            f"--views takes 1, 2, 4 or 8 views, not {views}", "use --views 8 (mirrored and transposed) or 1 (off)"
        )
    return views


def set_views(model: Any, views: int | None) -> None:
    """What `--views N` does to a loaded model: None leaves its own setting."""
    if views is not None:
        model.views = check(views)


def from_meta(raw: Any, source: str) -> int:
    """The views a checkpoint's metadata asks for (1 when it names none).

    Raises:
        CheckpointError: a `views` entry that is not 1, 2, 4 or 8.
    """
    if raw is None:
        return 1
    if isinstance(raw, bool) or not isinstance(raw, int) or raw not in VIEWS:
        raise CheckpointError(f"{source} has a damaged views entry: {raw!r}", "export the run again")
    return raw


def inference_settings(model: Any) -> dict[str, Any]:
    """What a report says of a model's inference-time rules: its self-check and its views (None: no model)."""
    from framecast.models.self_check import described

    if model is None:
        return {"self_check": None, "views": None}
    return {"self_check": described(model), "views": getattr(model, "views", 1)}
