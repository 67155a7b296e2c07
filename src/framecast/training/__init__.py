"""Training: the loop (trainer), scheduled sampling, losses, distributed set-up, and :func:`train`, which runs it
all in this process, in `--devices N` local processes, or as a torchrun rank.

The options (:class:`TrainOptions`) import nothing heavy, so the command line can offer them without torch; the
rest is imported when first used.
"""

from __future__ import annotations

from typing import Any

from framecast.training.options import TrainOptions

__all__ = ["Interrupted", "TrainOptions", "Trainer", "resume_options", "train"]


def __getattr__(name: str) -> Any:
    if name in ("Interrupted", "Trainer"):
        from framecast.training import trainer

        return getattr(trainer, name)
    if name in ("train", "resume_options"):
        from framecast.training import launch

        return getattr(launch, name)
    raise AttributeError(name)
