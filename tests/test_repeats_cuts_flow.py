"""Real files repeat frames and cut between shots; warping models show their flow. Each checked on clips the
test makes, where it knows the answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, tiny_checkpoint


def scene_frames(split: str, index: int, frames: int) -> np.ndarray:
    from framecast.data.scenes import MovingScenesGenerator

    return MovingScenesGenerator(split, frames=frames, seed=5)[index]  # uint8 (T, 64, 64, 1)


def moving(index: int, frames: int) -> np.ndarray:
    """A scene whose every frame differs from the one before by a grey level or more on average: the generator's
    still scenes, and its slowest or jittering ones, would have frames a repeat finder rightly calls repeats."""
    from framecast.data.scenes import MovingScenesGenerator

    generator = MovingScenesGenerator("test", frames=frames, seed=5)
    i = index
    while True:
        video = generator[i]
        if np.abs(np.diff(video.astype(np.float32), axis=0)).mean(axis=(1, 2, 3)).min() >= 1.0:
            return video
        i += 1


def test_cadence_and_cuts_are_found_where_the_test_put_them(tmp_path: Path) -> None:
    from framecast import media
    from framecast.clips import content_frames, find_cuts, read_clip, repeat_cadence, repeats_and_cuts

    shot_a, shot_b = moving(0, 15), moving(40, 15)
    held = np.repeat(np.concatenate([shot_a, shot_b]), 2, axis=0)  # 30 contents held twice: 60 frames
    assert repeat_cadence(held) == 2 and find_cuts(held) == [30]
    assert list(content_frames(held)) == list(range(0, 60, 2))
    assert repeat_cadence(np.concatenate([shot_a, shot_b])) == 1 and find_cuts(np.concatenate([shot_a, shot_b])) == [15]
    # through a real encoder (H.264 at 25 fps) the repeats and the cut survive
    video = media.write_video(np.repeat(held, 3, axis=-1), tmp_path / "held.mp4", fps=25)
    frames = read_clip(video, channels=1, size=(64, 64)).frames
    found = repeats_and_cuts(frames)
    assert found["cadence"] == 2 and found["cuts"] == [30] and 0.45 < found["repeated_share"] < 0.55


def test_eda_reports_repeats_and_cuts_per_clip(tmp_path: Path) -> None:
    from framecast import media

    folder = tmp_path / "clips"
    folder.mkdir()
    held = np.repeat(moving(1, 20), 2, axis=0)
    media.write_video(np.repeat(held, 3, axis=-1), folder / "held.mp4", fps=25)
    media.write_video(np.repeat(np.concatenate([moving(2, 20), moving(50, 20)]), 3, axis=-1), folder / "cut.mp4")
    result = run_cli("eda", str(folder), "--out", str(tmp_path / "report"), "--json")
    assert result.code == 0, result.stderr
    files = {f["file"]: f for f in json.loads(result.stdout)["files"]}
    assert files["held.mp4"]["cadence"] == 2 and files["held.mp4"]["cuts"] == []
    assert files["cut.mp4"]["cuts"] == [20] and files["cut.mp4"]["cadence"] == 1
    skipped = run_cli("eval", "--baseline", "copy-last", "--data", str(folder), "--split", "all", "--context", "4",
                      "--horizon", "4", "--skip-cuts", "--json")  # fmt: skip
    report = json.loads(skipped.stdout)
    assert report["skipped_for_cuts"] == 1  # the window of frames 16-23 straddles the cut at 20
    assert "across a scene cut left out" in report["data"]


def test_predict_at_the_contents_rate_and_re_expands(tmp_path: Path, trained: dict[str, Path]) -> None:
    contents = moving(3, 14)  # 4 context + 10 future contents
    clip = tmp_path / "held.npy"
    np.save(clip, np.repeat(contents, 2, axis=0))  # each held twice: 28 frames
    args = ["predict", str(clip), "--checkpoint", str(trained["convlstm"]), "--start", "8", "--horizon", "6"]
    result = run_cli(*args, "-o", str(tmp_path / "p.npy"), "--json")
    assert result.code == 0, result.stderr
    frames = json.loads(result.stdout)["clips"][0]["frames"]
    # the context is the last 4 contents before frame 12, not its last 4 frames (2 contents shown twice each)
    assert frames["cadence"]["every"] == 2 and frames["context"] == [4, 6, 8, 10]
    assert frames["cadence"]["content_horizon"] == 3
    prediction = np.load(tmp_path / "p.npy")
    assert len(prediction) == 6
    assert all(np.array_equal(prediction[i], prediction[i + 1]) for i in (0, 2, 4))  # held as the file holds them
    plain = run_cli(*args, "--keep-repeats", "-o", str(tmp_path / "q.npy"), "--json")
    assert json.loads(plain.stdout)["clips"][0]["frames"]["context"] == [8, 9, 10, 11]


def test_predict_warns_of_a_cut_inside_its_context(tmp_path: Path, trained: dict[str, Path]) -> None:
    clip = tmp_path / "cut.npy"
    np.save(clip, np.concatenate([moving(4, 6), moving(60, 6)]))
    result = run_cli("predict", str(clip), "--checkpoint", str(trained["convlstm"]), "--start", "4",
                     "-o", str(tmp_path / "c.gif"), "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    warnings = json.loads(result.stdout)["clips"][0]["warnings"]
    assert any("a cut at frame 6 lies inside the context" in w for w in warnings)
    assert "--start 6" in result.stderr


def test_a_cut_near_the_end_gets_advice_the_clip_can_follow(tmp_path: Path, trained: dict[str, Path]) -> None:
    """The context is the clip's last 4 frames and the cut leaves 2 after it: no later --start fits, so the
    advice is a context of 2, or a start whose context ends before the cut; both then run without the warning."""
    clip = tmp_path / "late-cut.npy"
    np.save(clip, np.concatenate([moving(4, 10), moving(60, 2)]))
    base = ["predict", str(clip), "--checkpoint", str(trained["convlstm"]), "--json"]
    result = run_cli(*base, "-o", str(tmp_path / "c.gif"))
    assert result.code == 0, result.stderr
    (warning,) = [w for w in json.loads(result.stdout)["clips"][0]["warnings"] if "inside the context" in w]
    assert "a cut at frame 10 lies inside the context (frames 8-11)" in warning
    assert "--context 2" in warning and "--start 6 or earlier" in warning and "--start 10" not in warning
    for advice in (["--context", "2"], ["--start", "6"]):
        followed = run_cli(*base, *advice, "-o", str(tmp_path / "d.gif"))
        assert followed.code == 0, followed.stderr
        assert not [w for w in json.loads(followed.stdout)["clips"][0]["warnings"] if "inside the context" in w]


def test_flow_colours_follow_a_known_flow() -> None:
    from matplotlib.colors import rgb_to_hsv

    from framecast.render import flow_picture, flow_to_rgb

    flow = np.zeros((1, 2, 8, 8), np.float32)
    flow[0, 0, :, :4] = 2.0  # left half moves right at 2 px
    flow[0, 1, :, 4:] = -1.0  # right half moves up at 1 px (image y points down)
    hsv = rgb_to_hsv(flow_to_rgb(flow)[0] / 255.0)
    assert np.allclose(hsv[:, :4, 0], 0.0, atol=0.01) and np.allclose(hsv[:, :4, 1], 1.0, atol=0.01)  # red, full
    assert np.allclose(hsv[:, 4:, 0], 0.75, atol=0.01) and np.allclose(hsv[:, 4:, 1], 0.5, atol=0.01)  # up, half
    still = flow_to_rgb(np.zeros((1, 2, 4, 4), np.float32))
    assert (still == 255).all()  # no motion is white
    assert flow_picture(flow, scale=2).shape[1] > 16  # the frame and the band that gives the scale


@pytest.mark.parametrize(("name", "warp"), [("convlstm", True), ("convlstm", False), ("dmvfn", True)])
def test_show_flow_needs_a_model_that_moves_pixels(tmp_path: Path, name: str, warp: bool) -> None:
    options = {"residual": True, "warp": warp} if name == "convlstm" else {"zero_head": True}  # dmvfn always warps
    weights = tiny_checkpoint(tmp_path / "m.safetensors", name, context=4, horizon=4, content="natural", **options)
    clip = tmp_path / "c.npy"
    np.save(clip, moving(5, 8))
    result = run_cli("predict", str(clip), "--checkpoint", str(weights), "--start", "0", "--show-flow",
                     "-o", str(tmp_path / "c.gif"), "--json")  # fmt: skip
    if not warp:
        assert result.code == 2 and "moves pixels" in result.stderr and not (tmp_path / "c.gif").exists()
        return
    assert result.code == 0, result.stderr
    flow_gif = Path(json.loads(result.stdout)["clips"][0]["flow"])
    assert flow_gif == tmp_path / "c-flow.gif"
    import imageio.v3 as iio

    frames = iio.imread(flow_gif, index=None)
    assert frames.shape[0] == 4 and frames.shape[-1] == 3
    assert frames[:, -10:, -10:].min() > 240  # an untrained warp (zero heads) moves nothing: white
