"""The page's layout, in Gradio: the clip and the models on the left and right, Run, then the results.

What the Run button does lives in :mod:`framecast.ui.actions`; this module only lays the page out and wires it.
Runs are queued (one at a time, see :mod:`framecast.ui.limits`); choosing a clip never waits in that queue. The
list of models is read again each time the page is opened, so a run that finished since shows up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framecast.ui import actions, limits, report, sources
from framecast.ui.choices import model_choices
from framecast.ui.workspace import Workspace

INTRO = (
    "# framecast\n"
    "Upload a clip, or pick a sample, tick the models and press **Run**: each model predicts the frames that "
    "follow, shown beside the truth where the clip goes on, scored, and timed on this machine."
)


def theme() -> Any:
    """Gradio's default look in the system's fonts: the page fetches nothing from elsewhere."""
    import gradio as gr

    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def _clip_inputs(samples: Path | None) -> dict[str, Any]:
    import gradio as gr

    choices = [("Upload a clip", actions.UPLOAD)]
    choices += [(f"{name} test sequence (generated)", key) for key, name in sources.GENERATED.items()]
    if samples is not None:
        choices.append((f"A sample from {samples.name}/", actions.SAMPLE))
    return {
        "source": gr.Radio(choices, value="moving-mnist", label="Clip", elem_id="source"),
        "upload": gr.File(
            label=f"Upload a video or .npy/.npz (up to {limits.MAX_UPLOAD_MB} MB, {limits.MAX_UPLOAD_FRAMES:,} frames)",
            file_types=list(sources.readable_suffixes()),
            elem_id="upload",
        ),
        "sequence": gr.Number(0, precision=0, minimum=0, label="Test sequence (generated clips)", elem_id="sequence"),
        "sample": gr.Dropdown(
            sources.list_samples(samples),
            value=None,
            allow_custom_value=True,
            visible=samples is not None,
            label="Sample (a file of the samples folder)",
            elem_id="sample",
        ),
    }


def _model_inputs() -> dict[str, Any]:
    import gradio as gr

    labels = [choice.label for choice in model_choices()]
    boxes = {"models": gr.CheckboxGroup(labels, value=labels, label="Models", elem_id="models")}
    with gr.Row():
        boxes["context"] = gr.Textbox(label="Context frames", placeholder="each model's own", elem_id="context")
        boxes["horizon"] = gr.Textbox(label="Frames to predict", placeholder="each model's own", elem_id="horizon")
        boxes["start"] = gr.Textbox(
            label="First context frame", placeholder="the latest that leaves a truth", elem_id="start"
        )
    boxes["adapt"] = gr.Textbox(
        label="Adapt to the clip first", placeholder="no; or a time (30s) or steps (100)", elem_id="adapt"
    )
    return boxes


def _predictions(shown: Any) -> None:
    """One animation per model (context, truth, prediction, error side by side), one above the other, so that
    the models' frames of the same step line up."""
    import gradio as gr

    @gr.render(inputs=shown)
    def _show(items: list[tuple[str, str]]) -> None:
        with gr.Column(elem_id="predictions"):
            for path, caption in items or []:
                gr.Markdown(f"**{report.escape(caption)}**", elem_classes="caption")
                gr.Image(
                    path, show_label=False, type="filepath", interactive=False, elem_classes="prediction",
                    buttons=["download", "fullscreen"],
                )  # fmt: skip


def _outputs() -> list[Any]:
    import gradio as gr

    with gr.Row():
        with gr.Column(scale=3):
            plot = gr.Image(show_label=False, type="filepath", elem_id="per-horizon")
        with gr.Column(scale=2):
            files = gr.File(label="Downloads: GIF, MP4 and NPZ per model", file_count="multiple", elem_id="downloads")
    return [plot, files]


def build(*, samples: Path | None, device: str, workspace: Workspace) -> Any:
    """The page (a gradio.Blocks), ready to queue and launch."""
    import gradio as gr

    with gr.Blocks(title="framecast", analytics_enabled=False) as page:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column():
                clip = _clip_inputs(samples)
            with gr.Column():
                models = _model_inputs()
                go = gr.Button("Run", variant="primary", elem_id="run")
        message = gr.Markdown(elem_id="message")
        table = gr.Dataframe(headers=report.COLUMNS, interactive=False, wrap=True, elem_id="results")
        gallery = gr.State([])
        _predictions(gallery)
        plot, files = _outputs()

        def run(*values: Any, progress: Any = gr.Progress()) -> tuple[Any, ...]:
            request = actions.Request(*values)
            answer = actions.run(
                request, samples=samples, device=device, workspace=workspace,
                progress=lambda done, total, what: progress((done, total), desc=what, unit="models"),
            )  # fmt: skip
            rows = {"headers": report.COLUMNS, "data": answer.rows}
            return answer.message, rows, answer.gallery, answer.plot, answer.files or None

        inputs = [*clip.values(), *models.values()]
        go.click(run, inputs, [message, table, gallery, plot, files], concurrency_limit=limits.CONCURRENCY)
        clip["upload"].upload(lambda: actions.UPLOAD, None, clip["source"], queue=False)
        clip["sample"].input(lambda: actions.SAMPLE, None, clip["source"], queue=False)
        clip["sequence"].input(_generated_source, clip["source"], clip["source"], queue=False)
        page.load(lambda: _refresh_choices(samples), None, [models["models"], clip["sample"]], queue=False)
    return page


def _generated_source(source: str) -> str:
    """A test sequence number was typed: the clip is a generated one (Moving MNIST unless one is chosen)."""
    return source if source in sources.GENERATED else "moving-mnist"


def _refresh_choices(samples: Path | None) -> Any:
    """What the page offers when it is opened: the models there are now, all ticked (a run finished since the
    server started too), and the clips of the samples folder now."""
    import gradio as gr

    labels = [choice.label for choice in model_choices()]
    return gr.CheckboxGroup(choices=labels, value=labels), gr.Dropdown(choices=sources.list_samples(samples))
