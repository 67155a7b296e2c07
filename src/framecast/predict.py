"""Predicting the future of clips: `framecast predict`.

A clip is any video ffmpeg reads or a ``.npy``/``.npz`` array of frames, read and brought to the checkpoint's
frame format by :mod:`framecast.clips` (the one frame policy, the same frames training sees), and every change is
reported, never made silently. From its frames, :func:`select_frames` takes the context (the last ones, or those
from a given start) and, when the clip goes on after the context, the true future frames to score the prediction
against. :func:`run_predict` loads the model once for any number of clips and writes one file per clip: an
animation or a PNG strip (context, truth, prediction, error), the predicted frames as ``.npy``, or all three
arrays as ``.npz`` (the layout of `framecast eval --save`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framecast.clips import ClipFrames, fit, read_clip, to_uint8
from framecast.errors import InputError, UsageError
from framecast.media import WRITE_SUFFIXES

log = logging.getLogger("framecast")

#: What `predict` writes, by extension: animations and strips (render), raw predicted frames, all arrays.
OUTPUT_SUFFIXES = (*WRITE_SUFFIXES, ".npz")
#: The format of outputs that are not named (--out-dir, or the default folder).
DEFAULT_FORMAT = "gif"


def is_dataset_name(clip: str | os.PathLike[str]) -> bool:
    """Whether `clip` names a dataset (a sequence of its test split is predicted) rather than a file."""
    from framecast.data.registry import DATASETS

    return str(clip) in DATASETS and not Path(clip).exists()


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
    frames, notes = fit(raw, channels=channels, size=size)
    source = {"kind": "dataset", "name": name, "split": "test", "sequence": sequence, "sequences": len(dataset)}
    source.update(frames=len(raw), height=h, width=w, channels=c)
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


@dataclass
class OutputPlan:
    """Where each clip's result goes, checked before any work is done.

    `output` names the one output; `out_dir` gets ``<clip name>.<format>``; with neither, a fresh folder
    ``predictions/<model>-<time>/`` in the data dir, made only when the first file is written.
    """

    output: Path | None = None
    out_dir: Path | None = None
    fmt: str | None = None

    def check(self, clips: list[Path]) -> None:
        """Raises UsageError (-o with several clips, -o with --out-dir, an unknown format) or InputError (an
        output folder that does not exist or cannot be written)."""
        from framecast._fs import check_writable_output

        if self.output is not None and self.out_dir is not None:
            raise UsageError(
                "give -o OUT or --out-dir DIR, not both", "-o names one file; --out-dir takes one per clip"
            )
        if self.output is not None:
            if len(clips) > 1:
                raise UsageError(
                    f"-o names one file, but {len(clips)} clips were given", "use --out-dir DIR for several clips"
                )
            self.output = check_writable_output(self.output)
            _check_suffix(self.output)
            return
        if self.suffix not in OUTPUT_SUFFIXES:
            raise UsageError(
                f"unknown --format '{self.fmt}'", f"use one of {', '.join(s[1:] for s in OUTPUT_SUFFIXES)}"
            )
        if self.out_dir is not None:
            folder = Path(self.out_dir).expanduser()
            if folder.exists() and not folder.is_dir():
                raise InputError(f"--out-dir {folder} is a file, not a folder", "give a folder")
            # a folder that does not exist yet is made, but only inside one that does: a typo'd path is an error
            check_writable_output(folder / "x" if folder.is_dir() else folder)
            self.out_dir = folder

    @property
    def suffix(self) -> str:
        return "." + (self.fmt or DEFAULT_FORMAT).lower().lstrip(".")

    def targets(self, clips: list[Path], model: str) -> list[Path]:
        """One output path per clip (the folder is made here); two clips of one name get ``-2``..."""
        from framecast import paths

        if self.output is not None:
            return [self.output]
        if self.out_dir is not None:
            folder = paths.ensure(self.out_dir)
        else:
            folder = paths.new_stamped_dir(paths.data_dir() / "predictions", model)
        targets: list[Path] = []
        for clip in clips:
            name, n = f"{Path(clip).stem}{self.suffix}", 2
            while folder / name in targets:
                name, n = f"{Path(clip).stem}-{n}{self.suffix}", n + 1
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


def predict_frames(model: Any, context: np.ndarray, horizon: int, device: Any) -> tuple[np.ndarray, float]:
    """`horizon` frames after float (T, H, W, C) `context`, as float (horizon, H, W, C), and the forward's seconds."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(context, dtype=np.float32)).to(device).permute(0, 3, 1, 2)[None]
    began = time.perf_counter()
    with torch.inference_mode():
        pred = model(x, horizon).float().clamp_(0, 1)  # (1, horizon, C, H, W)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return pred[0].permute(0, 2, 3, 1).cpu().numpy(), time.perf_counter() - began


