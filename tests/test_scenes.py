"""Moving scenes: seeded, disjoint splits, offline photos, and the image statistics the real-video findings ask for."""

from __future__ import annotations

import pickle
import socket

import numpy as np
import pytest

from framecast.data.scenes import CREDITS, PHOTO_SPLITS, MovingScenesGenerator, load_photo
from framecast.errors import UsageError

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def grey_sample() -> tuple[np.ndarray, list[dict]]:
    """200 grey 20-frame 64x64 training sequences as floats in [0, 1], and what each one shows."""
    gen = MovingScenesGenerator("train", frames=20, seed=3)
    videos = np.stack([gen[i] for i in range(200)]).astype(np.float32) / 255.0
    return videos, [gen.describe(i) for i in range(200)]


# ------------------------------------------------------------------------------------------------------- photos


def test_photos_load_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a photo tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    load_photo.cache_clear()  # really read them again, with the network cut
    for split in SPLITS:
        for name in PHOTO_SPLITS[split]:
            photo = load_photo(name)
            assert photo.dtype == np.float32 and photo.ndim == 3 and photo.shape[2] == 3, name
            assert min(photo.shape[:2]) >= 128, name
            assert photo.min() >= 0.0 and photo.max() <= 1.0 and photo.std() > 0.05, name
            assert not photo.flags.writeable  # the cached array is shared: nobody may change it
    assert load_photo("coffee") is load_photo("coffee")


def test_every_photo_is_credited() -> None:
    used = {name for photos in PHOTO_SPLITS.values() for name in photos}
    assert used == set(CREDITS)
    assert all(len(line) > 20 and "\n" not in line for line in CREDITS.values())


def test_unknown_photo_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown photo"):
        load_photo("lena")


# ------------------------------------------------------------------------------------------------------- splits


def test_splits_are_disjoint() -> None:
    sets = {split: set(PHOTO_SPLITS[split]) for split in SPLITS}
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
    for split in ("val", "test"):
        assert 2 <= len(sets[split]) <= 3  # at least two: cut-outs come from a photo other than the background
    assert len(sets["train"]) > len(sets["val"])


@pytest.mark.parametrize("split", [*SPLITS, "all"])
def test_a_split_only_uses_its_own_photos(split: str) -> None:
    gen = MovingScenesGenerator(split, frames=10)
    allowed = set(PHOTO_SPLITS["test" if split == "all" else split])
    seen = set()
    for i in range(150):
        scene = gen.describe(i)
        assert set(scene["photos"]) <= allowed, (i, scene["photos"])
        assert scene["background"] not in scene["objects"]  # cut-outs come from OTHER photos
        assert 0 <= len(scene["objects"]) <= 3
        seen.update(scene["photos"])
    assert seen == allowed  # and it uses all of them


# ------------------------------------------------------------------------------------------------------- seeding


def test_same_seed_epoch_and_index_give_the_same_sequence() -> None:
    a = MovingScenesGenerator("train", frames=12, seed=7)
    b = MovingScenesGenerator("train", frames=12, seed=7)
    b[5]  # what was generated before does not matter
    for i in (0, 3, 11):
        np.testing.assert_array_equal(a[i], b[i])
        assert a.describe(i) == b.describe(i)
    a.set_epoch(2)
    b.set_epoch(2)
    np.testing.assert_array_equal(a[4], b[4])


def test_another_index_epoch_or_seed_gives_another_sequence() -> None:
    gen = MovingScenesGenerator("train", frames=12, seed=7)
    first = gen[0]
    assert not np.array_equal(first, gen[1])
    gen.set_epoch(1)
    assert not np.array_equal(first, gen[0])
    assert not np.array_equal(first, MovingScenesGenerator("train", frames=12, seed=8)[0])


def test_the_generator_survives_pickling() -> None:
    """Data-loader workers get a pickled copy: it must make the same sequences."""
    gen = MovingScenesGenerator("val", frames=8, channels=3, seed=2)
    gen.set_epoch(3)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(gen))[9], gen[9])


