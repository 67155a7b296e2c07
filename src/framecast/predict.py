"""Predicting the future of clips: `framecast predict`.

A clip is any video ffmpeg reads or a ``.npy``/``.npz`` array of frames. It is brought to the checkpoint's
frame format at the edge (:func:`read_clip`: centre-crop to the frame's aspect, area scaling, BT.601 grey),
and every change is reported, never made silently. From its frames, :func:`select_frames` takes the context
(the last ones, or those from a given start) and, when the clip goes on after the context, the true future
frames to score the prediction against. :func:`run_predict` loads the model once for any number of clips and
writes one file per clip: an animation or a PNG strip (context, truth, prediction, error), the predicted
frames as ``.npy``, or all three arrays as ``.npz`` (the layout of `framecast eval --save`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framecast.errors import InputError, UsageError

#: Suffixes of array files read as clips.
ARRAY_SUFFIXES = (".npy", ".npz")
#: What `predict` writes, by extension: animations and strips (render), raw predicted frames, all arrays.
OUTPUT_SUFFIXES = (".gif", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".png", ".npy", ".npz")
#: The format of outputs that are not named (--out-dir, or the default folder).
DEFAULT_FORMAT = "gif"
#: BT.601 luma, as ffmpeg's grey conversion and data.registry.convert use.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def is_array_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is read as an array of frames rather than decoded as a video."""
    return Path(path).suffix.lower() in ARRAY_SUFFIXES


def is_dataset_name(clip: str | os.PathLike[str]) -> bool:
    """Whether `clip` names a dataset (a sequence of its test split is predicted) rather than a file."""
    from framecast.data.registry import DATASETS

    return str(clip) in DATASETS and not Path(clip).exists()


@dataclass
class ClipFrames:
    """A clip's frames in the format asked for, and what it took to get them there.

    Attributes:
        path: the file read.
        frames: uint8 ``(T, H, W, C)``.
        source: the clip as stored: kind ("video" or "array"), frames, height, width, channels (None for a
            video, whose pixel format is not reported), fps (videos), sequence and sequences (arrays).
        conversions: each change made to the frames, in words (empty when none was needed).
    """

    path: Path
    frames: np.ndarray
    source: dict[str, Any]
    conversions: list[str] = field(default_factory=list)

    def conversion(self) -> dict[str, Any]:
        """The conversion as JSON: whether anything changed, from what, to what, and the steps."""
        _, h, w, c = self.frames.shape
        return {
            "changed": bool(self.conversions),
            "from": {k: self.source.get(k) for k in ("height", "width", "channels")},
            "to": {"height": h, "width": w, "channels": c},
            "steps": list(self.conversions),
        }