def predict_clip(
    model: Any, frames: np.ndarray, chosen: dict[str, Any], *, horizon: int, device: Any
) -> dict[str, Any]:
    """Predict `horizon` frames after the chosen context of float (T, H, W, C) `frames`, and score them.

    Returns:
        uint8 (T, H, W, C) ``context_u8``, ``truth_u8`` (None when unknown) and ``prediction_u8``; ``predict_s``,
        the seconds of the forward; ``metrics`` of the prediction and ``baselines`` (copy-last) over the truth
        frames, or None without truth.
    """
    import torch

    context = frames[chosen["context"]]
    truth = frames[chosen["truth"]] if chosen["truth"] else None
    cadence = chosen.get("cadence")
    if cadence is None:
        prediction, predict_s = predict_frames(model, context, horizon, device)
    else:  # the content's own rate: predict new contents, then hold each as the file holds its frames
        content, predict_s = predict_frames(model, context, cadence["content_horizon"], device)
        prediction = expand_cadence(context[-1], content, cadence, horizon)
    flow = getattr(model, "last_flow", None)
    result: dict[str, Any] = {
        "context_u8": to_uint8(context),
        "truth_u8": to_uint8(truth) if truth is not None else None,
        "prediction_u8": to_uint8(prediction),
        "predict_s": predict_s,
        "flow": flow[0].cpu().numpy() if flow is not None else None,  # (steps, 2, H, W) pixels
        "metrics": None,
        "baselines": None,
    }
    if truth is not None:

        def as_batch(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)[None]

        result["metrics"] = _metrics(as_batch(prediction), as_batch(truth))
        # copying the last context frame forward is the bar a model has to clear on a mostly static clip
        last = np.repeat(context[-1:], len(truth), axis=0)
        result["baselines"] = {"copy-last": _metrics(as_batch(last), as_batch(truth))}
    return result


