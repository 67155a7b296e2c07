"""An exponential moving average of a model's weights over training steps (`framecast train --ema DECAY`).

The weights of one step carry that step's noise: on data that differ from what a model trained on (real clips
after generated scenes), neighbouring epochs of one run can score far apart. The average of the recent steps'
weights, as the benchmark library of this field and most image-model trainers keep it, moves more steadily. It is
what a run with `--ema` validates, chooses its best epoch by, and writes to its weight files; the weights that
training itself goes on from are kept in the run's state, so that `--resume` continues exactly.

The decay warms up as `min(decay, (1 + step) / (10 + step))`: early on, when the weights move fast, the average
follows them closely instead of holding on to the random initial weights for thousands of steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class WeightAverage:
    """The moving average of every floating-point tensor of a module's state (parameters and buffers), in fp32.

    Integer buffers (counters) are copied, not averaged.
    """

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the average's decay must lie between 0 and 1, not {decay}")
        self.decay = decay
        self.tensors = {
            k: v.detach().clone().float() if v.is_floating_point() else v.detach().clone()
            for k, v in module.state_dict().items()
        }

    def rate(self, step: int) -> float:
        """How much of the old average a step keeps, at optimiser step `step` (1 for the first step taken)."""
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        """Fold in the module's weights after its optimiser step number `step`."""
        keep = self.rate(step)
        for key, value in module.state_dict().items():
            average = self.tensors[key]
            if average.is_floating_point():
                average.mul_(keep).add_(value.detach().float(), alpha=1.0 - keep)
            else:
                average.copy_(value)

    @contextlib.contextmanager
    def applied(self, module: torch.nn.Module) -> Iterator[dict[str, torch.Tensor]]:
        """The module holds the averaged weights inside the block, and its own again after it (even on error); the
        block is given a copy of its own weights."""
        own = {k: v.detach().clone() for k, v in module.state_dict().items()}
        module.load_state_dict(self.tensors)
        try:
            yield own
        finally:
            module.load_state_dict(own)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.tensors)

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        """Take a saved average; its names must be the module's."""
        if set(tensors) != set(self.tensors):
            missing, extra = sorted(set(self.tensors) - set(tensors)), sorted(set(tensors) - set(self.tensors))
            raise KeyError(f"the saved average does not fit the model (missing {missing}, extra {extra})")
        for key, value in tensors.items():
            self.tensors[key] = value.detach().clone().to(self.tensors[key].dtype)