def _array_sequences(path: Path) -> tuple[np.ndarray, str]:
    """An array file as (N, T, H, W, C) sequences (views where possible) and the layout it was read as."""
    from framecast.data.arrays import check_values, open_array, to_nthwc

    array = open_array(path)
    check_values(array, path)
    if array.ndim == 3:
        return array[None, ..., None], "(T, H, W)"
    if array.ndim == 4:
        if array.shape[-1] in (1, 3):
            return array[None], "(T, H, W, C)"
        if array.shape[1] in (1, 3):
            return array.transpose(0, 2, 3, 1)[None], "(T, C, H, W)"
        return to_nthwc(array, path), "(N, T, H, W)"
    if array.ndim == 5:
        return to_nthwc(array, path), "(N, T, H, W, C)"
    raise InputError(
        f"{path} has shape {tuple(array.shape)}, which is not a clip",
        "give frames as (T, H, W), (T, H, W, C), or sequences as (N, T, H, W[, C])",
    )


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    if frames.dtype == np.uint8:
        return np.asarray(frames)
    return np.rint(np.clip(np.asarray(frames, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def fit_frames(
    frames: np.ndarray, *, channels: int | None, size: tuple[int, int] | None
) -> tuple[np.ndarray, list[str]]:
    """Bring uint8 ``(T, H, W, C)`` frames to `channels` and `size`, the way videos are decoded.

    Centre-crop to the target's aspect, then area scaling; grey by BT.601 luma, colour by repeating grey.

    Returns:
        The frames, and each change made, in words.
    """
    from PIL import Image

    notes: list[str] = []
    t, h, w, c = frames.shape
    if channels is not None and channels != c:
        if channels == 1:
            frames = np.rint(frames.astype(np.float32) @ _LUMA).clip(0, 255).astype(np.uint8)[..., None]
            notes.append("converted colour to grey (BT.601 luma)")
        else:
            frames = np.repeat(frames, 3, axis=-1)
            notes.append("converted grey to 3 channels (repeated)")
    if size is not None and (h, w) != tuple(size):
        th, tw = size
        # crop the longer side so the aspect matches: a stretched picture would move differently
        ch, cw = min(h, round(w * th / tw)), min(w, round(h * tw / th))
        top, left = (h - ch) // 2, (w - cw) // 2
        frames = frames[:, top : top + ch, left : left + cw]
        out = np.empty((t, th, tw, frames.shape[-1]), dtype=np.uint8)
        for i, frame in enumerate(frames):
            image = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)
            resized = np.asarray(image.resize((tw, th), Image.Resampling.BOX))  # BOX: area averaging
            out[i] = resized[..., None] if resized.ndim == 2 else resized
        frames = out
        crop = f"centre-cropped to {cw}x{ch}, " if (ch, cw) != (h, w) else ""
        notes.append(f"resized from {w}x{h} to {tw}x{th} ({crop}area scaling)")
    return np.ascontiguousarray(frames), notes


def read_clip(
    path: str | os.PathLike[str],
    *,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    sequence: int = 0,
) -> ClipFrames:
    """Read a clip, a video or an array file, as uint8 ``(T, H, W, C)`` frames of the format asked for.

    Args:
        path: a video (mp4, avi, mkv, webm, gif, ...) or a ``.npy``/``.npz`` of frames (T, H, W[, C]) or of
            sequences (N, T, H, W[, C]).
        channels: 1 or 3 (default: a video is read in colour, an array keeps its own).
        size: (height, width) (default: as stored).
        sequence: which sequence of an array of several.

    Raises:
        InputError: a missing path, a file that is neither a video nor an array of frames, a bad `sequence`.
        DataError: a damaged or truncated file.
    """
    from framecast import media

    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path} does not exist", "check the path")
    if is_array_file(path):
        sequences, layout = _array_sequences(path)
        n, t, h, w, c = sequences.shape
        if not 0 <= sequence < n:
            raise InputError(
                f"{path} holds {n} sequence{'s' if n != 1 else ''}, so there is no sequence {sequence}",
                f"give --sequence 0 to {n - 1}",
            )
        frames, notes = fit_frames(_to_uint8(sequences[sequence]), channels=channels, size=size)
        if n > 1:
            notes.insert(0, f"took sequence {sequence} of the {n} in the file")
        source = {
            "kind": "array",
            "layout": layout,
            "frames": t,
            "height": h,
            "width": w,
            "channels": c,
            "sequence": sequence,
            "sequences": n,
        }
        return ClipFrames(path, frames, source, notes)
    frames, info = media.read_video(path, channels=channels or 3, size=size)
    notes = []
    if channels == 1:
        notes.append("decoded as grey (BT.601 luma)")
    if size is not None and (info.height, info.width) != tuple(size):
        notes.append(
            f"resized from {info.width}x{info.height} to {size[1]}x{size[0]} (centre-cropped to the target's aspect "
            "in display pixels, area scaling)"
        )
    source = {
        "kind": "video",
        "frames": info.frames,
        "height": info.height,
        "width": info.width,
        "channels": None,
        "fps": info.fps,
        "codec": info.codec,
    }
    return ClipFrames(path, frames, source, notes)


def read_sample(
    name: str, *, sequence: int, context: int, horizon: int, channels: int, size: tuple[int, int]
) -> ClipFrames:
    """Sequence `sequence` of dataset `name`'s test split as a clip of ``context + horizon`` frames.

    Generated Moving MNIST needs nothing but the package: this is how `predict` runs offline on a fresh install.

    Raises:
        InputError: a sequence number past the end of the split.
    """
    from framecast.data.registry import open_dataset

    dataset = open_dataset(name, "test", context=context, horizon=horizon)
    if not 0 <= sequence < len(dataset):
        raise InputError(
            f"the test split of {name} holds {len(dataset)} sequences, so there is no sequence {sequence}",
            f"give --sequence 0 to {len(dataset) - 1}",
        )
    raw = dataset.raw(sequence)
    _, h, w, c = raw.shape
    frames, notes = fit_frames(_to_uint8(raw), channels=channels, size=size)
    source = {
        "kind": "dataset",
        "name": name,
        "split": "test",
        "sequence": sequence,
        "sequences": len(dataset),
        "frames": len(raw),
        "height": h,
        "width": w,
        "channels": c,
    }
    return ClipFrames(Path(name), frames, source, notes)


def select_frames(
    total: int, *, context: int, horizon: int, start: int | None, name: str = "the clip"
) -> dict[str, Any]:
    """Which frames of a clip of `total` frames form the context, and which are the true future.

    Without `start` the context is the last `context` frames and nothing of the future is known. With it, the
    context is frames ``start .. start+context-1`` and the truth is whatever follows, up to `horizon` frames.

    Returns:
        {"start", "context": [indices], "truth": [indices], "predicted": [indices the prediction stands for]}.

    Raises:
        InputError: the clip is too short for the context (the message says how many frames it has and needs).
    """
    if start is None:
        if total < context:
            raise InputError(
                f"{name} has {total} frames, but a context of {context} frames needs at least {context}",
                "lower --context, or give a longer clip",
            )
        first = total - context
    else:
        if start < 0:
            raise UsageError(f"--start must be 0 or more, not {start}", "frames are counted from 0")
        if start + context > total:
            raise InputError(
                f"{name} has {total} frames, but a context of {context} frames from frame {start} needs "
                f"{start + context}",
                f"lower --start (at most {max(0, total - context)}) or --context",
            )
        first = start
    end = first + context
    return {
        "start": first,
        "context": list(range(first, end)),
        "truth": list(range(end, min(total, end + horizon))),
        "predicted": list(range(end, end + horizon)),
    }


def plan_outputs(
    clips: list[Path], *, output: Path | None, out_dir: Path | None, fmt: str | None, model: str | None
) -> list[Path]:
    """Where each clip's result goes, checked before any work is done.

    `-o OUT` names the one output; `--out-dir DIR` gets ``<clip name>.<fmt>``; with neither, the data dir's
    ``predictions/`` folder gets ``<clip name>-<model>-<time>.<fmt>``. Two clips of the same name get ``-2``...

    Raises:
        UsageError: -o with several clips, -o with --out-dir, an unknown format.
        InputError: an output folder that does not exist or cannot be written.
    """
    from framecast import paths
    from framecast._fs import check_writable_output

    if output is not None and out_dir is not None:
        raise UsageError("give -o OUT or --out-dir DIR, not both", "-o names one file; --out-dir takes one per clip")
    if output is not None and len(clips) > 1:
        raise UsageError(f"-o names one file, but {len(clips)} clips were given", "use --out-dir DIR for several clips")
    if output is not None:
        target = check_writable_output(output)
        _check_suffix(target)
        return [target]
    suffix = "." + (fmt or DEFAULT_FORMAT).lower().lstrip(".")
    if suffix not in OUTPUT_SUFFIXES:
        raise UsageError(f"unknown --format '{fmt}'", f"use one of {', '.join(s[1:] for s in OUTPUT_SUFFIXES)}")
    if out_dir is not None:
        folder = Path(out_dir).expanduser()
        if folder.exists() and not folder.is_dir():
            raise InputError(f"--out-dir {folder} is a file, not a folder", "give a folder")
        # a folder that does not exist yet is made, but only inside one that does: a typo'd path is an error
        check_writable_output(folder / "x" if folder.is_dir() else folder)
        stamp = ""
    else:
        folder = paths.data_dir() / "predictions"
        stamp = "-" + "-".join(p for p in (model, time.strftime("%Y%m%d-%H%M%S")) if p)
    targets: list[Path] = []
    for clip in clips:
        base = f"{Path(clip).stem}{stamp}"
        name, n = f"{base}{suffix}", 2
        while folder / name in targets:
            name, n = f"{base}-{n}{suffix}", n + 1
        targets.append(folder / name)
    return targets


def _check_suffix(path: Path) -> None:
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(
            f"cannot write {path}: unknown format {path.suffix or '(no extension)'}",
            f"use one of {', '.join(OUTPUT_SUFFIXES)}",
        )


def write_prediction(
    path: Path,
    context: np.ndarray,
    truth: np.ndarray | None,
    prediction: np.ndarray,
    *,
    fps: float,
    scale: int | None,
) -> Path:
    """Write one clip's result in the format the extension names (see the module docstring), atomically.

    Args:
        path: the output.
        context: uint8 (Tc, H, W, C) frames seen; truth: uint8 (Tt, H, W, C) or None; prediction: uint8 (Tf, H, W, C).
        fps: frames per second of an animation.
        scale: nearest-neighbour upscale of an animation or strip (None: frames about 192 pixels across).
    """
    from framecast import _fs, media, render

    suffix = path.suffix.lower()
    if suffix == ".npy":
        return media.write_npy(prediction, path)
    if suffix == ".npz":
        arrays = {"context": context[None], "prediction": prediction[None]}
        if truth is not None and len(truth):
            arrays["truth"] = truth[None]
        with _fs.atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, **arrays)
        return path
    has_truth = truth is not None and len(truth) > 0
    rows = render.prediction_rows(context[None], truth[None] if has_truth else None, [("prediction", prediction[None])])
    return render.write_rows(path, rows, fps=fps, scale=scale)


