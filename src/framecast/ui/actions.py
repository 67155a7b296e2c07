"""What the page's Run button does, from the page's values to its outputs, without Gradio: the clip is chosen and
checked, every ticked model runs, and the results come back as the message, the table, the animations, the plot
and the downloads. Any error becomes the message, with its hint; the server keeps serving."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framecast.errors import FramecastError, InputError
from framecast.ui import report, sources
from framecast.ui.choices import pick
from framecast.ui.runner import Progress, Settings, run_models
from framecast.ui.workspace import Workspace

log = logging.getLogger("framecast")

#: The sources the page's "Clip" choice offers (the samples folder only when the page has one).
UPLOAD, SAMPLE = "upload", "sample"


@dataclass(frozen=True)
class Request:
    """The page's values when Run is pressed."""

    source: str
    upload: str | None
    sequence: Any
    sample: str | None
    models: list[str]
    context: Any
    horizon: Any
    start: Any
    adapt: Any


@dataclass
class Answer:
    """What the page shows: a Markdown message, table rows, (animation, caption) pairs, the plot, the downloads."""

    message: str
    rows: list[list[str]]
    gallery: list[tuple[str, str]]
    plot: str | None
    files: list[str]


def choose_clip(request: Request, samples: Path | None, uploads: Path | None = None) -> sources.Clip:
    """The clip the request names, checked (see framecast.ui.sources); an upload must lie in `uploads`."""
    if request.source == UPLOAD:
        return sources.upload(request.upload, uploads)
    if request.source == SAMPLE:
        return sources.sample(samples, request.sample)
    if request.source in sources.GENERATED:
        return sources.generated(request.source, request.sequence)
    raise InputError(f"unknown clip source '{request.source}'", "upload a clip, or pick a sample")


def run(
    request: Request, *, samples: Path | None, device: str, workspace: Workspace, progress: Progress | None = None
) -> Answer:
    """Run the ticked models on the chosen clip; never raises for a bad request, a bad clip or a failing model."""
    clip = None
    try:
        settings = Settings.from_page(request.context, request.horizon, request.start, request.adapt, device)
        choices = pick(request.models)
        clip = choose_clip(request, samples, workspace.uploads)
        results = run_models(clip, choices, settings, workspace.new_run(), progress)
    except FramecastError as exc:
        log.warning("%s", exc.message)
        return Answer(report.error(exc), [], [], None, [])
    except Exception as exc:  # a bug: said in the page and logged in full, and the server serves on
        log.exception("the page's run failed")
        hint = "this is a bug in framecast: the server's log has the traceback; please report it"
        return Answer(report.error(FramecastError(f"{type(exc).__name__}: {exc}", hint)), [], [], None, [])
    finally:
        if clip is not None:
            sources.forget(clip)
    plot = str(results.plot) if results.plot is not None else None
    return Answer(
        report.message(results), report.table(results), report.gallery(results), plot, report.downloads(results)
    )