def plan_cadence(frames: np.ndarray, chosen: dict[str, Any], context: int, horizon: int) -> dict[str, Any] | None:
    """When the frames before the prediction hold each content a steady k times (a 15 fps source in a 30 fps
    file), the plan to predict at the content's own rate: the last `context` new contents as the context, how
    many contents to predict, and how many more times the last one is still due before the first new one."""
    from framecast.clips import content_frames, repeat_cadence

    end = chosen["context"][-1] + 1
    k = repeat_cadence(frames[:end])
    kept = content_frames(frames[:end]) if k > 1 else np.array([])
    if k == 1 or len(kept) < context:
        return None
    lead = max(0, k - (end - int(kept[-1])))  # the last content has been shown end - kept[-1] times so far
    return {
        "every": k,
        "context": [int(i) for i in kept[-context:]],
        "lead": lead,
        "content_horizon": max(1, -(-(horizon - lead) // k)),
    }


def expand_cadence(last: np.ndarray, content: np.ndarray, cadence: dict[str, Any], horizon: int) -> np.ndarray:
    """Predicted contents back at the file's rate: the last context content for its remaining showings, then each
    predicted content `every` times, cut to `horizon` frames."""
    held = [last[None]] * cadence["lead"] + [np.repeat(content, cadence["every"], axis=0)]
    return np.concatenate(held)[:horizon]


def cut_warnings(frames: np.ndarray, chosen: dict[str, Any], name: str) -> list[str]:
    """A line when a scene cut lies inside the context (a model seeing two shots extrapolates the jump), with
    advice that the clip can follow: a later --start needs a whole context after the last cut, which a cut near
    the clip's end does not leave."""
    from framecast.clips import find_cuts

    first, last = chosen["context"][0], chosen["context"][-1]
    cuts = [first + int(t) for t in find_cuts(frames[first : last + 1])]
    if not cuts:
        return []
    where = f"a cut at frame {cuts[0]}" if len(cuts) == 1 else f"cuts at frames {', '.join(map(str, cuts))}"
    context, after = len(chosen["context"]), len(frames) - cuts[-1]
    if after >= context:
        advice = f"give --start {cuts[-1]} or later to predict from one"
    else:  # the last shot is shorter than the context: a shorter context, or the shot before the cut
        advice = f"only {after} frame{'s' * (after > 1)} follow the last cut: give --context {after} to predict "
        advice += "from that shot alone"
        if cuts[0] >= context:
            advice += f", or --start {cuts[0] - context} or earlier to predict from the shot before it"
    return [f"{name}: {where} lies inside the context (frames {first}-{last}): the model sees two shots; {advice}"]


@dataclass
class _Prepared:
    """A clip read, converted and cut before anything is predicted."""

    clip: ClipFrames
    chosen: dict[str, Any]
    read_s: float
    warnings: list[str] = field(default_factory=list)


def run_predict(
    clips: list[str | os.PathLike[str]],
    *,
    model: str | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    context: int | None = None,
    start: int | None = None,
    horizon: int | None = None,
    outputs: OutputPlan | None = None,
    channels: int | None = None,
    sequence: int = 0,
    device: str = "auto",
    fps: float | None = None,
    scale: int | None = None,
    adapt: str | None = None,
    save_adapted: str | None = None,
    keep_repeats: bool = False,
    show_flow: bool = False,
    self_check: int | None = None,
    views: int | None = None,
) -> dict[str, Any]:
    """Predict the frames after each clip with one model, loaded once, and write one output per clip.

    Args:
        clips: videos or array files, or a dataset name (a sequence of its test split).
        model: a model name: the best weights of its newest finished run, else the shipped checkpoint.
        checkpoint: a ``.safetensors`` file or a run folder (instead of `model`).
        context: frames the model sees (default: the checkpoint's).
        start: first context frame; the frames after the context are then the truth, scored and shown.
        horizon: frames to predict (default: the checkpoint's); longer than trained rolls forward.
        outputs: where the results go (default: a fresh folder in the data dir).
        channels: insist on 1 or 3 channels; a checkpoint of other channels is an error.
        sequence: which sequence of an array file holding several.
        device: auto, cpu, cuda or mps.
        fps: frames per second of animations (default 5); scale: nearest-neighbour upscale of pictures.
        adapt: fine-tune on each clip's past first, guarded by a held-back window (see framecast.adapt):
            a step count ("200") or a time ("60s").
        save_adapted: keep the adapted weights as a run of this name (one clip only).
        keep_repeats: predict frame by frame even when the clip holds each frame several times (by default a
            steady repeat cadence is found, the content predicted at its own rate and re-expanded).
        show_flow: also write each predicted step's flow as a colour-wheel GIF (models that move pixels).
        self_check: check the model on the context's last N frames first (see framecast.models.self_check); 0
            turns off a checkpoint's own check, None keeps the checkpoint's setting.
        views: average the prediction over 1, 2, 4 or 8 mirrored views of the input (see framecast.models.views);
            None keeps the checkpoint's setting.

    Returns:
        A JSON-ready report: the checkpoint used, the device, the load time and, per clip, its output, the
        frames used, the conversion done, the timings (read, predict, write) and metrics when truth exists.

    Raises:
        UsageError, InputError: bad options or inputs (exit 2), checked before the model is run.
        CheckpointError, DataError: a damaged checkpoint or clip (exit 1).
    """
    from framecast.checkpoints import resolve
    from framecast.devices import pick_device
    from framecast.models.self_check import set_frames
    from framecast.models.views import set_views

    outputs = outputs or OutputPlan()
    paths_in = _check_clips(clips, channels, outputs)
    budget = _check_adapt(adapt, save_adapted, paths_in)
    dev = pick_device(device)
    began = time.perf_counter()
    want = _input_kind(paths_in[0], channels, sequence) if model is not None else None
    found = resolve(model=model, checkpoint=checkpoint, device=dev, want=want)
    ckpt, load_s = found.checkpoint, time.perf_counter() - began
    log.info("checkpoint: %s (%s, %s; loaded in %.2f s)", ckpt.path, ckpt.name, found.chosen_by, load_s)
    set_frames(ckpt.model, self_check)
    set_views(ckpt.model, views)
    spec = ckpt.spec
    _check_model_options(channels, show_flow, ckpt)
    ctx_len, hor = context or spec["context"], horizon or spec["horizon"]
    _check_memory(spec, hor, scale, dev)
    # every clip is read, and its frames chosen, before anything is predicted or written: a bad clip among many
    # stops the command with nothing half done
    prepared = [_prepare(p, ckpt, ctx_len, hor, start, sequence, budget, keep_repeats) for p in paths_in]
    targets = outputs.targets(paths_in, ckpt.name)
    reports = []
    for item, target in zip(prepared, targets, strict=True):
        model_for_clip, adapted = ckpt.model, None
        if budget is not None:
            model_for_clip, adapted = _adapt_to(ckpt, item, ctx_len, hor, budget, dev, save_adapted)
        report = _predict_one(model_for_clip, item, target, hor, dev, fps, scale, show_flow)
        reports.append({**report, "adapt": adapted})
    return {
        "checkpoint": _checkpoint_report(found),
        "device": str(dev),
        "context": ctx_len,
        "horizon": hor,
        "timings": {"load_s": load_s},
        "clips": reports,
    }


def _checkpoint_report(found) -> dict[str, Any]:
    from framecast.models.views import inference_settings

    ckpt = found.checkpoint
    return {
        "path": str(ckpt.path),
        "model": ckpt.name,
        "run": str(ckpt.run_dir) if ckpt.run_dir else None,
        "chosen_by": found.chosen_by,
        "spec": ckpt.spec,
        **inference_settings(ckpt.model),
    }


def _check_clips(clips, channels: int | None, outputs: OutputPlan) -> list[Path]:
    """The clips as paths, with the options that concern them checked before anything is loaded or decoded."""
    if not clips:
        raise UsageError("no clip given", "name one or more videos or .npy/.npz files")
    if channels is not None and channels not in (1, 3):
        raise UsageError(f"--channels must be 1 or 3, not {channels}", "1 for grey frames, 3 for colour")
    paths_in = [Path(c).expanduser() for c in clips]
    outputs.check(paths_in)
    for p in paths_in:
        if is_dataset_name(p):
            continue
        if not p.exists():
            raise InputError(f"{p} does not exist", "check the path")
        if p.is_dir():
            raise InputError(f"{p} is a folder, not a clip", "name the video or array files in it")
    return paths_in


def content_of_input(path: Path, frames: np.ndarray | None = None) -> str:
    """What an input shows: "digits" for Moving MNIST (by name, or frames that look like it), else "natural"."""
    from framecast.clips import looks_like_digits

    name = str(path)
    if is_dataset_name(path):
        return "digits" if name.startswith("moving-mnist") else "natural"
    if frames is not None and looks_like_digits(frames):
        return "digits"
    return "natural"


def _input_kind(path: Path, channels: int | None, sequence: int):
    """What `--model NAME` should fit: the first input's content, and grey unless --channels 3 asks for colour."""
    from framecast.checkpoints import Want

    frames = None
    if not is_dataset_name(path):
        frames = read_clip(path, channels=1, size=(32, 32), sequence=sequence).frames
    return Want(content=content_of_input(path, frames), channels=channels or 1)


def fit_warnings(item: _Prepared, ckpt, sequence: int) -> list[str]:
    """One line per way the checkpoint does not fit this input (and predictions will suffer), also logged."""
    from framecast.checkpoints import checkpoint_content
    from framecast.clips import is_colour

    path, warnings = item.clip.path, []
    learnt = checkpoint_content(ckpt)
    shows = content_of_input(path, item.clip.frames)
    if learnt != "unknown" and learnt != shows:
        words = {"digits": "Moving MNIST digits", "natural": "natural video"}
        warnings.append(
            f"{path.name} looks like {words[shows]}, but the checkpoint learnt from {words.get(learnt, learnt)}: "
            f"expect poor predictions (use a checkpoint trained on {words[shows]})"
        )
    if ckpt.spec["channels"] == 1 and not is_dataset_name(path) and is_colour(path, sequence=sequence):
        warnings.append(
            f"{path.name} is in colour, but the checkpoint takes grey frames: the prediction is grey "
            "(--channels 3 picks a colour checkpoint)"
        )
    for line in warnings:
        log.warning("%s", line)
    return warnings


def _check_memory(spec: dict[str, int], horizon: int, scale: int | None, device) -> None:
    """The predicted frames as floats and bytes, and their picture: four rows of upscaled colour tiles."""
    from framecast.devices import check_fits
    from framecast.render import default_scale

    h, w, c = spec["height"], spec["width"], spec["channels"]
    s = scale or default_scale(h, w)
    per_frame = h * w * c * (4 * 3 + 1) + 4 * (h * s) * (w * s) * 3 * 2
    check_fits(
        per_frame * horizon, f"predicting {horizon:,} frames", per_frame=per_frame, frames=horizon,
        option="--horizon", device=device,
    )  # fmt: skip


def _check_adapt(adapt: str | None, save_adapted: str | None, paths_in: list[Path]):
    from framecast.adapt import Budget

    if save_adapted is not None and adapt is None:
        raise UsageError("--save-adapted needs --adapt", "for example --adapt 60s --save-adapted my-clip")
    if save_adapted is not None and len(paths_in) > 1:
        raise UsageError("--save-adapted keeps the weights adapted to one clip", "give one clip")
    return Budget.parse(adapt) if adapt is not None else None


def _adapt_to(ckpt, item: _Prepared, ctx_len: int, hor: int, budget, dev, save_as: str | None):
    """Fine-tune on the frames before the point predicted from (guarded); the model to predict with, and the
    report of what adapting did."""
    from framecast.adapt import adapt, save_adapted

    before = item.clip.frames[: item.chosen["context"][-1] + 1]
    adapted = adapt(ckpt.model, before, context=ctx_len, horizon=hor, budget=budget, device=dev)
    report = adapted.report()
    if save_as is not None:
        report["saved_run"] = save_adapted(adapted, ckpt, save_as, str(item.clip.path))
    return adapted.model, report


def _check_model_options(channels: int | None, show_flow: bool, ckpt) -> None:
    """Options the checkpoint must fit: --channels, --show-flow."""
    if show_flow and not getattr(ckpt.model, "moves_pixels", False):
        raise UsageError(
            f"--show-flow needs a model that moves pixels, and {ckpt.path.name} paints its frames",
            "use a natural-video checkpoint (trained with the warp term) or a dmvfn one",
        )
    want = ckpt.spec["channels"]
    if channels is not None and channels != want:
        raise InputError(
            f"--channels {channels} was asked for, but the checkpoint {ckpt.path} takes {want}-channel frames",
            f"drop --channels (clips are converted to the checkpoint's {want}-channel frames), or use a "
            f"checkpoint trained on {channels}-channel frames",
        )


def _prepare(
    path: Path, ckpt, ctx_len: int, hor: int, start: int | None, sequence: int, budget, keep_repeats: bool = False
) -> _Prepared:
    """A clip read and fitted to the checkpoint, its frames chosen, and what does not fit said; a past too short
    to adapt on is refused here, before anything is written."""
    began = time.perf_counter()
    spec = ckpt.spec
    # a model that runs at any frame size (it pads to its multiple and crops back) predicts the clip as it is
    size = None if ckpt.config.get("any_size") else (spec["height"], spec["width"])
    if is_dataset_name(path):  # a sample the package makes: predicted from its first frames, truth beside it
        clip = read_sample(
            str(path), sequence=sequence, context=ctx_len, horizon=hor, channels=spec["channels"], size=size
        )
        start = 0 if start is None else start
    else:
        clip = read_clip(path, channels=spec["channels"], size=size, sequence=sequence)
    read_s = time.perf_counter() - began
    chosen = select_frames(len(clip.frames), context=ctx_len, horizon=hor, start=start, name=str(path))
    if clip.conversions:
        log.info(
            "Note: %s: %s, to match the checkpoint's %d-channel %dx%d frames",
            path.name, "; ".join(clip.conversions), spec["channels"], spec["width"], spec["height"],
        )  # fmt: skip
    if not keep_repeats and not is_dataset_name(path):
        cadence = plan_cadence(clip.frames, chosen, ctx_len, hor)
        if cadence is not None:
            chosen = {**chosen, "context": cadence["context"], "cadence": cadence}
            log.info("%s holds each frame %d times: predicting at the content's rate", path.name, cadence["every"])
    item = _Prepared(clip, chosen, read_s)
    cuts = cut_warnings(clip.frames, chosen, path.name)
    for line in cuts:
        log.warning("%s", line)
    item.warnings = fit_warnings(item, ckpt, sequence) + cuts
    if budget is not None:
        from framecast.adapt import split_windows

        split_windows(chosen["context"][-1] + 1, ctx_len, hor)
    return item


def _write_flow(target: Path, flow: np.ndarray, fps: float | None, scale: int | None) -> str:
    """Each predicted step's flow as a colour-wheel GIF beside the output: `<output>-flow.gif`."""
    from framecast import media, render

    path = target.with_name(f"{target.stem}-flow.gif")
    media.write_gif(render.flow_picture(flow, scale=scale), path, fps=fps or render.DEFAULT_FPS)
    return str(path)


def _predict_one(
    model, item: _Prepared, target: Path, hor: int, dev, fps, scale, show_flow: bool = False
) -> dict[str, Any]:
    from framecast import render

    report = predict_clip(model, item.clip.frames, item.chosen, horizon=hor, device=dev)
    trust = getattr(model, "last_trust", None)  # how far a self-checked model trusted its predicted change
    flow = report.pop("flow")
    began = time.perf_counter()
    written = write_prediction(
        target, report.pop("context_u8"), report.pop("truth_u8"), report.pop("prediction_u8"),
        fps=fps or render.DEFAULT_FPS, scale=scale,
    )  # fmt: skip
    flow_gif = _write_flow(target, flow, fps, scale) if show_flow else None
    timings = {"read_s": item.read_s, "predict_s": report.pop("predict_s"), "write_s": time.perf_counter() - began}
    frames = {**item.chosen, "context_frames": len(item.chosen["context"]), "horizon": hor}
    return {
        "input": str(item.clip.path),
        "output": str(written),
        "format": written.suffix.lower().lstrip("."),
        "source": item.clip.source,
        "conversion": item.clip.conversion(),
        "frames": {**frames, "truth_frames": len(item.chosen["truth"])},
        "timings": timings,
        "warnings": item.warnings,
        "flow": flow_gif,
        "trust": float(trust.mean()) if trust is not None else None,
        **report,
    }
