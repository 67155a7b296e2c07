"""A model's check of itself on the context it is given: how far to trust the change it predicts.

A model trained on generated scenes learns the motion they hold. On a clip whose motion it misreads, such as a
head that stops after moving, it carries the motion on and does worse than repeating the last frame; the
clip's own context is the evidence it has of that. Before predicting, the self-check has the model predict the
context's last `frames` frames from the frames before them, and fits by least squares how much of its predicted
change from the last frame those frames bore out: lambda, per sequence, from 0 (none of it: predict the last
frame) to 1 (all of it). `prior` pulls lambda towards 1, as that many times the evidence would (1: as much as
the evidence). The future is then the last frame plus lambda times the predicted change.

It is an inference-time rule and needs no training: a framecast model whose `self_check` is set applies it to
every call outside training (`FramePredictor.__call__`); a training forward is left as it is, so training and
the fine-tuning of `--adapt` see the model itself. A checkpoint may carry it (`"self_check"` in its metadata),
and `framecast eval` and `predict` take `--self-check N` to set or (0) remove it. A model that predicts no
change in the check (copy-last) is trusted (lambda 1): nothing to correct. Cost: one more forward, over a
context `frames` shorter, for `frames` steps.

Measured (results page, "Fourth round"): on three real clips it kept a talking head that trained models
overshoot near copy-last and raised their SSIM to about copy-last's, at little cost in MSE elsewhere; a clip
that holds every other frame lost some of its gain (the held frames make the check's evidence noisy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from framecast.errors import UsageError

#: How far lambda's evidence must reach: the predicted change's energy below which a model is taken to predict
#: no change at all (per pixel and frame, on [0, 1] frames: far below one grey level).
STILL = 1e-10


@dataclass(frozen=True)
class SelfCheck:
    """How the check is made: over the context's last `frames` frames, lambda pulled to 1 with weight `prior`."""

    frames: int = 3
    prior: float = 1.0

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise UsageError(f"the self-check needs at least one frame, not {self.frames}", "use --self-check 3")
        if self.prior < 0:
            raise UsageError(f"the self-check's prior weight must not be negative, not {self.prior}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def trust(predicted: torch.Tensor, truth: torch.Tensor, last: torch.Tensor, prior: float) -> torch.Tensor:
    """Lambda per sequence, (B,): how much of the predicted change from `last` (B, C, H, W) the true frames bore
    out, from predictions and true frames (B, K, C, H, W), least squares pulled to 1 by `prior`, in [0, 1]."""
    change, happened = (predicted - last[:, None]).flatten(1).double(), (truth - last[:, None]).flatten(1).double()
    energy = (change * change).sum(1)
    fitted = (change * happened).sum(1) / energy.clamp_min(STILL * change.shape[1])
    fitted = torch.where(energy <= STILL * change.shape[1], torch.ones_like(fitted), fitted)
    return ((fitted + prior) / (1.0 + prior)).clamp(0.0, 1.0).to(predicted.dtype)


def checked(model: Any, check: SelfCheck, context: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """`prediction` (the model's forward on `context`) moved only as far as the model's check of itself allows;
    the lambdas found are left in `model.last_trust`, (B,)."""
    k = check.frames
    if context.shape[1] < k + 2:  # too short to hold out k frames and still read motion: trusted as it is
        model.last_trust = torch.ones(context.shape[0], device=context.device)
        return prediction
    flow = model.last_flow  # the check's own forward must not replace what the prediction's left
    with torch.no_grad():
        held_out = model.forward(context[:, :-k], k)  # forward, not a call: the check is not checked again
    model.last_flow = flow
    lam = trust(held_out.float(), context[:, -k:].float(), context[:, -k - 1].float(), check.prior)
    model.last_trust = lam
    last = context[:, -1:]
    return (last + lam.view(-1, 1, 1, 1, 1).to(prediction.dtype) * (prediction - last)).clamp(0.0, 1.0)


def set_frames(model: Any, frames: int | None) -> None:
    """What `--self-check N` does to a loaded model: None leaves its own setting, 0 removes the check, N sets one
    over N frames (with the model's prior weight, or the default)."""
    if frames is None:
        return
    if frames < 0:
        raise UsageError(f"--self-check takes a number of frames (0: off), not {frames}", "use --self-check 3")
    prior = model.self_check.prior if model.self_check is not None else SelfCheck.prior
    model.self_check = SelfCheck(frames=frames, prior=prior) if frames else None


def from_meta(raw: Any, source: str) -> SelfCheck | None:
    """The self-check a checkpoint's metadata asks for (None when it asks for none).

    Raises:
        CheckpointError: a `self_check` entry that is not {"frames": int, "prior": float}.
    """
    from framecast.errors import CheckpointError

    if raw is None:
        return None
    try:
        return SelfCheck(frames=int(raw["frames"]), prior=float(raw.get("prior", SelfCheck.prior)))
    except (TypeError, KeyError, ValueError, UsageError):
        raise CheckpointError(f"{source} has a damaged self_check entry: {raw!r}", "export the run again") from None


def described(model: Any) -> dict[str, Any] | None:
    """The self-check a model applies, as reports show it (None: none)."""
    check = getattr(model, "self_check", None)
    return check.to_dict() if check is not None else None