def _metrics(prediction, truth) -> dict[str, Any]:
    """Scores of (1, T, C, H, W) predictions against the truth (torch, [0, 1]), as framecast.metrics defines them."""
    from framecast.metrics import MetricAccumulator

    accumulator = MetricAccumulator(truth.shape[1])
    accumulator.update(prediction[:, : truth.shape[1]], truth)
    return accumulator.result()


def predict_clip(
    model: Any, frames: np.ndarray, chosen: dict[str, Any], *, horizon: int, device: Any
) -> dict[str, Any]:
    """Predict `horizon` frames after the chosen context of uint8 (T, H, W, C) `frames`, and score them.

    Returns:
        uint8 (T, H, W, C) ``context_u8``, ``truth_u8`` (None when unknown) and ``prediction_u8``; ``predict_s``,
        the seconds of the forward; ``metrics`` of the prediction and ``baselines`` (copy-last) over the truth
        frames, or None without truth.
    """
    import torch

    context_u8 = frames[chosen["context"][0] : chosen["context"][-1] + 1]
    truth_u8 = frames[chosen["truth"][0] : chosen["truth"][-1] + 1] if chosen["truth"] else None
    x = torch.from_numpy(np.ascontiguousarray(context_u8)).to(device).permute(0, 3, 1, 2)[None].float() / 255.0
    began = time.perf_counter()
    with torch.inference_mode():
        pred = model(x, horizon).float().clamp_(0, 1)  # (1, horizon, C, H, W)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    predict_s = time.perf_counter() - began
    result: dict[str, Any] = {
        "context_u8": context_u8,
        "truth_u8": truth_u8,
        "prediction_u8": (pred[0] * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy(),
        "predict_s": predict_s,
        "metrics": None,
        "baselines": None,
    }
    if truth_u8 is not None:
        truth = torch.from_numpy(np.ascontiguousarray(truth_u8)).permute(0, 3, 1, 2)[None].float() / 255.0
        result["metrics"] = _metrics(pred.cpu(), truth)
        # copying the last context frame forward is the bar a model has to clear on a mostly static clip
        last = x[:, -1:].cpu().expand(-1, truth.shape[1], -1, -1, -1)
        result["baselines"] = {"copy-last": _metrics(last, truth)}
    return result


def run_predict(
    clips: list[str | os.PathLike[str]],
    *,
    model: str | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    context: int | None = None,
    start: int | None = None,
    horizon: int | None = None,
    output: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    fmt: str | None = None,
    channels: int | None = None,
    sequence: int = 0,
    device: str = "auto",
    fps: float | None = None,
    scale: int | None = None,
    notify: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Predict the frames after each clip with one model, loaded once, and write one output per clip.

    Args:
        clips: videos or array files.
        model: a model name: the best weights of its newest finished run.
        checkpoint: a ``.safetensors`` file or a run folder (instead of `model`).
        context: frames the model sees (default: the checkpoint's).
        start: first context frame; the frames after the context are then the truth, scored and shown.
        horizon: frames to predict (default: the checkpoint's); longer than trained rolls forward.
        output: the one output file (one clip only); its extension picks the format.
        out_dir: folder for one output per clip, named after the clip.
        fmt: format of outputs in `out_dir` or the default folder: gif, mp4, png, npy or npz.
        channels: force 1 or 3 channels; a checkpoint of other channels is an error.
        sequence: which sequence of an array file holding several.
        device: auto, cpu, cuda or mps.
        fps: frames per second of animations (default 5).
        scale: nearest-neighbour upscale of pictures (default: frames about 192 pixels across).
        notify: called with each note for people (frames converted to the checkpoint's format).

    Returns:
        A JSON-ready report: the checkpoint used, the device, the load time and, per clip, its output, the
        frames used, the conversion done, the timings (read, predict, write) and metrics when truth exists.

    Raises:
        UsageError, InputError: bad options or inputs (exit 2), checked before the model is run.
        CheckpointError, DataError: a damaged checkpoint or clip (exit 1).
    """
    from framecast import render

    say = notify or (lambda _message: None)
    if not clips:
        raise UsageError("no clip given", "name one or more videos or .npy/.npz files")
    if (model is None) == (checkpoint is None):
        raise UsageError(
            "give --model NAME or --checkpoint PATH" + (", not both" if model else ""),
            "--model NAME uses the best weights of the newest finished run of that model",
        )
    if channels is not None and channels not in (1, 3):
        raise UsageError(f"--channels must be 1 or 3, not {channels}", "1 for grey frames, 3 for colour")
    paths_in = [Path(c).expanduser() for c in clips]
    # outputs named on the command line are checked before anything is loaded or decoded
    named = plan_outputs(
        paths_in,
        output=Path(output) if output else None,
        out_dir=Path(out_dir) if out_dir else None,
        fmt=fmt,
        model=None,
    )
    for p in paths_in:
        if is_dataset_name(p):
            continue
        if not p.exists():
            raise InputError(f"{p} does not exist", "check the path")
        if p.is_dir():
            raise InputError(f"{p} is a folder, not a clip", "name the video or array files in it")

    from framecast.checkpoints import load_checkpoint, resolve_model
    from framecast.devices import pick_device

    dev = pick_device(device)
    chosen_by = "given with --checkpoint"
    if model is not None:
        weights = resolve_model(model)
        from framecast.checkpoints import origin

        chosen_by = f"--model {model}: {origin(weights)}"
    else:
        weights = Path(checkpoint).expanduser()
    began = time.perf_counter()
    ckpt = load_checkpoint(weights, dev)
    load_s = time.perf_counter() - began
    say(f"checkpoint: {ckpt.path} ({ckpt.name}, {chosen_by}; loaded in {load_s:.2f} s)")
    spec = ckpt.spec
    if channels is not None and channels != spec["channels"]:
        raise InputError(
            f"--channels {channels} was asked for, but the checkpoint {ckpt.path} takes {spec['channels']}-channel "
            "frames",
            f"drop --channels (clips are converted to the checkpoint's {spec['channels']}-channel frames), or use a "
            f"checkpoint trained on {channels}-channel frames",
        )
    ctx_len = context or spec["context"]
    hor = horizon or spec["horizon"]
    size = (spec["height"], spec["width"])
    targets = (
        named if (output or out_dir) else plan_outputs(paths_in, output=None, out_dir=None, fmt=fmt, model=ckpt.name)
    )

    # every clip is read, and its frames chosen, before anything is predicted or written: a bad clip among many
    # stops the command with nothing half done
    prepared = []
    for path in paths_in:
        began = time.perf_counter()
        if is_dataset_name(path):  # a sample the package makes: predicted from its first frames, truth beside it
            clip = read_sample(
                str(path), sequence=sequence, context=ctx_len, horizon=hor, channels=spec["channels"], size=size
            )
            first = 0 if start is None else start
        else:
            clip, first = read_clip(path, channels=spec["channels"], size=size, sequence=sequence), start
        read_s = time.perf_counter() - began
        chosen = select_frames(len(clip.frames), context=ctx_len, horizon=hor, start=first, name=str(path))
        if clip.conversions:
            say(
                f"Note: {path.name}: {'; '.join(clip.conversions)}, to match the checkpoint's "
                f"{spec['channels']}-channel {spec['width']}x{spec['height']} frames"
            )
        prepared.append((clip, chosen, read_s))

    if not output:
        targets[0].parent.mkdir(parents=True, exist_ok=True)  # --out-dir, or the default folder
    reports = []
    for (clip, chosen, read_s), target in zip(prepared, targets, strict=True):
        report = predict_clip(ckpt.model, clip.frames, chosen, horizon=hor, device=dev)
        began = time.perf_counter()
        written = write_prediction(
            target, report.pop("context_u8"), report.pop("truth_u8"), report.pop("prediction_u8"),
            fps=fps or render.DEFAULT_FPS, scale=scale,
        )  # fmt: skip
        timings = {"read_s": read_s, "predict_s": report.pop("predict_s"), "write_s": time.perf_counter() - began}
        reports.append(
            {
                "input": str(clip.path),
                "output": str(written),
                "format": written.suffix.lower().lstrip("."),
                "source": clip.source,
                "conversion": clip.conversion(),
                "frames": {**chosen, "context_frames": ctx_len, "horizon": hor, "truth_frames": len(chosen["truth"])},
                "timings": timings,
                **report,
            }
        )
    return {
        "checkpoint": {
            "path": str(ckpt.path),
            "model": ckpt.name,
            "run": str(ckpt.run_dir) if ckpt.run_dir else None,
            "chosen_by": chosen_by,
            "spec": spec,
        },
        "device": str(dev),
        "context": ctx_len,
        "horizon": hor,
        "timings": {"load_s": load_s},
        "clips": reports,
    }
