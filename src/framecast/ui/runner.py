"""Every ticked model on one clip, one after the other: what the page shows and offers to download.

Each model goes through :func:`framecast.predict.run_predict`, exactly as `framecast predict --checkpoint W
--start S -o model.npz` would run it (the same frames, conversions, repeat cadence, warnings and adaptation), and
its arrays are drawn by :func:`framecast.predict.write_prediction` as a GIF and an MP4 (context, truth, prediction
and error side by side). Beside the scores, the model's parameters (:func:`framecast.models.costs.count_params`)
and its inference time per sequence on this device (:func:`framecast.compare.time_per_sequence`: the median of
timed one-sequence forwards after warm-up ones). The per-horizon plot is :func:`framecast.compare.plot_per_horizon`.

Every model predicts the same future frames: without a start, the point predicted from is the latest that leaves
the longest horizon asked for inside the clip (so the truth is there to score against), or the clip's end when it
is too short for that.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framecast.errors import FramecastError, InputError, UsageError
from framecast.ui import limits
from framecast.ui.choices import Choice
from framecast.ui.sources import Clip

log = logging.getLogger("framecast")

#: Called with (models done, models, what is happening now).
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Settings:
    """What the page asks of every model: context and horizon (None: each model's own), the first context frame
    (None: see the module docstring), an adaptation budget ("30s", "100"; None: none) and the device."""

    context: int | None = None
    horizon: int | None = None
    start: int | None = None
    adapt: str | None = None
    device: str = "auto"

    @classmethod
    def from_page(cls, context: Any, horizon: Any, start: Any, adapt: Any, device: str = "auto") -> Settings:
        """Settings from the page's boxes (numbers may come as floats or be empty), checked.

        Raises:
            InputError: a number out of its range or not whole, an adaptation budget that is not one.
        """
        adapt_text = str(adapt).strip() if adapt is not None else ""
        if adapt_text:
            from framecast.adapt import Budget

            try:
                Budget.parse(adapt_text)
            except UsageError:
                raise InputError(
                    f"'{adapt_text}' is not an adaptation budget", "give steps (100) or a time (30s, 2m)"
                ) from None
        return cls(
            context=_whole(context, "the context", 1, limits.MAX_CONTEXT),
            horizon=_whole(horizon, "the horizon", 1, limits.MAX_HORIZON),
            start=_whole(start, "the first context frame", 0, None),
            adapt=adapt_text or None,
            device=device,
        )


def _whole(value: Any, what: str, low: int, high: int | None) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    span = f"{low} to {high}" if high is not None else f"{low} or more"
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number.is_integer() or number < low or (high is not None and number > high):
        raise InputError(f"{what} must be a whole number, {span}, not '{value}'", f"give {span}, or leave it empty")
    return int(number)


@dataclass
class ModelResult:
    """One model's run: run_predict's report of the clip, the files written, what the model costs."""

    choice: Choice
    report: dict[str, Any]
    files: dict[str, Path]
    animation_frames: int
    params: int
    seconds_per_sequence: float
    device: str


@dataclass
class Results:
    """A run of the page: each model's result, each model's failure (the others still run), the plot."""

    clip: Clip
    settings: Settings
    models: list[ModelResult] = field(default_factory=list)
    failures: list[tuple[str, FramecastError]] = field(default_factory=list)
    plot: Path | None = None
    summary: Path | None = None


def run_models(
    clip: Clip, choices: list[Choice], settings: Settings, folder: Path, progress: Progress | None = None
) -> Results:
    """Run each model on `clip`, writing its files into `folder`; a model that fails is reported, not fatal."""
    starts = plan_starts(clip, choices, settings)
    results = Results(clip, settings)
    for i, choice in enumerate(choices):
        if progress is not None:
            progress(i, len(choices), f"{choice.label}: predicting")
        try:
            results.models.append(run_one(clip, choice, settings, starts[choice.label], folder))
        except FramecastError as exc:
            log.warning("%s: %s", choice.label, exc.message)
            results.failures.append((choice.label, exc))
        except Exception as exc:  # one model's bug must not take the page's answer, or the server, with it
            log.exception("%s failed", choice.label)
            hint = "this is a bug in framecast: the server's log has the traceback; please report it"
            results.failures.append((choice.label, FramecastError(f"{type(exc).__name__}: {exc}", hint)))
    if progress is not None:
        progress(len(choices), len(choices), "plotting")
    results.plot = write_plot(results.models, folder / "per-horizon.png")
    results.summary = write_summary(results, folder / "results.json")
    return results


def _lengths(choice: Choice, settings: Settings) -> tuple[int, int]:
    return settings.context or int(choice.spec["context"]), settings.horizon or int(choice.spec["horizon"])


def plan_starts(clip: Clip, choices: list[Choice], settings: Settings) -> dict[str, int | None]:
    """Each model's first context frame, so that every model predicts the same frames (see the module docstring);
    None: from the clip's end (a generated sequence starts at 0 by itself)."""
    if settings.start is not None or clip.frames is None:
        return {choice.label: settings.start for choice in choices}
    lengths = {choice.label: _lengths(choice, settings) for choice in choices}
    longest_context = max(ctx for ctx, _ in lengths.values())
    if clip.frames <= longest_context:
        return {label: None for label in lengths}
    point = max(longest_context, clip.frames - max(hor for _, hor in lengths.values()))
    return {label: point - ctx for label, (ctx, _) in lengths.items()}


def file_stem(label: str) -> str:
    """A file name for a model's outputs: `predrnn/shipped` -> `predrnn-shipped`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.") or "model"


def run_one(clip: Clip, choice: Choice, settings: Settings, start: int | None, folder: Path) -> ModelResult:
    """One model on the clip: predict (and score) with run_predict, draw the GIF and MP4, measure the model."""
    from framecast.predict import OutputPlan, run_predict

    context, horizon = _lengths(choice, settings)
    if clip.frames is not None and clip.frames < context:
        raise InputError(
            f"{clip.label} has {clip.frames} frames, too few for a context of {context}",
            "lower the context, or use a longer clip",
        )
    stem = folder / file_stem(choice.label)
    report = run_predict(
        [clip.path], checkpoint=choice.path, context=context, horizon=horizon, start=start,
        sequence=clip.sequence, outputs=OutputPlan(output=stem.with_suffix(".npz")), device=settings.device,
        adapt=settings.adapt, show_flow=moves_pixels(choice.path),
    )  # fmt: skip
    files, seen = write_pictures(stem)
    if report["clips"][0].get("flow"):  # the colour-wheel GIF of each step's flow, for models that warp
        files["flow"] = Path(report["clips"][0]["flow"])
    params, seconds, device = measure(choice.path, seen, horizon, settings.device)
    animation = len(seen) + horizon  # the context plays, then the future rows
    return ModelResult(choice, report["clips"][0], files, animation, params, seconds, device)


def moves_pixels(weights: str) -> bool:
    """Whether the model of these weights moves pixels by a flow (a warp term, or a warping family)."""
    from framecast.checkpoints import load_checkpoint

    return bool(getattr(load_checkpoint(Path(weights)).model, "moves_pixels", False))


def write_pictures(stem: Path) -> tuple[dict[str, Path], np.ndarray]:
    """The GIF and MP4 of the arrays run_predict saved at `stem.npz`; the files, and the context frames."""
    from framecast import render
    from framecast.predict import write_prediction

    npz = stem.with_suffix(".npz")
    with np.load(npz) as arrays:
        context, prediction = arrays["context"][0], arrays["prediction"][0]
        truth = arrays["truth"][0] if "truth" in arrays else None
    files = {"npz": npz}
    for kind in ("gif", "mp4"):
        files[kind] = write_prediction(
            stem.with_suffix(f".{kind}"), context, truth, prediction, fps=render.DEFAULT_FPS, scale=None
        )
    return files, context


def measure(weights: str, context: np.ndarray, horizon: int, device: str) -> tuple[int, float, str]:
    """Parameters, and seconds per one-sequence forward from uint8 (T, H, W, C) `context`, on the device."""
    import torch

    from framecast.api import load
    from framecast.compare import time_per_sequence
    from framecast.models.costs import count_params

    predictor = load(weights, device=device)
    sample = torch.from_numpy(context.astype(np.float32) / 255.0).permute(0, 3, 1, 2)[None].to(predictor.device)
    seconds = time_per_sequence(predictor.model, sample, horizon, predictor.device)
    return count_params(predictor.model), seconds, str(predictor.device)


def write_plot(models: list[ModelResult], path: Path) -> Path | None:
    """MSE and SSIM per horizon step of every scored model, and copy-last's (dashed); None when nothing is scored."""
    from framecast.compare import plot_per_horizon

    scored = [m for m in models if m.report["metrics"]]
    if not scored:
        return None
    rows = [{"label": m.choice.label, "kind": "model", "metrics": m.report["metrics"]} for m in scored]
    rows.append({"label": "copy-last", "kind": "baseline", "metrics": scored[0].report["baselines"]["copy-last"]})
    return plot_per_horizon(rows, path)


def write_summary(results: Results, path: Path) -> Path:
    """Everything the table shows, and each model's report, as JSON (one of the downloads)."""
    document = {
        "clip": results.clip.label,
        "settings": vars(results.settings),
        "models": [
            {
                "model": m.choice.label,
                "weights": m.choice.path,
                "device": m.device,
                "parameters": m.params,
                "seconds_per_sequence": m.seconds_per_sequence,
                **{k: m.report.get(k) for k in ("frames", "metrics", "baselines", "conversion", "warnings", "adapt")},
            }
            for m in results.models
        ],
        "failures": [{"model": label, "error": exc.message, "hint": exc.hint} for label, exc in results.failures],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    return path
