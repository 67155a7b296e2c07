"""The Python API, for notebooks and scripts: load a checkpoint, predict numpy frames, evaluate, train.

    import framecast
    model = framecast.load("predrnn")               # a model name, a run ("predrnn/my-run") or a checkpoint path
    future = model.predict(frames, horizon=10)      # numpy (T, H, W[, C]) in, numpy (10, H', W'[, C']) out
    scores = framecast.evaluate(model="predrnn", split="test", limit=100, baselines=["copy-last"])

Frames are numpy arrays ``(T, H, W)`` or ``(T, H, W, C)``, uint8 or floats in [0, 1]; what comes back has the
input's dtype and, when the checkpoint's channels match the input's, its layout. Frames of another size are
brought to the checkpoint's by the one frame policy of :mod:`framecast.clips` (centre crop, area scaling), the
same as training and `framecast predict` use, so predictions come back at the checkpoint's frame size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framecast.errors import InputError


@dataclass
class Predictor:
    """A loaded checkpoint, ready to predict frames.

    Attributes:
        model: the torch module (eval mode).
        name: the model family's registry name.
        spec: what it was trained on: channels, height, width, context and horizon frames.
        path: the weights file; chosen_by: how `load` found it.
    """

    model: Any
    name: str
    spec: dict[str, int]
    path: Path
    chosen_by: str
    device: Any

    def predict(self, frames: np.ndarray, horizon: int | None = None, *, context: int | None = None) -> np.ndarray:
        """The `horizon` frames (default: the checkpoint's) that follow the last `context` frames of `frames`.

        Args:
            frames: numpy ``(T, H, W)`` or ``(T, H, W, C)``, uint8 or floats in [0, 1].
            horizon: frames to predict; more than trained rolls forward.
            context: frames the model sees (default: the checkpoint's, or all of `frames` if fewer).

        Raises:
            InputError: frames of another rank, or too few of them.
        """
        from framecast.clips import fit, to_uint8
        from framecast.predict import predict_frames

        array = np.asarray(frames)
        if array.ndim not in (3, 4):
            raise InputError(f"frames of shape {array.shape} are not (T, H, W) or (T, H, W, C)", "pass a clip")
        grey_input = array.ndim == 3
        size = None if getattr(self.model.config, "any_size", False) else self.size  # dmvfn runs at any size
        fitted, _ = fit(array[..., None] if grey_input else array, channels=self.spec["channels"], size=size)
        ctx = context or min(self.spec["context"], len(fitted))
        if len(fitted) < ctx:
            raise InputError(f"{len(fitted)} frames given, but a context of {ctx} was asked for", "give more frames")
        out, _ = predict_frames(self.model, fitted[-ctx:], horizon or self.spec["horizon"], self.device)
        if grey_input and out.shape[-1] == 1:
            out = out[..., 0]
        return to_uint8(out) if array.dtype == np.uint8 else out

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames the model takes and gives."""
        return self.spec["height"], self.spec["width"]


def load(ref: str | Path, *, device: str = "auto") -> Predictor:
    """Load a checkpoint by model name (its newest finished run, else the one shipped with framecast), by run
    (``"convlstm/my-run"`` as `framecast runs` lists it) or by path (a ``.safetensors`` file or a run folder).

    Raises:
        UsageError: nothing of that name; InputError, CheckpointError: a missing or damaged checkpoint.
    """
    from framecast.checkpoints import resolve_ref
    from framecast.devices import pick_device

    dev = pick_device(device)
    found = resolve_ref(ref, dev)
    ckpt = found.checkpoint
    return Predictor(ckpt.model, ckpt.name, ckpt.spec, ckpt.path, found.chosen_by, dev)


def evaluate(**options: Any) -> dict[str, Any]:
    """Score a checkpoint and baselines on a dataset split; the same document `framecast eval --json` prints.

    Takes the keyword arguments of :func:`framecast.evaluation.run_eval`: ``model`` or ``checkpoint``, ``data``,
    ``split``, ``limit``, ``baselines``, ``context``, ``horizon``, ``next_frame``, ``device``, ``precision``...
    """
    from framecast.evaluation import run_eval

    return run_eval(**options)


def train(model: str, **options: Any) -> dict[str, Any]:
    """Train `model` with any of `framecast train`'s options (as keyword arguments: ``preset="tiny"``,
    ``epochs=2``, ``overrides={"hidden": 32}``...); returns what `framecast train --json` prints."""
    from framecast.training.launch import train as run
    from framecast.training.options import TrainOptions

    return run(TrainOptions(model=model, **options))
