"""Training losses, combinable by a spec such as ``mse``, ``l1`` or ``mse+0.1*gdl``.

- ``mse``: mean squared error per pixel.
- ``l1``: mean absolute error per pixel (``mae`` is accepted as a name for it).
- ``bce``: binary cross-entropy of the prediction against the target, both in [0, 1]; suits Moving MNIST's
  nearly binary frames (the original Moving MNIST papers trained with cross-entropy).
- ``gdl``: the gradient difference loss of Mathieu et al. (2016), alpha = 1: the absolute difference between
  the absolute spatial gradients of prediction and target, which penalises blur.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
import torch.nn.functional as F

from framecast.errors import UsageError, unknown_name


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, target)


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(pred, target)


def bce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # autocast would run this in low precision; cross-entropy near 0 and 1 needs float32
    with torch.autocast(device_type=pred.device.type, enabled=False):
        return F.binary_cross_entropy(pred.float().clamp(1e-6, 1 - 1e-6), target.float())


def gdl(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gradient difference loss over the last two (spatial) dimensions."""
    dy_p = (pred[..., 1:, :] - pred[..., :-1, :]).abs()
    dy_t = (target[..., 1:, :] - target[..., :-1, :]).abs()
    dx_p = (pred[..., :, 1:] - pred[..., :, :-1]).abs()
    dx_t = (target[..., :, 1:] - target[..., :, :-1]).abs()
    return (dy_p - dy_t).abs().mean() + (dx_p - dx_t).abs().mean()


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": mse,
    "l1": l1,
    "mae": l1,
    "bce": bce,
    "gdl": gdl,
}

_TERM = re.compile(r"^\s*(?:(?P<weight>\d+(?:\.\d*)?(?:e-?\d+)?|\.\d+)\s*\*\s*)?(?P<name>[a-z0-9_]+)\s*$", re.I)


def parse_loss(spec: str) -> list[tuple[float, str]]:
    """`mse+0.1*gdl` -> [(1.0, 'mse'), (0.1, 'gdl')].

    Raises:
        UsageError: for an unknown loss name or a malformed term.
    """
    terms: list[tuple[float, str]] = []
    if not spec or not spec.strip():
        raise UsageError("--loss is empty", "for example --loss mse or --loss mse+0.1*gdl")
    for part in spec.split("+"):
        match = _TERM.match(part)
        if match is None:
            raise UsageError(f"cannot read '{part.strip()}' in --loss '{spec}'", "write terms as NAME or WEIGHT*NAME")
        name = match["name"].lower()
        if name not in LOSSES:
            raise unknown_name("loss", name, tuple(k for k in LOSSES if k != "mae"))
        weight = float(match["weight"]) if match["weight"] else 1.0
        if weight <= 0:
            raise UsageError(f"the weight of '{name}' in --loss must be positive", "for example 0.1*gdl")
        terms.append((weight, name))
    return terms


class Loss:
    """A weighted sum of named losses, built from a spec; `parts` holds the last value of each term."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.terms = parse_loss(spec)
        self.parts: dict[str, float] = {}

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = None
        for weight, name in self.terms:
            value = LOSSES[name](pred, target)
            self.parts[name] = float(value.detach())
            total = weight * value if total is None else total + weight * value
        assert total is not None
        return total
