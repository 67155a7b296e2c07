"""One door to every source of sequences: :func:`open_dataset` takes a dataset name or a path.

Whatever the source, a dataset yields float32 clips ``(T, C, H, W)`` in [0, 1], T = context + horizon, and
carries a :class:`DataSpec` (channels, frame size, context and horizon) and a description for people.

Names:
    ``moving-mnist`` (default): generated on the fly from MNIST digits. ``train`` draws fresh sequences every
    epoch from training digits; ``val`` is fixed (a set seed) and drawn from digits kept out of training;
    ``test`` is the standard file when ``framecast download moving-mnist`` has fetched it, else fixed sequences
    drawn from MNIST's test digits.
    ``moving-mnist-standard``: the standard test file only (an error when it has not been downloaded).
    ``moving-scenes``: natural motion generated on the fly from the photographs scikit-image installs (see
    data.scenes): camera pans, zooms and shakes, cut-outs moving over a background, at any frame size, grey or
    RGB. Train, validation and test scenes come from disjoint photos; validation and test are fixed (set seeds).
    ``moving-fmnist``: Moving MNIST's generator fed Fashion-MNIST items (``framecast download fmnist``), split as
    moving-mnist's digits are; ``test`` is ``fmnist_test_seq.npy`` when the user has placed it (see data.fashion).
    ``kth``: KTH's clips (``framecast download kth``), split by person: 1-14 train, 15-16 val, 17-25 test
    (data.kth); ``classes`` picks actions.
    ``ucf101``: UCF101's clips (``framecast download ucf101``), split by the official split 1, validation held
    out of training by group (data.ucf101); ``classes`` picks classes.
Paths:
    a folder of videos (searched recursively), one video, or a ``.npy``/``.npz`` array of sequences. Their clips
    are cut into windows of context + horizon frames; splits divide whole clips (whole files of a folder), so
    no window of a validation or test clip is ever trained on.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from framecast import paths
from framecast.errors import InputError, UsageError, unknown_name
from framecast.media import ARRAY_SUFFIXES

DATASETS = ("moving-mnist", "moving-mnist-standard", "moving-scenes", "moving-fmnist", "kth", "ucf101")
SPLITS = ("train", "val", "test", "all")

#: Sequences in an epoch of generated training data, and in the fixed validation and test sets. The test size
#: matches the standard file's 10,000.
MOVING_MNIST_SIZES = {"train": 10_000, "val": 1_000, "test": 10_000}
#: The same for generated moving scenes (each sequence costs milliseconds to draw, so the fixed sets are smaller).
MOVING_SCENES_SIZES = {"train": 10_000, "val": 512, "test": 1_000}
#: Fixed seeds of the generated validation and test sets (never the training seed: they must not repeat it).
FIXED_SEEDS = {"val": 1_000_003, "test": 2_000_003}
STANDARD_FILE = "mnist_test_seq.npy"


@dataclass(frozen=True)
class DataSpec:
    """What a model trained on this data expects: the frame format and the split of each clip."""

    channels: int  # 1 grey or 3 RGB
    height: int  # frame height in pixels
    width: int  # frame width in pixels
    context: int  # frames the model sees
    horizon: int  # frames it predicts
    content: str = "unknown"  # what the frames show: "digits" (Moving MNIST), "natural" (scenes, videos)

    @property
    def frames(self) -> int:
        return self.context + self.horizon

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SequenceDataset(torch.utils.data.Dataset):
    """Base of every source: float32 clips (T, C, H, W) in [0, 1], converted at the edge to `spec`."""

    skipped_for_cuts: int = 0  # windows left out because they straddle a scene cut (clip sources only)
    spec: DataSpec
    description: str
    source_channels: int
    source_size: tuple[int, int]

    def raw(self, index: int) -> np.ndarray:
        """Clip `index` as stored: (T, H, W, C), uint8 or float in [0, 1]."""
        raise NotImplementedError  # every subclass defines it

    def __getitem__(self, index: int) -> torch.Tensor:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return convert(self.raw(index), self.spec)

    def info(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {"description": self.description, "sequences": len(self), "spec": self.spec.to_dict()}

    def clip_of_each(self) -> list[str] | None:
        """The name of the clip each sequence is cut from, in order, where sequences come from named clips."""
        return None


def convert(frames: np.ndarray, spec: DataSpec) -> torch.Tensor:
    """(T, H, W, C) uint8 or float -> float32 (T, C, H, W) in [0, 1], fitted to the spec by framecast.clips."""
    from framecast.clips import fit

    fitted, _ = fit(frames, channels=spec.channels, size=(spec.height, spec.width))
    return torch.from_numpy(fitted).permute(0, 3, 1, 2).contiguous()


class GeneratedMovingMNIST(SequenceDataset):
    """Moving MNIST sequences generated from digits, addressed by index (see data.moving_mnist)."""

    def __init__(self, digit_images: np.ndarray, *, length: int, spec: DataSpec, seed: int, description: str):
        from framecast.data.moving_mnist import MovingMNISTGenerator

        self.generator = MovingMNISTGenerator(digit_images, frames=spec.frames, size=64, seed=seed)
        self.length = length
        self.spec = spec
        self.description = description
        self.source_channels = 1
        self.source_size = (64, 64)

    def set_epoch(self, epoch: int) -> None:
        """Fresh training sequences each epoch (the trainer calls this)."""
        self.generator.set_epoch(epoch)

    def __len__(self) -> int:
        return self.length

    def raw(self, index: int) -> np.ndarray:
        return self.generator[index][..., None]  # (T, H, W, 1)


class GeneratedScenes(SequenceDataset):
    """Moving scenes generated from natural photographs, addressed by index (see data.scenes)."""

    def __init__(
        self,
        split: str,
        *,
        length: int,
        spec: DataSpec,
        seed: int,
        description: str,
        held_frames: float = 0.0,
        motion_stops: float = 0.0,
    ):
        from framecast.data.scenes import MovingScenesGenerator

        self.generator = MovingScenesGenerator(
            split,
            frames=spec.frames,
            height=spec.height,
            width=spec.width,
            channels=spec.channels,
            seed=seed,
            held_frames=held_frames,
            motion_stops=motion_stops,
        )
        self.length = length
        self.spec = spec
        self.description = description
        self.source_channels = spec.channels
        self.source_size = (spec.height, spec.width)

    def set_epoch(self, epoch: int) -> None:
        """Fresh training sequences each epoch (the trainer calls this)."""
        self.generator.set_epoch(epoch)

    def __len__(self) -> int:
        return self.length

    def raw(self, index: int) -> np.ndarray:
        return self.generator[index]  # (T, H, W, C), already at the spec's format


class ClipWindows(SequenceDataset):
    """Windows of `spec.frames` frames cut from clips (arrays of sequences, decoded videos).

    The clips are opened by `loader` (a picklable callable returning a sequence of (T, H, W, C) arrays) and
    re-opened lazily after pickling, so data-loader workers memory-map files instead of copying them.
    """

    def __init__(
        self,
        loader: Callable[[], Sequence[np.ndarray]],
        windows: list[tuple[int, int]],
        *,
        spec: DataSpec,
        description: str,
        source_channels: int,
        source_size: tuple[int, int],
        clip_names: list[str] | None = None,
    ) -> None:
        self.loader = loader
        self.windows = windows
        self.spec = spec
        self.description = description
        self.source_channels = source_channels
        self.source_size = source_size
        self.clip_names = clip_names
        self._clips: Sequence[np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_clips"] = None
        return state

    @property
    def clips(self) -> Sequence[np.ndarray]:
        if self._clips is None:
            self._clips = self.loader()
        return self._clips

    def __len__(self) -> int:
        return len(self.windows)

    def drop_cut_windows(self) -> int:
        """Leave out the windows that straddle a scene cut (see framecast.clips.find_cuts); how many were dropped."""
        from framecast.clips import find_cuts

        cuts = {c: find_cuts(np.asarray(self.clips[c])) for c in sorted({c for c, _ in self.windows})}
        frames = self.spec.frames
        kept = [(c, s) for c, s in self.windows if not any(s < cut < s + frames for cut in cuts[c])]
        dropped = len(self.windows) - len(kept)
        self.windows = kept
        self.description += f", {dropped} window{'s' if dropped != 1 else ''} across a scene cut left out"
        return dropped

    def raw(self, index: int) -> np.ndarray:
        clip, start = self.windows[index]
        return self.clips[clip][start : start + self.spec.frames]

    def clip_of_each(self) -> list[str] | None:
        if self.clip_names is None:
            return None
        short = [Path(n).name for n in self.clip_names]
        names = short if len(set(short)) == len(short) else self.clip_names  # the file name, where it is enough
        return [names[clip] for clip, _ in self.windows]


def _split_units(count: int, split: str) -> range:
    """Which of `count` units (clips, or windows of a single clip) belong to a split.

    The last tenth is test and the tenth before it validation (at least one each when there are 3 or more
    units); 'all' is everything. Deterministic, so a split never changes between commands.
    """
    if split == "all":
        return range(count)
    if count < 3:
        return range(count) if split == "train" else range(0)
    cut = max(1, count // 10)
    if split == "test":
        return range(count - cut, count)
    if split == "val":
        return range(count - 2 * cut, count - cut)
    return range(count - 2 * cut)


def _windows(lengths: list[int], frames: int, step: int, split: str, source: str) -> list[tuple[int, int]]:
    """(clip, start) of every window of `frames` frames, `step` apart, in the clips of a split."""
    if max(lengths, default=0) < frames:
        longest = max(lengths, default=0)
        raise InputError(
            f"{source}: the longest clip has {longest} frames, but a window of context + horizon needs {frames}",
            "lower --context/--horizon, or use longer clips (a smaller --frame-stride keeps more frames)",
        )
    per_clip = [[(c, s) for s in range(0, n - frames + 1, step)] for c, n in enumerate(lengths)]
    if len(lengths) >= 3 or split == "all":
        return [w for c in _split_units(len(lengths), split) for w in per_clip[c]]
    flat = [w for ws in per_clip for w in ws]  # too few clips to split: divide their windows in time order
    return [flat[i] for i in _split_units(len(flat), split)]


def _open_array_clips(path: str) -> np.ndarray:
    from framecast.clips import open_sequences

    return open_sequences(Path(path))[0]


def _open_video_clips(path: str, channels: int, size: tuple[int, int], frame_stride: int, files: list[str]):
    from framecast.data.videos import load_clip

    return [load_clip(Path(f), channels=channels, size=size, frame_stride=frame_stride) for f in files]


def default_window(data: str | Path) -> tuple[int, int]:
    """The context and horizon frames of a dataset's standard protocol: KTH 10 -> 20, UCF101 30 -> 15, else
    10 -> 10 (Moving MNIST's)."""
    from framecast.data import kth, ucf101

    return {"kth": (kth.CONTEXT, kth.HORIZON), "ucf101": (ucf101.CONTEXT, ucf101.HORIZON)}.get(str(data), (10, 10))


def content_of_data(data: str | Path) -> str | None:
    """What a dataset shows, known from its name alone: "digits", "natural", or None (an array: look at it)."""
    text = str(data)
    if text.startswith("moving-mnist"):
        return "digits"
    if text in ("moving-scenes", "kth", "ucf101"):
        return "natural"
    if text == "moving-fmnist":
        return "digits"  # Moving MNIST-like objects on black
    path = Path(text).expanduser()
    if path.exists() and (path.is_dir() or path.suffix.lower() not in ARRAY_SUFFIXES):
        return "natural"  # videos
    return None


@dataclass
class DataOptions:
    """Which data and how its frames are brought to a format: everything but the split and the window.

    Commands take these once and open each split they need with :meth:`open`.
    """

    data: str = "moving-mnist"  # a dataset name or a path
    channels: int | None = None  # 1 grey or 3 RGB (None: the source's; videos default to grey)
    size: tuple[int, int] | None = None  # (height, width) frames are fitted to (None: the source's; videos 64x64)
    frame_stride: int = 1  # keep every Nth frame of a video
    classes: list[str] | None = None  # class folders of a video folder
    digits: str | None = None  # digits of generated Moving MNIST (None: downloaded, else embedded)
    skip_cuts: bool = False  # leave out windows that straddle a scene cut

    def want(self):
        """What a checkpoint for this data should have learnt from, for `--model NAME` (checkpoints.Want)."""
        from framecast.checkpoints import Want

        return Want(content=content_of_data(self.data), channels=self.channels or 1)

    def open(
        self,
        split: str,
        *,
        context: int,
        horizon: int,
        limit: int | None = None,
        seed: int = 0,
        held_frames: float = 0.0,
        motion_stops: float = 0.0,
    ) -> SequenceDataset:
        """The `split` of this data, cut into windows of `context` + `horizon` frames (`held_frames` and
        `motion_stops`: see open_dataset)."""
        return open_dataset(
            self.data,
            split,
            context=context,
            horizon=horizon,
            channels=self.channels,
            size=tuple(self.size) if self.size else None,
            frame_stride=self.frame_stride,
            classes=self.classes,
            limit=limit,
            seed=seed,
            digits=self.digits,
            skip_cuts=self.skip_cuts,
            held_frames=held_frames,
            motion_stops=motion_stops,
        )


def open_dataset(
    data: str | Path = "moving-mnist",
    split: str = "train",
    *,
    context: int = 10,
    horizon: int = 10,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    frame_stride: int = 1,
    window_stride: int | None = None,
    classes: list[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
    digits: str | Path | None = None,
    skip_cuts: bool = False,
    held_frames: float = 0.0,
    motion_stops: float = 0.0,
) -> SequenceDataset:
    """Open a dataset by name or path (see the module docstring).

    Args:
        data: a dataset name or a path.
        split: train, val, test, or all (every clip of a path; for generated data, the same as test).
        context: frames the model sees.
        horizon: frames it predicts.
        channels: 1 or 3; None keeps the source's (videos default to grey).
        size: (height, width) frames are resized to; None keeps the source's (videos default to 64x64).
        frame_stride: keep every Nth frame of a video.
        window_stride: frames between the starts of consecutive windows of a clip (default: a whole window,
            so windows do not overlap).
        classes: class folders to keep in a folder of videos.
        limit: at most this many sequences.
        seed: the seed of generated training sequences.
        digits: where generated Moving MNIST takes its digits (see data.mnist.load_digits).
        skip_cuts: leave out windows of clips that straddle a scene cut (off for the standard protocols; the
            count left out is in the description and in `skipped_for_cuts`).
        held_frames: the share of generated moving scenes that show each frame twice (moving-scenes only).
        motion_stops: the share of generated moving scenes whose motion eases to a stop or starts from rest
            (moving-scenes only).

    Raises:
        UsageError: an unknown dataset name or split, bad numbers.
        InputError: a path that does not exist or does not hold usable sequences.
    """
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS)
    if context < 1 or horizon < 1:
        raise UsageError("context and horizon must be at least 1 frame", "for example --context 10 --horizon 10")
    if channels is not None and channels not in (1, 3):
        raise UsageError(f"--channels must be 1 or 3, not {channels}", "1 for grey frames, 3 for colour")
    frames = context + horizon
    step = window_stride or frames
    text = str(data)
    for flag, share in (("--held-frames", held_frames), ("--motion-stops", motion_stops)):
        if share and text != "moving-scenes":
            raise UsageError(f"{flag} applies to generated moving scenes, not to {text}", "use --data moving-scenes")
    path = Path(text).expanduser()
    if path.exists():
        if path.is_dir() or path.suffix.lower() not in ARRAY_SUFFIXES:
            ds = _open_videos(path, split, context, horizon, channels, size, frame_stride, step, classes, None)
        else:
            ds = _open_arrays(path, split, context, horizon, channels, size, step, None)
        ds.skipped_for_cuts = ds.drop_cut_windows() if skip_cuts else 0
        if limit is not None:
            ds.windows = ds.windows[:limit]
        if not ds.windows:
            raise InputError(f"{path}: the {split} split holds no windows", "use --split all, or more clips")
        return ds
    if text == "moving-scenes":
        return _open_moving_scenes(split, context, horizon, channels, size, limit, seed, held_frames, motion_stops)
    if text in ("kth", "ucf101"):
        return _open_named_videos(
            text, split, context, horizon, channels, size, frame_stride, step, classes, limit, skip_cuts
        )
    if text == "moving-fmnist":
        return _open_moving_fmnist(split, context, horizon, channels, size, limit, seed)
    if text in DATASETS:
        return _open_moving_mnist(text, split, context, horizon, channels, size, limit, seed, digits)
    if "/" in text or "\\" in text or path.suffix:
        raise InputError(f"{text} does not exist", "check the path, or give a dataset name such as moving-mnist")
    raise unknown_name("dataset", text, DATASETS)


def _spec(channels: int | None, size: tuple[int, int] | None, src_c: int, src_size: tuple[int, int], ctx, hor, content):
    h, w = size or src_size
    return DataSpec(channels=channels or src_c, height=h, width=w, context=ctx, horizon=hor, content=content)


def _generated_length(limit: int | None, split: str, sizes: dict[str, int]) -> int:
    if limit is None:
        return sizes[split]
    if split == "train":  # drawn afresh each epoch: an epoch may hold any number of sequences
        return limit
    return min(limit, sizes[split])  # the fixed splits have their documented sizes


def _open_moving_scenes(
    split, context, horizon, channels, size, limit, seed, held_frames=0.0, motion_stops=0.0
) -> SequenceDataset:
    from framecast.data.scenes import PHOTO_SPLITS

    split = "test" if split == "all" else split
    spec = _spec(channels, size, 1, (64, 64), context, horizon, "natural")
    length = _generated_length(limit, split, MOVING_SCENES_SIZES)
    split_seed = seed if split == "train" else FIXED_SEEDS[split]
    what = "fresh each epoch" if split == "train" else "fixed"
    photos = PHOTO_SPLITS[split]
    description = (
        f"generated moving scenes, {split} split: {length} sequences ({what}, seed {split_seed}) at "
        f"{spec.height}x{spec.width}x{spec.channels} from {len(photos)} photos ({', '.join(photos)})"
    )
    if held_frames:
        description += f", each frame held twice in {held_frames:.0%} of them"
    if motion_stops:
        description += f", motion stopping or starting in {motion_stops:.0%} of them"
    return GeneratedScenes(
        split,
        length=length,
        spec=spec,
        seed=split_seed,
        description=description,
        held_frames=held_frames,
        motion_stops=motion_stops,
    )


def _open_moving_mnist(name, split, context, horizon, channels, size, limit, seed, digits) -> SequenceDataset:
    from framecast.data.mnist import load_digits

    standard = paths.dataset_dir("moving-mnist") / STANDARD_FILE
    if name == "moving-mnist-standard" or (split == "test" and standard.is_file()):
        if not standard.is_file():
            raise InputError(
                "the standard Moving MNIST test file has not been downloaded",
                "run `framecast download moving-mnist`, or use --data moving-mnist for generated sequences",
            )
        ds = _open_arrays(standard, "all", context, horizon, channels, size, context + horizon, limit)
        ds.spec = dataclasses.replace(ds.spec, content="digits")
        ds.description = f"standard Moving MNIST test set ({STANDARD_FILE}, {len(ds)} sequences)"
        return ds
    split = "test" if split == "all" else split
    source = load_digits(digits)
    spec = _spec(channels, size, 1, (64, 64), context, horizon, "digits")
    length = _generated_length(limit, split, MOVING_MNIST_SIZES)
    split_seed = seed if split == "train" else FIXED_SEEDS[split]
    what = {"train": "fresh each epoch", "val": "fixed", "test": "fixed"}[split]
    description = (
        f"generated Moving MNIST, {split} split: {length} sequences ({what}, seed {split_seed}) "
        f"from {source.split(split).shape[0]:,} {split} digits of the {source.source}"
    )
    return GeneratedMovingMNIST(source.split(split), length=length, spec=spec, seed=split_seed, description=description)


def _open_moving_fmnist(split, context, horizon, channels, size, limit, seed) -> SequenceDataset:
    from framecast.data import fashion

    standard = fashion.standard_test_file()
    if split in ("test", "all") and standard is not None:
        n, t, h, w, _ = fashion.open_test_file(str(standard)).shape
        windows = _windows([t] * n, context + horizon, context + horizon, "all", str(standard))[:limit]
        return ClipWindows(
            functools.partial(fashion.open_test_file, str(standard)),
            windows,
            spec=_spec(channels, size, 1, (h, w), context, horizon, "digits"),
            description=f"standard Moving Fashion-MNIST test set ({standard.name}, {n} sequences)",
            source_channels=1,
            source_size=(h, w),
        )
    split = "test" if split == "all" else split
    items = fashion.load_items()
    spec = _spec(channels, size, 1, (64, 64), context, horizon, "digits")
    length = _generated_length(limit, split, MOVING_MNIST_SIZES)
    split_seed = seed if split == "train" else FIXED_SEEDS[split]
    what = "fresh each epoch" if split == "train" else "fixed"
    description = (
        f"generated Moving Fashion-MNIST, {split} split: {length} sequences ({what}, seed {split_seed}) "
        f"from {items.split(split).shape[0]:,} {split} items of the {items.source}"
    )
    return GeneratedMovingMNIST(items.split(split), length=length, spec=spec, seed=split_seed, description=description)


def _named_video_files(name: str, split: str, classes: list[str] | None) -> tuple[list[Path], str]:
    """The clips of a split of a named video dataset, and a line saying what they are."""
    if name == "kth":
        from framecast.data import kth

        clips = kth.clips_for(split, classes)
        return [c.path for c in clips], kth.describe(split, clips)
    from framecast.data import ucf101

    chosen = ucf101.split_files(split, classes)
    return chosen.files, chosen.description


def _open_named_videos(name, split, context, horizon, channels, size, frame_stride, step, classes, limit, skip_cuts):
    """KTH or UCF101: the split is decided by the dataset's protocol, then clips are windows as any video's."""
    from framecast.data.videos import load_clip

    files, what = _named_video_files(name, split, classes)
    channels, size, frames = channels or 1, size or (64, 64), context + horizon
    lengths: list[int] = []
    for f in files:  # decoded once each (then cached); with a limit, only as many clips as it needs
        lengths.append(len(load_clip(f, channels=channels, size=size, frame_stride=frame_stride)))
        whole = sum((n - frames) // step + 1 for n in lengths if n >= frames)
        if limit is not None and not skip_cuts and whole >= limit:
            break
    files = files[: len(lengths)]
    if not files:
        raise InputError(f"{name}: the {split} split holds no clips", "pick other --classes, or --split all")
    windows = _windows(lengths, frames, step, "all", name)
    description = f"{what}; {sum(lengths)} frames at {size[0]}x{size[1]}x{channels}, {len(windows)} windows"
    ds = _video_windows(name, files, windows, channels, size, frame_stride, (context, horizon), description)
    ds.skipped_for_cuts = ds.drop_cut_windows() if skip_cuts else 0
    ds.windows = ds.windows[:limit]
    if not ds.windows:
        raise InputError(f"{name}: the {split} split holds no windows", "use shorter --context/--horizon")
    return ds


def _video_windows(source, files, windows, channels, size, frame_stride, window, description) -> ClipWindows:
    """Windows of decoded video files (natural video), re-opened lazily from the clip cache in each worker."""
    names = [str(f) for f in files]
    spec = DataSpec(channels, size[0], size[1], window[0], window[1], content="natural")
    loader = functools.partial(_open_video_clips, str(source), channels, size, frame_stride, names)
    return ClipWindows(
        loader, windows, spec=spec, description=description, source_channels=channels, source_size=size,
        clip_names=names,
    )  # fmt: skip


def _open_arrays(path: Path, split, context, horizon, channels, size, step, limit) -> ClipWindows:
    clips = _open_array_clips(str(path))
    n, t, h, w, c = clips.shape
    windows = _windows([t] * n, context + horizon, step, split, str(path))
    if limit is not None:
        windows = windows[:limit]
    if not windows:
        raise InputError(f"{path}: the {split} split holds no sequences", "use --split all, or more sequences")
    spec = _spec(channels, size, c, (h, w), context, horizon, "unknown")
    description = f"{path.name}: {n} sequences of {t} frames, {h}x{w}x{c} {clips.dtype} ({split} split)"
    loader = functools.partial(_open_array_clips, str(path))
    return ClipWindows(loader, windows, spec=spec, description=description, source_channels=c, source_size=(h, w))


def _open_videos(path, split, context, horizon, channels, size, frame_stride, step, classes, limit) -> ClipWindows:
    from framecast.data.videos import find_videos, load_clip

    files = find_videos(path, classes) if path.is_dir() else [path]
    channels = channels or 1
    size = size or (64, 64)
    lengths = [len(load_clip(f, channels=channels, size=size, frame_stride=frame_stride)) for f in files]
    windows = _windows(lengths, context + horizon, step, split, str(path))
    if limit is not None:
        windows = windows[:limit]
    if not windows:
        raise InputError(f"{path}: the {split} split holds no windows", "use --split all, or more clips")
    kind = f"{len(files)} video{'s' if len(files) != 1 else ''}" if path.is_dir() else "video"
    description = (
        f"{path.name}: {kind}, {sum(lengths)} frames at {size[0]}x{size[1]}x{channels}"
        f"{f' (every {frame_stride}th frame)' if frame_stride > 1 else ''}, {len(windows)} windows ({split} split)"
    )
    return _video_windows(str(path), files, windows, channels, size, frame_stride, (context, horizon), description)
