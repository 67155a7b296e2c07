"""`framecast ui`: serve a web page to upload a clip (or pick a sample), run every model on it and compare them.

Gradio is an optional extra: it is imported only when the page is served (never by `framecast --help` or any
other command), and its absence is one `Error:`/`Hint:` pair saying how to add it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from framecast.cli._common import examples
from framecast.ui import limits

HELP = (
    "Serve a web page to upload a clip or pick a sample, run every model on it, and compare the predictions, "
    "their scores and their inference times (needs the optional gradio: pip install 'framecast[ui]')."
)

EPILOG = examples(
    "framecast ui                                   # http://127.0.0.1:7860, this machine only",
    "framecast ui --samples ~/clips --port 8080     # offer the clips of a folder as samples",
    "framecast ui --host 0.0.0.0                    # every machine that can reach this one",
)


def command(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: every network this machine is on).")
    ] = limits.HOST,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = limits.PORT,
    share: Annotated[
        bool,
        typer.Option("--share", help="Also make a public gradio.live link: anyone with it can use the page."),
    ] = False,
    samples: Annotated[
        Optional[Path],
        typer.Option("--samples", help="A folder of clips (videos, .npy/.npz) the page offers as samples."),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps, for every model.")] = "auto",
) -> None:
    from framecast.cli import _output
    from framecast.ui.server import serve

    def ready(local: str, public: str | None) -> None:
        _output.emit_paths(local, *([public] if public else []))
        _output.log(f"serving the page at {local}{f' and {public}' if public else ''}; Ctrl-C stops it")

    # Ctrl-C (or SIGTERM) closes the server and removes its folder on the way out; the command line then ends
    # as every command does when interrupted: exit 130 and one line
    serve(host=host, port=port, share=share, samples=samples, device=device, on_ready=ready)


def register(app: typer.Typer) -> None:
    app.command("ui", help=HELP, epilog=EPILOG)(command)
