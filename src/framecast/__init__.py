"""framecast: predict the next frames of a video.

The Python API (see :mod:`framecast.api`): ``framecast.load``, ``framecast.evaluate``, ``framecast.train``. It is
imported when first used, so ``import framecast`` loads neither torch nor anything else heavy.
"""

from __future__ import annotations

from typing import Any

from framecast._version import __version__

__all__ = ["__version__", "evaluate", "load", "train"]


def __getattr__(name: str) -> Any:
    if name in ("load", "evaluate", "train", "Predictor"):
        from framecast import api

        return getattr(api, name)
    raise AttributeError(f"module 'framecast' has no attribute '{name}'")
