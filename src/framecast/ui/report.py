"""The results in the page's words: the table's columns and rows, the message above them, the pictures' captions
and the downloads. Plain Python: the page decides how they look."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from framecast.errors import FramecastError
from framecast.ui.runner import ModelResult, Results

COLUMNS = [
    "model", "frames", "MSE", "MAE", "PSNR", "SSIM", "copy-last MSE", "copy-last SSIM", "parameters",
    "ms / sequence",
]  # fmt: skip


def escape(text: str) -> str:
    """`text` shown literally in Markdown (a file name may hold `*`, `_`, `<` or brackets)."""
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~])", r"\\\1", str(text))


def error(exc: FramecastError, who: str | None = None) -> str:
    """An error as the page shows it: what went wrong, and what to do about it."""
    lead = f"**{escape(who)}:** " if who else ""
    hint = f"  \n**Hint:** {escape(exc.hint)}" if exc.hint else ""
    return f"{lead}**Error:** {escape(exc.message)}{hint}"


def _frames(m: ModelResult) -> str:
    spec, frames = m.report["conversion"]["to"], m.report["frames"]
    colour = "grey" if spec["channels"] == 1 else "colour"
    return f"{spec['width']}x{spec['height']} {colour}, {frames['context_frames']} -> {frames['horizon']}"


def _score(metrics: dict[str, Any] | None, name: str, digits: int) -> str:
    return "-" if not metrics else f"{metrics[name]:.{digits}f}"


def table(results: Results) -> list[list[str]]:
    """One row per model that ran, in COLUMNS' order ("-" where the clip has no truth to score against)."""
    rows = []
    for m in results.models:
        metrics, copy = m.report["metrics"], (m.report["baselines"] or {}).get("copy-last")
        rows.append(
            [
                m.choice.label,
                _frames(m),
                _score(metrics, "mse", 2),
                _score(metrics, "mae", 2),
                _score(metrics, "psnr", 2),
                _score(metrics, "ssim", 4),
                _score(copy, "mse", 2),
                _score(copy, "ssim", 4),
                f"{m.params:,}",
                f"{m.seconds_per_sequence * 1000:.1f}",
            ]
        )
    return rows


def _what_was_predicted(results: Results) -> str:
    first = results.models[0].report["frames"]
    seen = f"frames {first['context'][0]}-{first['context'][-1]}"
    future = f"{first['predicted'][0]}-{first['predicted'][-1]}"
    if first["truth"]:
        return f"{seen} seen, {future} predicted and scored against the clip's own"
    return f"{seen} seen, {future} predicted (the clip ends there: nothing to score against)"


def _adapted(m: ModelResult) -> str:
    adapt = m.report["adapt"]
    verdict = (
        "kept: they beat the original weights on the most recent window, held back to judge by"
        if adapt.get("kept")
        else "not kept: they did not beat the original weights on the most recent window, which predict instead"
    )
    done = f"{adapt.get('steps', 0)} steps in {adapt.get('seconds', 0):.1f} s"
    return f"**{escape(m.choice.label)}** adapted to the clip ({done}), weights {escape(verdict)}."


def message(results: Results) -> str:
    """The line above the results: what ran on what, then each model's failure and each warning, once."""
    lines = []
    if results.models:
        count = len(results.models)
        lines.append(
            f"**{count} model{'s' if count != 1 else ''}** on **{escape(results.clip.label)}**: "
            f"{escape(_what_was_predicted(results))}; timed on {escape(results.models[0].device)}."
        )
    lines += [_adapted(m) for m in results.models if m.report.get("adapt")]
    lines += [error(exc, label) for label, exc in results.failures]
    warnings = dict.fromkeys(w for m in results.models for w in m.report.get("warnings") or [])
    lines += [f"Note: {escape(w)}" for w in warnings]
    return "\n\n".join(lines) or "Nothing ran."


def gallery(results: Results) -> list[tuple[str, str]]:
    """Each model's animation, captioned with its name and its scores."""
    items = []
    for m in results.models:
        metrics = m.report["metrics"]
        scores = f": MSE {metrics['mse']:.1f}, SSIM {metrics['ssim']:.3f}" if metrics else ""
        rows = "context, truth, prediction, error" if metrics else "context, prediction"
        items.append((str(m.files["gif"]), f"{m.choice.label}{scores} ({rows})"))
        if "flow" in m.files:
            caption = f"{m.choice.label}: each step's flow (hue: direction, saturation: speed; scale in the corner)"
            items.append((str(m.files["flow"]), caption))
    return items


def downloads(results: Results) -> list[str]:
    """Every file a person may keep: each model's GIF, MP4 and NPZ, the plot and the results as JSON."""
    kinds = ("gif", "mp4", "npz", "flow")
    files: list[Path | None] = [m.files[kind] for m in results.models for kind in kinds if kind in m.files]
    files += [results.plot, results.summary]
    return [str(f) for f in files if f is not None]