# ------------------------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(("frames", "height", "width", "channels"), [(20, 64, 64, 1), (20, 64, 64, 3), (7, 48, 80, 1)])
def test_shape_and_dtype(frames: int, height: int, width: int, channels: int) -> None:
    gen = MovingScenesGenerator("train", frames=frames, height=height, width=width, channels=channels)
    for i in range(5):
        video = gen[i]
        assert video.shape == (frames, height, width, channels)
        assert video.dtype == np.uint8
        assert video.flags.c_contiguous
        assert int(video.max()) - int(video.min()) > 50  # a picture, not a flat field


def test_small_tall_and_single_frame_sequences() -> None:
    assert MovingScenesGenerator("test", frames=1, height=16, width=16)[0].shape == (1, 16, 16, 1)
    assert MovingScenesGenerator("val", frames=3, height=120, width=17, channels=3)[2].shape == (3, 120, 17, 3)


def test_rgb_frames_are_in_colour() -> None:
    gen = MovingScenesGenerator("train", frames=4, channels=3)
    for i in range(10):
        video = gen[i].astype(np.int16)
        assert np.abs(video[..., 0] - video[..., 1]).mean() > 0.5 or np.abs(video[..., 1] - video[..., 2]).mean() > 0.5


def test_grey_is_the_luma_of_the_same_scene() -> None:
    """Channels change the rendering, not the scene: grey is close to the BT.601 luma of the colour sequence."""
    grey = MovingScenesGenerator("test", frames=6, channels=1)
    rgb = MovingScenesGenerator("test", frames=6, channels=3)
    for i in range(5):
        if grey.describe(i)["noise"]:
            continue
        luma = rgb[i].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        assert np.abs(luma - grey[i][..., 0]).mean() < 4  # up to the white-balance cast and clipping


@pytest.mark.parametrize(
    "kwargs",
    [
        {"split": "training"},
        {"split": "val", "channels": 2},
        {"split": "val", "height": 8},
        {"split": "val", "width": 15},
        {"split": "val", "frames": 0},
        {"split": "val", "seed": -1},
    ],
)
def test_bad_arguments_are_usage_errors(kwargs: dict) -> None:
    split = kwargs.pop("split")
    with pytest.raises(UsageError):
        MovingScenesGenerator(split, **{"frames": 4, **kwargs})


def test_negative_index_is_an_index_error() -> None:
    with pytest.raises(IndexError):
        MovingScenesGenerator("val", frames=4)[-1]


# ------------------------------------------------------------------------------------------------ held frames


