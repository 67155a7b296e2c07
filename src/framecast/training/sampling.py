"""Scheduled sampling: how often the recurrent models see the ground truth instead of their own output.

While training, a recurrent model rolls forward feeding back its own predictions; with probability p it is fed
the true frame instead (Bengio et al., 2015). p starts at 1 (pure teacher forcing, easy early learning) and
decays to 0 (the model must live with its own outputs, as at test time). PredRNN's reference schedule decays
linearly; an exponential or inverse-sigmoid decay are the other common choices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from framecast.errors import UsageError

SCHEDULES = ("linear", "exp", "sigmoid", "none")


@dataclass(frozen=True)
class SamplingSchedule:
    """Teacher-forcing probability as a function of the optimisation step."""

    kind: str = "linear"  # linear, exp, sigmoid, or none (never teacher forcing)
    start: float = 1.0  # probability at step 0
    end_step: int = 10_000  # the step by which the probability reaches `end`
    end: float = 0.0  # the final probability

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise UsageError(f"unknown sampling schedule '{self.kind}'", f"choose one of {', '.join(SCHEDULES)}")
        if not (0 <= self.end <= self.start <= 1):
            raise UsageError("sampling probabilities must satisfy 0 <= end <= start <= 1", "for example 1.0 -> 0.0")

    def __call__(self, step: int) -> float:
        if self.kind == "none":
            return 0.0
        if step >= self.end_step:
            return self.end
        frac = step / max(1, self.end_step)
        if self.kind == "linear":
            shape = 1.0 - frac
        elif self.kind == "exp":  # decays to 1% of the way by end_step
            shape = math.exp(math.log(0.01) * frac)
        else:  # inverse sigmoid centred at half-way
            shape = 1.0 / (1.0 + math.exp(12.0 * (frac - 0.5)))
        return self.end + (self.start - self.end) * shape
