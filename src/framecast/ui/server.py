"""Serving the page: on this machine only unless asked, one run at a time, uploads capped, until Ctrl-C.

Safe by default: the page listens on 127.0.0.1; a public ``*.gradio.live`` link (`share`) is made only when asked,
and a warning says so. Uploads land in a temporary folder of this server (swept while it serves, removed when it
stops), never in Gradio's shared one; Gradio sends no analytics and the page fetches no fonts from elsewhere.
Gradio is imported here, when the page is served, and nowhere else.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from framecast.errors import FramecastError, InputError
from framecast.ui import limits
from framecast.ui.workspace import Workspace

log = logging.getLogger("framecast")

MISSING = "framecast ui needs the optional gradio package"
MISSING_HINT = "pipx inject framecast gradio (or pip install 'framecast[ui]')"

#: Called once the page answers, with its local address and its public one (None without --share).
Ready = Callable[[str, "str | None"], None]


def check_gradio() -> None:
    """Raises FramecastError (exit 1) when gradio is not installed, saying how to add it."""
    if importlib.util.find_spec("gradio") is None:
        raise FramecastError(MISSING, MISSING_HINT)


def check_samples(samples: str | os.PathLike[str] | None) -> Path | None:
    """The samples folder, resolved. Raises InputError: a path that is not a folder."""
    if samples is None:
        return None
    folder = Path(samples).expanduser()
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is a file, not a folder"
        raise InputError(f"--samples {folder} {what}", "give a folder of videos or .npy/.npz clips")
    return folder.resolve()


def _import_gradio(workspace: Workspace) -> Any:
    """Gradio, its uploads pointed at this server's workspace (it reads the place when first imported)."""
    os.environ["GRADIO_TEMP_DIR"] = str(workspace.uploads)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "gradio":
            raise FramecastError(MISSING, MISSING_HINT) from None
        raise FramecastError(
            f"gradio is installed but cannot be imported ({exc})", f"reinstall it: {MISSING_HINT}"
        ) from None
    return gradio


def _launch(page: Any, host: str, port: int, share: bool) -> tuple[str, str | None]:
    from framecast.ui.page import theme

    try:
        _, local, public = page.launch(
            server_name=host, server_port=port, share=share, prevent_thread_lock=True, quiet=True,
            show_error=False, max_file_size=limits.MAX_UPLOAD_BYTES, ssr_mode=False, mcp_server=False,
            pwa=False, enable_monitoring=False, theme=theme(),
        )  # fmt: skip
    except OSError as exc:
        said = str(exc).split(". ")[0]  # gradio goes on about its environment variables: the first sentence says it
        raise FramecastError(
            f"cannot serve the page on {host}:{port} ({said})", "give another --port, or stop what listens there"
        ) from None
    return local, public


def serve(
    *,
    host: str = limits.HOST,
    port: int = limits.PORT,
    share: bool = False,
    samples: str | os.PathLike[str] | None = None,
    device: str = "auto",
    on_ready: Ready | None = None,
) -> None:
    """Serve the page until interrupted (KeyboardInterrupt, which is passed on once the server is closed).

    Args:
        host, port: where to listen (default 127.0.0.1:7860: this machine only).
        share: also make a public gradio.live link: anyone with it can use the page (and this machine's CPU/GPU).
        samples: a folder whose clips the page offers (and the only files it reads besides uploads).
        device: auto, cpu, cuda or mps, for every model.
        on_ready: called with the page's addresses once it answers (else they are logged).

    Raises:
        FramecastError: gradio is missing, the port is taken; InputError, UsageError: bad samples, bad device.
    """
    check_gradio()
    folder = check_samples(samples)
    from framecast.devices import pick_device

    pick_device(device)  # an unknown or absent device is refused before the page is served
    if share:
        log.warning("--share: the page becomes public: anyone with its link can upload clips and run the models")
    workspace, page = Workspace(), None
    try:
        _import_gradio(workspace)
        from framecast.ui.page import build

        page = build(samples=folder, device=device, workspace=workspace)
        page.queue(default_concurrency_limit=limits.CONCURRENCY, max_size=limits.QUEUE_SIZE)
        local, public = _launch(page, host, port, share)
        if on_ready is not None:
            on_ready(local, public)
        else:
            log.info("serving the page at %s%s", local, f" and {public}" if public else "")
        _wait(workspace)
    finally:
        if page is not None:
            page.close()
        workspace.close()


def _wait(workspace: Workspace) -> None:
    """Serve until interrupted, sweeping old uploads and results now and then."""
    swept = time.monotonic()
    while True:
        time.sleep(0.25)
        if time.monotonic() - swept > limits.SWEEP_SECONDS:
            workspace.sweep()
            swept = time.monotonic()
