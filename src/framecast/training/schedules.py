"""Learning-rate shapes as functions of a run's progress (0 to 1), for runs planned by time (--time-limit).

A run planned by steps uses torch's own schedulers, which count steps. A run given a time limit does not know how
many steps it will take, so its rate is read off how much of the time is used instead; the shapes are those of
the step-counted schedulers, so a run planned either way follows the same curve.
"""

from __future__ import annotations

import math

#: As torch's OneCycleLR defaults: start at peak / 25, rise over the first tenth, end at start / 10^4.
WARMUP_SHARE = 0.1
START_DIV = 25.0
FINAL_DIV = 1e4
#: As the step-counted cosine schedule: it ends at a hundredth of the peak.
COSINE_FLOOR = 0.01


def _cosine_between(high: float, low: float, share: float) -> float:
    """From `high` at share 0 to `low` at share 1, along half a cosine."""
    return low + (high - low) * 0.5 * (1 + math.cos(math.pi * min(max(share, 0.0), 1.0)))


def one_cycle(progress: float) -> float:
    """The one-cycle rate at `progress`, as a multiple of the peak."""
    start = 1.0 / START_DIV
    if progress < WARMUP_SHARE:
        return _cosine_between(1.0, start, 1.0 - progress / WARMUP_SHARE)
    return _cosine_between(1.0, start / FINAL_DIV, (progress - WARMUP_SHARE) / (1.0 - WARMUP_SHARE))


def cosine_decay(progress: float) -> float:
    """The cosine rate at `progress`, as a multiple of the peak."""
    return _cosine_between(1.0, COSINE_FLOOR, progress)