def test_held_frames_off_leaves_every_sequence_as_it_was() -> None:
    """The held-frame draw has a stream of its own: with a share of 0 the scenes are those drawn without it, and
    with a share of 1 each one is the same scene, its frames shown twice."""
    plain = MovingScenesGenerator("train", frames=12, seed=4)
    off = MovingScenesGenerator("train", frames=12, seed=4, held_frames=0.0)
    held = MovingScenesGenerator("train", frames=12, seed=4, held_frames=1.0)
    moving = [i for i in range(12) if not plain.describe(i)["still"]][:4]  # a still scene's frames may be equal
    for i in moving:
        video, doubled = plain[i], held[i]
        np.testing.assert_array_equal(off[i], video)
        assert held.describe(i)["held_frames"] and not plain.describe(i)["held_frames"]
        # phase 0 shows 0 0 1 1 2 2 ..., phase 1 shows 0 1 1 2 2 3 ...: the content of the plain scene's frames
        shown = [next(k for k in range(12) if np.array_equal(frame, video[k])) for frame in doubled]
        assert shown in ([t // 2 for t in range(12)], [(t + 1) // 2 for t in range(12)])


def test_held_frames_come_in_the_share_asked_for() -> None:
    gen = MovingScenesGenerator("train", frames=6, seed=1, held_frames=0.3)
    held = [gen.describe(i)["held_frames"] for i in range(400)]
    assert 0.24 < np.mean(held) < 0.36
    with pytest.raises(UsageError):
        MovingScenesGenerator("train", frames=6, held_frames=1.5)


def test_held_frames_are_described_and_refused_for_other_data() -> None:
    from framecast.data.registry import open_dataset

    ds = open_dataset("moving-scenes", "train", context=4, horizon=4, limit=8, held_frames=0.25)
    assert "each frame held twice in 25% of them" in ds.description
    with pytest.raises(UsageError, match="--held-frames"):
        open_dataset("moving-mnist", "train", context=4, horizon=4, limit=8, held_frames=0.25)


# ----------------------------------------------------------------------------------------------- motion stops


def test_motion_stops_off_leave_every_sequence_as_it_was() -> None:
    """The scene clock has a stream of its own: scenes it leaves steady are those drawn without it, and one that
    stops shows the plain scene's frames up to the step where its pace changes (where the camera stands still:
    a moving camera's view is placed to fit its whole path, which the clock changes)."""
    plain = MovingScenesGenerator("train", frames=12, seed=4)
    mixed = MovingScenesGenerator("train", frames=12, seed=4, motion_stops=0.5)
    moving = [i for i in range(80) if not plain.describe(i)["still"]]
    kinds = {i: mixed.describe(i)["motion_stops"] for i in moving}
    assert set(kinds.values()) == {None, "stop", "start"}
    checked = 0
    for i, kind in kinds.items():
        video, paced = plain[i], mixed[i]
        if kind is None:
            np.testing.assert_array_equal(paced, video)
            continue
        scene, _ = plain._draw(i)
        if any(scene.pan) or scene.shake.any() or scene.zoom or scene.rotation:
            continue
        clock, _ = mixed._clock(i)
        steady = int(np.argmax(np.diff(clock) != 1.0)) + 1  # frames before the first change of pace
        shared = steady if kind == "stop" else 1  # a start changes pace from the first step
        np.testing.assert_array_equal(paced[:shared], video[:shared])
        checked += 1
    assert checked >= 3


def test_a_stopped_scene_stops_moving() -> None:
    """After a stop to rest, a scene without noise or brightness drift shows the same frame over and over; before
    it, it moves."""
    gen = MovingScenesGenerator("train", frames=16, seed=2, motion_stops=1.0)
    found = 0
    for i in range(200):
        d = gen.describe(i)
        clock, kind = gen._clock(i)
        if kind != "stop" or d["still"] or d["noise"] or d["drift"] or clock[-1] != clock[-3]:
            continue
        video = gen[i].astype(int)
        rest = int(np.argmax(clock == clock[-1]))  # the first frame at rest
        assert np.abs(np.diff(video[rest:], axis=0)).max() == 0
        assert np.abs(video[rest] - video[0]).mean() > 0.5
        found += 1
        if found == 3:
            break
    assert found == 3


def test_motion_stops_come_in_the_share_asked_for_and_are_described() -> None:
    from framecast.data.registry import open_dataset

    gen = MovingScenesGenerator("train", frames=6, seed=1, motion_stops=0.3)
    kinds = [gen.describe(i)["motion_stops"] for i in range(400)]
    assert 0.24 < np.mean([k is not None for k in kinds]) < 0.36
    with pytest.raises(UsageError):
        MovingScenesGenerator("train", frames=6, motion_stops=-0.1)
    ds = open_dataset("moving-scenes", "train", context=4, horizon=4, limit=8, motion_stops=0.3)
    assert "motion stopping or starting in 30% of them" in ds.description
    with pytest.raises(UsageError, match="--motion-stops"):
        open_dataset("moving-mnist", "train", context=4, horizon=4, limit=8, motion_stops=0.3)


# -------------------------------------------------------------------------------------------------- statistics


def test_a_fifth_of_scenes_are_fully_still(grey_sample: tuple[np.ndarray, list[dict]]) -> None:
    videos, scenes = grey_sample
    still = np.array([s["still"] for s in scenes])
    assert 0.12 <= still.mean() <= 0.28
    change = np.abs(np.diff(videos, axis=1)).mean(axis=(1, 2, 3, 4))
    for scene, moved in zip(scenes, change, strict=True):
        if scene["still"] and not scene["noise"]:
            assert moved == 0.0  # nothing at all changes
        elif scene["still"]:
            assert moved < 2.5 / 255  # sensor noise only: about one grey level
    # the others do move, all but the slowest (a few are as slow as a talking head's clip, 0.03 px per frame)
    assert (change[~still] > 0.5 / 255).mean() >= 0.9


def test_motion_is_natural_and_small(grey_sample: tuple[np.ndarray, list[dict]]) -> None:
    """Mean absolute frame-to-frame change of moving scenes: real 64x64 clips have medians of 2-5 grey levels."""
    videos, scenes = grey_sample
    moving = ~np.array([s["still"] for s in scenes])
    change = np.abs(np.diff(videos[moving], axis=1)).mean(axis=(1, 2, 3, 4)) * 255
    assert 1.5 <= np.median(change) <= 10
    assert np.percentile(change, 90) <= 30


def test_contrast_matches_real_frames(grey_sample: tuple[np.ndarray, list[dict]]) -> None:
    videos, _ = grey_sample
    std = videos.std(axis=(2, 3, 4)).ravel()
    assert ((std >= 0.15) & (std <= 0.4)).mean() >= 0.9
    assert 0.18 <= np.median(std) <= 0.31
    mean = videos.mean(axis=(2, 3, 4)).ravel()
    assert 0.25 <= np.median(mean) <= 0.7


def test_drawn_statistics_follow_the_findings() -> None:
    gen = MovingScenesGenerator("train", frames=20, seed=5)
    scenes = [gen.describe(i) for i in range(600)]
    moving = [s for s in scenes if not s["still"]]
    speeds = [v for s in moving for v in [*s["object_speeds"], s["camera_speed"]] if v > 0]
    assert min(speeds) >= 0.03 - 1e-9 and max(speeds) <= 2.5 + 1e-9
    # half of the moving objects wander, half of those in place (a drift of zero)
    objects = sum(len(s["objects"]) for s in moving)
    assert 0.4 <= sum(s["wandering_objects"] for s in moving) / objects <= 0.6
    in_place = sum(v == 0 for s in moving for v in s["object_speeds"])
    assert 0.15 <= in_place / objects <= 0.35
    assert np.median(speeds) < 0.6  # log-uniform: most motion is slow
    assert 0.14 <= np.mean([s["drift"] != 0 for s in scenes]) <= 0.26
    noise = np.array([s["noise"] for s in scenes])
    assert 0.24 <= (noise > 0).mean() <= 0.36 and noise.max() <= 0.004
    assert max(s["blur"] for s in scenes) <= 0.8
    assert all(s["object_speeds"] == [0.0] * len(s["objects"]) for s in scenes if s["still"])


def test_speeds_scale_with_the_frame_size() -> None:
    small = MovingScenesGenerator("train", frames=10, height=64, width=64, seed=1)
    large = MovingScenesGenerator("train", frames=10, height=128, width=128, seed=1)
    for i in range(20):
        a, b = small.describe(i), large.describe(i)
        assert b["camera_speed"] == pytest.approx(2 * a["camera_speed"])
        assert b["object_speeds"] == pytest.approx([2 * v for v in a["object_speeds"]])


def test_moving_objects_keep_their_sharpness_at_every_sub_pixel_position() -> None:
    """A cut-out moved by a fraction of a pixel keeps most of its finest detail: bilinear shifting kept 48% of this
    texture's Laplacian energy half-way between pixels (cubic: 69%; nothing keeps it all at the Nyquist frequency),
    so a moving object's sharpness flickered more than in real video. Rendering at twice the size does the rest."""
    from scipy.ndimage import laplace

    from framecast.data.scenes import _shift

    photo = load_photo("brick")[:48, :48, :1].transpose(2, 0, 1).copy()  # (1, 48, 48), a fine texture
    fracs = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0], [0.25, 0.75]], dtype=np.float32)
    moved = _shift(photo, fracs)  # (4, 1, 49, 49)
    assert np.allclose(moved[0, 0, :48, :48], photo[0], atol=1e-6)  # no shift: the patch itself
    assert np.allclose(moved[2, 0, 1:, 1:], photo[0], atol=1e-6)  # a whole pixel: the patch, one pixel on
    inner = (slice(4, 44), slice(4, 44))  # away from the padded border
    detail = [laplace(m[0][inner].astype(np.float64)).var() for m in moved]
    assert min(detail[1], detail[3]) > 0.6 * detail[0], detail
