"""Moving scenes: generated sequences of natural motion, built from the photographs that ship with scikit-image.

Models trained on Moving MNIST (white digits on black) do not transfer to real video. A measured probe
(shared findings, "Real video on a CPU") showed that a small model beats copy-last on real clips once its training
scenes match real frames' statistics at the working size, and that getting them wrong teaches the model to blur
(low contrast or visible noise make it learn to denoise). Each sequence here is therefore made to match them:

- a background crop of a photo (random photo, place, scale and a slight tilt) seen by a camera that pans slowly,
  zooms slowly, rotates a little or shakes a little; 20% of scenes are fully still (nothing moves: only sensor
  noise, in the scenes that have it, changes from frame to frame);
- 0-3 soft-masked, blob-shaped cut-outs of OTHER photos of the same split, moving over it with their own
  velocities and hiding each other in z-order;
- speeds log-uniform in 0.03-2.5 px per frame at 64x64 (scaled with the frame size);
- in half of the moving objects and panning cameras the velocity wanders (an AR(1) walk around the drawn one),
  and in half of those it wanders around zero (a jitter in place, as a talking head or a held camera): motion in
  real clips is not constant, and a model that saw only constant velocities extrapolates every small motion
  confidently and overshoots on nearly still clips (a talking head's clip, whose copy-last error grows with the
  lag rather than its square, was worse than copy-last with every model trained without it);
- per-crop contrast (standard deviation of a frame) mostly in 0.18-0.36, as real 64x64 crops (0.18-0.31);
- optical blur of 0-0.8 px, sensor noise in 30% of scenes with standard deviation at most 0.004, a slow
  brightness drift in 20% of scenes and, in colour, a slight white-balance cast;
- rendered at twice the frame size with sub-pixel (bicubic) motion, then area-downsampled, so that motion is
  sub-pixel and edges are as soft as a real camera's, and as steady: bilinear sampling blurs most half-way
  between pixels, so a pan's sharpness flickered from frame to frame (by 4.2% of its detail, median over moving
  scenes; the three real clips 2.1-2.8% apart from a cut; bicubic 3.0%).

With ``held_frames`` (``framecast train --held-frames 0.15``) that share of the sequences shows each frame twice,
as a 15 fps source in a 30 fps file: off by default, and decided apart from the rest of the scene.
With ``motion_stops`` (``--motion-stops 0.3``) that share runs on a clock that eases to a stop (or to a crawl) at a
random frame, or starts from rest: camera, objects and their wander all slow together, as a head that stops
turning or a pan that comes to rest. Models trained only on steady motion carry every motion on past the frame it
ends (on the talking-head clip, two windows whose motion slows just before the future held its whole loss).

Every random number of a sequence comes from ``np.random.default_rng((seed, epoch, index, split))``: the same
sequence on any machine, in any number of data-loader workers, whatever was generated before.

The photographs come from scikit-image's data module (``skimage.data``), which installs them with the package:
nothing is downloaded. Train, validation and test scenes use disjoint photos (`PHOTO_SPLITS`); `CREDITS` gives
each photo's source and licence as scikit-image documents them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from framecast.clips import LUMA
from framecast.errors import UsageError, unknown_name

if TYPE_CHECKING:
    import torch

#: Photo names per split: train / val / test drawn from DISJOINT photos (val and test 2-3 photos each).
PHOTO_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "chelsea", "motorcycle", "immunohistochemistry", "grass", "brick", "text"),
    "val": ("rocket", "coins", "gravel"),
    "test": ("coffee", "camera"),
}

#: One line per photo crediting its source/licence as scikit-image documents it (for the README credits).
CREDITS: dict[str, str] = {
    "astronaut": "Eileen Collins, NASA Great Images database; no known copyright restrictions, public domain.",
    "chelsea": "Chelsea the cat, photograph by Stefan van der Walt; CC0.",
    "motorcycle": "Motorcycle, left view of the Middlebury 2014 stereo benchmark (Scharstein et al., GCPR 2014), "
    "down-sampled 4x; scikit-image states no licence.",
    "immunohistochemistry": "IHC-stained colonic glands, Center for Microscopy And Molecular Imaging (CMMI); "
    "no known copyright restrictions.",
    "grass": "Grass, by linolafett on DeviantArt, cropped and converted to grey by scikit-image; CC0.",
    "brick": "Brick wall, from CC0Textures (Bricks25), transformed and cropped by scikit-image; CC0.",
    "text": "Text (corner-detection test image), from Wikipedia (File:Corner.png); no known copyright "
    "restrictions, public domain.",
    "rocket": "Launch of DSCOVR on Falcon 9, SpaceX Photos on Flickr; released into the public domain by SpaceX.",
    "coins": "Greek coins from Pompeii, Brooklyn Museum Collection; no known copyright restrictions.",
    "gravel": "Gravel, from CC0Textures (Gravel04), rescaled, cropped and converted to grey by scikit-image; CC0.",
    "coffee": "Coffee cup, photograph by Rachel Michetti, courtesy of Pikolo Espresso Bar; CC0.",
    "camera": "Cameraman, photograph by Lav Varshney; CC0.",
}

#: skimage.data functions behind the photo names; all read files installed with scikit-image (no download).
_SOURCES: dict[str, str] = {name: name for name in CREDITS} | {"motorcycle": "stereo_motorcycle"}


#: Rendering happens at this multiple of the frame size, then 2x2 (area) averaging brings it down.
RENDER_SCALE = 2
MIN_SIZE = 16
STILL_SHARE = 0.2
#: Brightness drift only in moving scenes: 0.25 of the 80% that move is 20% of all scenes.
DRIFT_SHARE = 0.25
NOISE_SHARE = 0.3
NOISE_STD = (0.001, 0.004)
BLUR_MAX = 0.8
#: Pixels per frame at 64x64, drawn log-uniform; scaled with the frame size.
SPEED_RANGE = (0.03, 2.5)
#: Share of moving objects (and of panning cameras) whose velocity wanders, and how far: the wander's standard
#: deviation per frame as a share of the drawn speed, and how much of it carries over to the next frame.
WANDER_SHARE = 0.5
WANDER_STD = (0.3, 1.0)
WANDER_RHO = 0.7
#: Share of the wandering ones that wander around zero: jitter in place, no drift.
JITTER_SHARE = 0.5
#: Tags the random stream that decides held frames (`held_frames`), apart from the scene's own.
HOLD_STREAM = 7
#: Tags the random stream of the scene clock (`motion_stops`), apart from the scene's own.
CLOCK_STREAM = 11
#: Steps a stop or a start takes to ease in (0: at once), and how slow a stop ends when it ends in a crawl.
EASE_STEPS = (0, 4)
CRAWL_SPEED = (0.1, 0.5)
#: Standard deviation a frame's luma is brought to; clipping at 0 and 1 lowers it a little.
CONTRAST_RANGE = (0.2, 0.33)
MEAN_RANGE = (0.38, 0.6)
OBJECT_COUNT_P = (0.3, 0.3, 0.25, 0.15)
#: A crop whose preview is flatter than this is redrawn (up to a few times): flat crops would need so much
#: contrast gain that the noise of the photo would show.
FLAT_STD = 0.06
#: Largest radius of a cut-out's mask over its major semi-axis: 1 + the largest wobble (0.12 + 0.06 + 0.04).
REACH = 1.23
#: Share of the photo's short side that the frame's short side covers, log-uniform.
VIEW_FRACTION = (0.12, 0.7)
#: Photo pixels per frame pixel, at least, where the view fits: a photo enlarged more looks softer than video.
MIN_SCALE = 1.0


# ----------------------------------------------------------------------------------------------------- photos


@functools.cache
def load_photo(name: str) -> np.ndarray:
    """A photo of scikit-image's data module: float32 (H, W, 3) in [0, 1], read-only, cached per process.

    Grey photos come back with three equal channels.
    """
    if name not in _SOURCES:
        raise unknown_name("photo", name, tuple(_SOURCES))
    from skimage import data

    image = getattr(data, _SOURCES[name])()
    if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
        image = image[0]
    photo = np.asarray(image, dtype=np.float32) / 255.0
    if photo.ndim == 2:
        photo = np.repeat(photo[:, :, None], 3, axis=2)
    photo = np.ascontiguousarray(photo[:, :, :3])
    photo.setflags(write=False)
    return photo


@functools.cache
def _luma(name: str) -> np.ndarray:
    """The photo's BT.601 luma, float32 (H, W)."""
    return load_photo(name) @ LUMA


@functools.cache
def _pyramid(name: str, channels: int) -> tuple[torch.Tensor, ...]:
    """The photo at full, half, quarter... size, each (1, C, h, w) float32 (channels-last in memory).

    Sampling from the level closest to the wanted scale keeps bilinear sampling from aliasing when a crop shrinks
    a photo a lot (gravel and grass would shimmer as they move).
    """
    import torch

    image = _luma(name)[None] if channels == 1 else load_photo(name).transpose(2, 0, 1)
    level = np.ascontiguousarray(image, dtype=np.float32)
    levels = []
    while True:
        # channels-last: grid_sample gathers a pixel's channels together, a third faster for RGB
        levels.append(torch.from_numpy(level)[None].contiguous(memory_format=torch.channels_last))
        h, w = level.shape[1] // 2 * 2, level.shape[2] // 2 * 2
        if min(h, w) < 2 * MIN_SIZE:
            return tuple(levels)
        level = _halve(level[:, :h, :w])


def _halve(image: np.ndarray) -> np.ndarray:
    """Average 2x2 blocks of the last two axes (their sizes must be even)."""
    *lead, rows, cols = image.shape
    pairs = np.ascontiguousarray(image).reshape(*lead, rows // 2, 2 * cols)
    summed = np.add(pairs[..., :cols], pairs[..., cols:])  # row pairs: contiguous halves, the fast way first
    out = np.add(summed[..., ::2], summed[..., 1::2])
    out *= 0.25
    return out


def _level(scale: float, levels: int) -> int:
    """Pyramid level whose pixels are closest to one render pixel, for `scale` photo pixels per render pixel."""
    return int(np.clip(round(math.log2(max(scale, 1e-6))), 0, levels - 1))


# ----------------------------------------------------------------------------------------------------- scenes


@dataclass(frozen=True)
class _Object:
    """A soft-masked cut-out of a photo, moving at constant velocity in frame coordinates (output pixels)."""

    photo: str
    source: tuple[float, float]  # centre of the cut-out in the photo, (y, x) photo pixels
    scale: float  # photo pixels per output pixel
    flip: float  # +1 or -1: mirrored left-right
    axes: tuple[float, float]  # semi-axes of the ellipse, output pixels
    angle: float  # orientation of the ellipse, radians
    wobble: np.ndarray  # (3, 2): amplitude and phase of the 2nd-4th radial harmonics, so shapes are blobs
    edge: float  # width of the soft edge, render pixels
    start: tuple[float, float]  # centre at frame 0, (y, x) output pixels from the top-left corner
    velocity: tuple[float, float]  # output pixels per frame
    wander: np.ndarray  # (T, 2): offsets from the constant-velocity path, output pixels (zeros: none)

    @property
    def speed(self) -> float:
        return math.hypot(*self.velocity)


@dataclass(frozen=True)
class _Scene:
    """Everything random about a sequence except its noise."""

    photo: str
    still: bool
    scale: float  # photo pixels per output pixel, at zoom 1
    centre: tuple[float, float]  # photo point under the frame's centre at frame 0 without shake, (y, x)
    flip: float
    tilt: float  # rotation at frame 0, radians
    pan: tuple[float, float]  # output pixels per frame
    zoom: float  # log zoom per frame
    rotation: float  # radians per frame
    shake: np.ndarray  # (T, 2) camera offsets, output pixels
    shake_std: float
    objects: tuple[_Object, ...]
    contrast: float  # target standard deviation of frame 0's luma
    mean: float  # target mean of frame 0's luma
    drift: float  # brightness gain change per frame (0: none)
    blur: float  # Gaussian sigma, output pixels
    noise: float  # standard deviation (0: none)
    cast: np.ndarray  # (3,) white-balance gains, luma-neutral
    clock: np.ndarray  # (T,) scene time at each frame, in frames: 0, 1, 2, ... unless motion stops or starts


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _direction(rng: np.random.Generator, horizontal_share: float = 0.0) -> np.ndarray:
    """A unit (y, x) vector; with probability `horizontal_share` within 0.3 rad of horizontal (as most pans are)."""
    if rng.random() < horizontal_share:
        theta = rng.uniform(-0.3, 0.3) + np.pi * rng.integers(2)
    else:
        theta = rng.uniform(0, 2 * np.pi)
    return np.array([np.sin(theta), np.cos(theta)])


def _camera_geometry(clock: np.ndarray, tilt: float, rotation: float, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame rotation angles and zoom factors of the camera, at the scene times `clock` (T,)."""
    return tilt + rotation * clock, np.exp(zoom * clock)


def _at(path: np.ndarray, clock: np.ndarray) -> np.ndarray:
    """Offsets `path` (T, 2), given at whole frames, at the scene times `clock` (T,): linear in between, and
    exactly `path` on a steady clock."""
    frames = np.arange(len(path))
    return np.stack([np.interp(clock, frames, path[:, axis]) for axis in range(path.shape[1])], axis=1)


def _view_bounds(
    height: int, width: int, angles: np.ndarray, zooms: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest (y, x) scene point any frame shows, in output pixels relative to the start centre."""
    corners = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]]) * np.array([height, width]) / 2
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    y = (cos * corners[:, 0] - sin * corners[:, 1]) / zooms[:, None] + offsets[:, :1]
    x = (sin * corners[:, 0] + cos * corners[:, 1]) / zooms[:, None] + offsets[:, 1:]
    return np.array([y.min(), x.min()]), np.array([y.max(), x.max()])


_PREVIEW_STEPS = np.linspace(-1.0, 1.0, 8)


def _preview_std(name: str, centre: np.ndarray, half: np.ndarray, scale: float) -> float:
    """Standard deviation of an 8x8 nearest-neighbour sample of a photo region: a cheap flatness test."""
    luma = _luma(name)
    ys = np.clip((centre[0] + _PREVIEW_STEPS * (half[0] * scale)).astype(np.intp), 0, luma.shape[0] - 1)
    xs = np.clip((centre[1] + _PREVIEW_STEPS * (half[1] * scale)).astype(np.intp), 0, luma.shape[1] - 1)
    return float(luma[ys[:, None], xs[None, :]].std())


def _pick_place(
    rng: np.random.Generator, name: str, low: np.ndarray, high: np.ndarray, half: np.ndarray, scale: float
) -> np.ndarray:
    """A photo point (y, x) uniform in [low, high], redrawn a few times while the region around it is flat."""
    # all candidates are drawn up front, so that the random stream does not depend on the photo's content
    candidates = rng.uniform(low, np.maximum(high, low), size=(4, 2))
    stds = []
    for centre in candidates:
        stds.append(_preview_std(name, centre, half, scale))
        if stds[-1] >= FLAT_STD:
            return centre
    return candidates[int(np.argmax(stds))]


class MovingScenesGenerator:
    """Sequences of natural motion, addressed by index, seeded like Moving MNIST: the same (seed, epoch, index)
    always gives the same sequence; set_epoch(e) gives fresh sequences for training epochs."""

    def __init__(
        self,
        split: str,
        *,
        frames: int,
        height: int = 64,
        width: int = 64,
        channels: int = 1,
        seed: int = 0,
        held_frames: float = 0.0,
        motion_stops: float = 0.0,
    ) -> None:
        split = "test" if split == "all" else split
        if split not in PHOTO_SPLITS:
            raise unknown_name("split", split, tuple(PHOTO_SPLITS))
        if channels not in (1, 3):
            raise UsageError(f"moving scenes have 1 or 3 channels, not {channels}", "use 1 (grey) or 3 (RGB)")
        if min(height, width) < MIN_SIZE:
            raise UsageError(
                f"a {height}x{width} frame is too small for moving scenes", f"use frames of at least {MIN_SIZE}px"
            )
        if frames < 1:
            raise UsageError(f"a sequence needs at least one frame, not {frames}", "use --frames 1 or more")
        if seed < 0:
            raise UsageError(f"the seed must not be negative, not {seed}", "use a seed of 0 or more")
        if not 0.0 <= held_frames <= 1.0:
            raise UsageError(f"the share of held-frame scenes must be in [0, 1], not {held_frames}", "use 0.15")
        if not 0.0 <= motion_stops <= 1.0:
            raise UsageError(f"the share of scenes whose motion stops must be in [0, 1], not {motion_stops}", "use 0.3")
        self.held_frames = held_frames
        self.motion_stops = motion_stops
        self.split = split
        self.photos = PHOTO_SPLITS[split]
        self.frames, self.height, self.width, self.channels = frames, height, width, channels
        self.seed = seed
        self.epoch = 0
        self._split_number = tuple(PHOTO_SPLITS).index(split)
        # pixels per frame scale with the frame: the same scene at 128x128 moves twice as many pixels
        self._unit = math.sqrt(height * width) / 64

    def set_epoch(self, epoch: int) -> None:
        """Training draws fresh sequences each epoch; validation and test keep epoch 0."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> np.ndarray:
        """Sequence `index`: uint8 (frames, height, width, channels)."""
        scene, rng = self._draw(index)
        video = _render(scene, rng, self.frames, self.height, self.width, self.channels)
        phase = self._hold_phase(index)
        if phase is not None:  # frame t shows the content of frame (t + phase) // 2: each one twice
            video = video[(np.arange(self.frames) + phase) // 2]
        return video

    def _hold_phase(self, index: int) -> int | None:
        """Whether sequence `index` holds each frame twice (None: no), and if so whether its first frame is the
        second of a pair (1) or the first (0).

        Real files often do: a 15 fps source in a 30 fps file repeats every frame, and a model that reads the
        last two frames takes a step to the next content frame for motion twice as fast (results page). The draw
        comes from a stream of its own, so that scenes with `held_frames` 0 are exactly those drawn without it.
        """
        if not self.held_frames:
            return None
        rng = np.random.default_rng((self.seed, self.epoch, index, self._split_number, HOLD_STREAM))
        return int(rng.integers(2)) if rng.random() < self.held_frames else None

    def _clock(self, index: int) -> tuple[np.ndarray, str | None]:
        """Scene time at each frame of sequence `index`, and how it changes pace: None (steady), "stop" (eases
        to rest or to a crawl) or "start" (from rest). From a stream of its own, like `_hold_phase`."""
        steady = np.arange(self.frames, dtype=float)
        if not self.motion_stops or self.frames < 2:
            return steady, None
        rng = np.random.default_rng((self.seed, self.epoch, index, self._split_number, CLOCK_STREAM))
        if rng.random() >= self.motion_stops:
            return steady, None
        kind = "stop" if rng.random() < 0.5 else "start"
        low = 0.0 if rng.random() < 0.5 else float(rng.uniform(*CRAWL_SPEED))
        change = int(rng.integers(1, self.frames))  # the first step (frame t-1 to t) that changes pace
        ease = int(rng.integers(EASE_STEPS[0], EASE_STEPS[1] + 1))
        steps = np.arange(1, self.frames)
        done = np.clip((steps - change + 1) / (ease + 1), 0.0, 1.0)  # 0 before the change, 1 once eased in
        pace = 1.0 - (1.0 - low) * done if kind == "stop" else low + (1.0 - low) * done
        return np.concatenate([[0.0], np.cumsum(pace)]), kind

    def describe(self, index: int) -> dict[str, Any]:
        """What sequence `index` shows, without rendering it: photos, motion, and the image statistics drawn."""
        scene, _ = self._draw(index)
        return {
            "photos": [scene.photo, *(o.photo for o in scene.objects)],
            "background": scene.photo,
            "objects": [o.photo for o in scene.objects],
            "still": scene.still,
            "camera_speed": math.hypot(*scene.pan),
            "object_speeds": [o.speed for o in scene.objects],
            "zoom": scene.zoom,
            "rotation": scene.rotation,
            "shake": scene.shake_std,
            "wandering_objects": sum(bool(o.wander.any()) for o in scene.objects),
            "drift": scene.drift,
            "noise": scene.noise,
            "blur": scene.blur,
            "contrast": scene.contrast,
            "held_frames": self._hold_phase(index) is not None,
            "motion_stops": self._clock(index)[1],
        }

    # ------------------------------------------------------------------------------------------ drawing a scene

    def _rng(self, index: int) -> np.random.Generator:
        if index < 0:
            raise IndexError(f"sequence index {index} is negative")
        return np.random.default_rng((self.seed, self.epoch, index, self._split_number))

    def _speed(self, rng: np.random.Generator) -> float:
        return _log_uniform(rng, *SPEED_RANGE) * self._unit

    def _draw(self, index: int) -> tuple[_Scene, np.random.Generator]:
        """The scene of sequence `index`, and the generator (already advanced) that will draw its noise."""
        rng = self._rng(index)
        still = bool(rng.random() < STILL_SHARE)
        photo = str(rng.choice(self.photos))
        count = int(rng.choice(len(OBJECT_COUNT_P), p=OBJECT_COUNT_P))
        pan, zoom, rotation, shake_std = self._camera_motion(rng, still, moving_objects=count > 0)
        shake = self._shake(rng, shake_std)
        if pan.any() and rng.random() < WANDER_SHARE:  # a hand-held pan: its speed and direction wander
            shake = shake + self._wander(rng, float(np.hypot(*pan)))
            if rng.random() < JITTER_SHARE:
                pan = np.zeros(2)  # a held camera: it jitters around one place
        tilt = float(rng.uniform(-0.08, 0.08))
        flip = float(rng.choice((-1.0, 1.0)))
        clock, _ = self._clock(index)
        shake = _at(shake, clock)
        angles, zooms = _camera_geometry(clock, tilt, rotation, zoom)
        offsets = clock[:, None] * pan + shake
        low, high = _view_bounds(self.height, self.width, angles, zooms, offsets)
        scale, centre = self._place_view(rng, photo, low, high, flip)
        others = [p for p in self.photos if p != photo]
        objects = tuple(self._object(rng, str(rng.choice(others)), still) for _ in range(count))
        drift = 0.0
        if not still and rng.random() < DRIFT_SHARE:
            drift = _log_uniform(rng, 0.002, 0.01) * rng.choice((-1.0, 1.0))
        noise = float(rng.uniform(*NOISE_STD)) if rng.random() < NOISE_SHARE else 0.0
        cast = np.exp(rng.normal(0.0, 0.03, 3))
        scene = _Scene(
            photo=photo,
            still=still,
            scale=scale,
            centre=centre,
            flip=flip,
            tilt=tilt,
            pan=(float(pan[0]), float(pan[1])),
            zoom=zoom,
            rotation=rotation,
            shake=shake,
            shake_std=shake_std,
            objects=objects,
            contrast=float(rng.uniform(*CONTRAST_RANGE)),
            mean=float(rng.uniform(*MEAN_RANGE)),
            drift=float(drift),
            blur=float(rng.uniform(0.0, BLUR_MAX)),
            noise=noise,
            cast=(cast / (cast @ LUMA)).astype(np.float32),
            clock=clock,
        )
        return scene, rng

    def _camera_motion(
        self, rng: np.random.Generator, still: bool, *, moving_objects: bool
    ) -> tuple[np.ndarray, float, float, float]:
        """Pan velocity (y, x), log-zoom and rotation per frame, shake std; all zero in a still scene."""
        pan, zoom, rotation, shake = np.zeros(2), 0.0, 0.0, 0.0
        if still:
            return pan, zoom, rotation, shake
        radius = 0.5 * math.sqrt(self.height * self.width)
        span = max(self.frames - 1, 1)
        # zooms and rotations are given by how fast the frame's edge moves, and capped over long sequences
        if rng.random() < 0.2:
            zoom = rng.choice((-1.0, 1.0)) * min(_log_uniform(rng, 0.08, 1.0) * self._unit / radius, 0.5 / span)
        if rng.random() < 0.15:
            rotation = rng.choice((-1.0, 1.0)) * min(_log_uniform(rng, 0.08, 0.6) * self._unit / radius, 0.4 / span)
        if rng.random() < 0.2:
            shake = _log_uniform(rng, 0.05, 0.4) * self._unit
        # a moving scene with nothing else moving gets a pan, so that it does move
        if rng.random() < 0.5 or not (moving_objects or zoom or rotation or shake):
            pan = self._speed(rng) * _direction(rng, horizontal_share=0.6)
        return pan, float(zoom), float(rotation), float(shake)

    def _shake(self, rng: np.random.Generator, std: float) -> np.ndarray:
        """Camera offsets (T, 2): an AR(1) walk, so shake jitters but is not white."""
        offsets = np.zeros((self.frames, 2))
        if std == 0.0:
            return offsets
        rho = 0.6
        steps = rng.normal(0.0, std, (self.frames, 2))
        offsets[0] = steps[0]
        for t in range(1, self.frames):
            offsets[t] = rho * offsets[t - 1] + math.sqrt(1 - rho**2) * steps[t]
        return offsets - offsets[0]

    def _wander(self, rng: np.random.Generator, speed: float) -> np.ndarray:
        """Offsets (T, 2) from a constant-velocity path whose velocity wanders: an AR(1) walk of the velocity
        around the drawn one, summed into positions (0 at frame 0)."""
        std = speed * rng.uniform(*WANDER_STD)
        steps = rng.normal(0.0, std, (self.frames, 2))
        velocity = np.zeros((self.frames, 2))
        for t in range(1, self.frames):
            velocity[t] = WANDER_RHO * velocity[t - 1] + math.sqrt(1 - WANDER_RHO**2) * steps[t]
        return np.cumsum(velocity, axis=0)

    def _place_view(
        self, rng: np.random.Generator, photo: str, low: np.ndarray, high: np.ndarray, flip: float
    ) -> tuple[float, tuple[float, float]]:
        """Scale (photo pixels per output pixel) and start centre so that every frame stays inside the photo."""
        size = np.array(_luma(photo).shape, dtype=float)
        scale = _log_uniform(rng, *VIEW_FRACTION) * size.min() / min(self.height, self.width)
        extent = np.maximum(high - low, 1e-6)
        # long fast pans may not fit at the drawn scale: zoom in until they do (border padding beyond 0.25)
        scale = max(min(max(scale, MIN_SCALE), 0.98 * float((size / extent).min())), 0.25)
        if flip < 0:
            low, high = np.array([low[0], -high[1]]), np.array([high[0], -low[1]])
        half = np.array([self.height, self.width]) / 2
        centre = _pick_place(rng, photo, -scale * low, size - scale * high, half, scale)
        return scale, (float(centre[0]), float(centre[1]))

    def _object(self, rng: np.random.Generator, photo: str, still: bool) -> _Object:
        """A cut-out of `photo` somewhere in the frame, still in a still scene."""
        short = min(self.height, self.width)
        a = _log_uniform(rng, 0.1, 0.33) * short
        axes = (a, a * float(rng.uniform(0.55, 1.0)))
        wobble = np.stack([rng.uniform(0.0, 0.12, 3) / np.arange(1, 4), rng.uniform(0, 2 * np.pi, 3)], axis=1)
        size = np.array(_luma(photo).shape, dtype=float)
        reach = axes[0] * REACH
        scale = _log_uniform(rng, *VIEW_FRACTION) * size.min() / short
        scale = min(max(scale, MIN_SCALE), 0.45 * size.min() / reach)
        source = _pick_place(rng, photo, np.full(2, scale * reach), size - scale * reach, np.array(axes), scale)
        velocity = np.zeros(2) if still else self._speed(rng) * _direction(rng)
        wanders = not still and rng.random() < WANDER_SHARE
        wander = self._wander(rng, float(np.hypot(*velocity))) if wanders else np.zeros((self.frames, 2))
        if wanders and rng.random() < JITTER_SHARE:
            velocity = np.zeros(2)  # it jitters in place
        # centred on a random point of the frame halfway through, so that it is seen most of the sequence
        middle = rng.uniform(0.15, 0.85, 2) * np.array([self.height, self.width])
        start = middle - velocity * (self.frames - 1) / 2
        return _Object(
            photo=photo,
            source=(float(source[0]), float(source[1])),
            scale=float(scale),
            flip=float(rng.choice((-1.0, 1.0))),
            axes=axes,
            angle=float(rng.uniform(0, np.pi)),
            wobble=wobble,
            edge=float(rng.uniform(0.7, 2.0)),
            start=(float(start[0]), float(start[1])),
            velocity=(float(velocity[0]), float(velocity[1])),
            wander=wander,
        )


# ------------------------------------------------------------------------------------------------- rendering


def _render(scene: _Scene, rng: np.random.Generator, frames: int, height: int, width: int, channels: int) -> np.ndarray:
    """Render a scene: uint8 (frames, height, width, channels)."""
    canvas = _background(scene, frames, height, width, channels)  # (C, T, f*H, f*W)
    for obj in scene.objects:
        _composite(canvas, *_object_frames(obj, scene.clock, channels))
    video = _halve(canvas)
    if scene.blur > 0.15:  # below that the kernel is a delta
        from scipy.ndimage import gaussian_filter1d

        video = gaussian_filter1d(video, scene.blur, axis=-1, truncate=3.0)
        video = gaussian_filter1d(video, scene.blur, axis=-2, truncate=3.0)
    video = _finish(video, scene, rng)
    return np.ascontiguousarray(video.transpose(1, 2, 3, 0))


#: How photos are sampled at render size: bicubic keeps edges as sharp at every sub-pixel position (bilinear
#: sampling blurs most half-way between pixels, so a pan's sharpness would flicker frame to frame).
SAMPLING = "bicubic"


def _sample(image: torch.Tensor, grid: np.ndarray) -> np.ndarray:
    """Bicubic samples of `image` (1, C, h, w) at normalised `grid` (rows, cols, 2): float32 (C, rows, cols)."""
    import torch
    import torch.nn.functional as F

    out = F.grid_sample(image, torch.from_numpy(grid)[None], mode=SAMPLING, padding_mode="border", align_corners=False)
    return out[0].numpy()


def _background(scene: _Scene, frames: int, height: int, width: int, channels: int) -> np.ndarray:
    """The camera's view of the background photo at render size: float32 (C, T, f*H, f*W)."""
    f = RENDER_SCALE
    rows, cols = f * height, f * width
    levels = _pyramid(scene.photo, channels)
    level = _level(scene.scale / f, len(levels))
    image = levels[level]
    # normalised grid coordinates of a level-0 photo point p: p * k + (k / 2 - 1), where k = 2 / (level size * 2^L)
    k = 2.0 / (np.array(image.shape[2:], dtype=float) * 2**level)
    angles, zooms = _camera_geometry(scene.clock, scene.tilt, scene.rotation, scene.zoom)
    offsets = scene.clock[:, None] * np.array(scene.pan) + scene.shake
    cos, sin = np.cos(angles) / zooms, np.sin(angles) / zooms
    s = scene.scale
    # photo_y = cy + s * (cos*y - sin*x + oy); photo_x = cx + s * flip * (sin*y + cos*x + ox), (y, x) from the centre
    coef_y = np.stack([cos, -sin, scene.centre[0] + s * offsets[:, 0]], axis=1) * np.array([s, s, 1.0])
    coef_x = np.stack([sin, cos, scene.centre[1] / (s * scene.flip) + offsets[:, 1]], axis=1) * (s * scene.flip)
    y = ((np.arange(rows) + 0.5) / f - height / 2).astype(np.float32)
    x = ((np.arange(cols) + 0.5) / f - width / 2).astype(np.float32)
    grid = np.empty((frames, rows, cols, 2), dtype=np.float32)
    for axis, coef, kk in ((0, coef_x, k[1]), (1, coef_y, k[0])):  # grid_sample wants (x, y)
        c = (coef * kk + np.array([0.0, 0.0, kk / 2 - 1])).astype(np.float32)
        np.add((c[:, 0, None] * y + c[:, 2, None])[:, :, None], (c[:, 1, None] * x)[:, None, :], out=grid[..., axis])
    return _sample(image, grid.reshape(frames * rows, cols, 2)).reshape(channels, frames, rows, cols)


def _object_patch(obj: _Object, channels: int) -> tuple[np.ndarray, int]:
    """The cut-out at render size, alpha-premultiplied: float32 (C + 1, P, P) with alpha last, and its radius R."""
    f = RENDER_SCALE
    radius = math.ceil(f * obj.axes[0] * REACH) + 2
    d = (np.arange(-radius, radius + 1) / f).astype(np.float32)  # output pixels from the centre
    levels = _pyramid(obj.photo, channels)
    level = _level(obj.scale / f, len(levels))
    image = levels[level]
    k = 2.0 / (np.array(image.shape[2:], dtype=float) * 2**level)
    gy = (obj.source[0] + obj.scale * d) * k[0] + (k[0] / 2 - 1)
    gx = (obj.source[1] + obj.scale * obj.flip * d) * k[1] + (k[1] / 2 - 1)
    grid = np.stack(np.broadcast_arrays(gx[None, :], gy[:, None]), axis=-1).astype(np.float32)
    colour = _sample(image, grid)
    alpha = _blob_alpha(obj, d)
    return np.concatenate([colour * alpha, alpha[None]], axis=0), radius


def _blob_alpha(obj: _Object, d: np.ndarray) -> np.ndarray:
    """Soft mask of a wobbly ellipse on the grid `d` x `d` (output pixels from the centre): float32 (P, P)."""
    cos, sin = math.cos(obj.angle), math.sin(obj.angle)
    u = (cos * d[None, :] + sin * d[:, None]) / obj.axes[0]
    v = (-sin * d[None, :] + cos * d[:, None]) / obj.axes[1]
    rho = np.hypot(u, v)
    theta = np.arctan2(v, u)
    boundary = 1.0 + sum(amp * np.cos((n + 2) * theta + phase) for n, (amp, phase) in enumerate(obj.wobble))
    inside = (boundary - rho) * (obj.axes[1] * RENDER_SCALE)  # roughly a signed distance in render pixels
    return np.clip(0.5 + inside / obj.edge, 0.0, 1.0).astype(np.float32)


def _object_frames(obj: _Object, clock: np.ndarray, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """The patch shifted by each frame's sub-pixel offset, (T, C + 1, P + 1, P + 1), and integer corners (T, 2),
    at the scene times `clock` (T,)."""
    patch, radius = _object_patch(obj, channels)
    path = clock[:, None] * np.array(obj.velocity) + _at(obj.wander, clock)
    centre = (np.array(obj.start) + path) * RENDER_SCALE - 0.5  # render px
    corner = centre - radius
    whole = np.floor(corner)
    frac = (corner - whole).astype(np.float32)
    return _shift(patch, frac), whole.astype(int)


def _shift(patch: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """The patch (C, P, P) moved down and right by each frame's sub-pixel `frac` (T, 2): (T, C, P + 1, P + 1).

    Cubic, one axis after the other: bilinear shifting blurs by an amount that depends on the fraction (none at 0,
    most at 0.5), so the sharpness of a moving object would flicker from frame to frame, which real video does not
    do and a model would learn to hedge against by blurring.
    """
    import torch

    from framecast.models.layers import cubic_weights

    size = patch.shape[-1] + 1
    padded = torch.from_numpy(np.pad(patch, ((0, 0), (2, 2), (2, 2))))[None]  # (1, C, P + 4, P + 4)
    # output pixel i samples the patch at i - frac = (i - 1) + (1 - frac): the taps i - 2 .. i + 1 of the padded
    # patch's j .. j + 3, weighted as a point 1 - frac past pixel i - 1, one weight (T, 1, 1, 1) per tap
    wy, wx = (cubic_weights(torch.from_numpy(1 - frac[:, axis]).view(-1, 1, 1, 1)) for axis in (0, 1))
    rows = sum(w * padded[:, :, j : j + size, :] for j, w in enumerate(wy))  # (T, C, P + 1, P + 4)
    return sum(w * rows[..., j : j + size] for j, w in enumerate(wx)).numpy()


def _composite(canvas: np.ndarray, patches: np.ndarray, corners: np.ndarray) -> None:
    """Lay shifted cut-outs (T, C + 1, P, P) at integer `corners` (T, 2) over the canvas (C, T, rows, cols), in
    place, frame by frame (the "over" operator: what is laid later hides what was there)."""
    size = patches.shape[-1]
    rows, cols = canvas.shape[2:]
    for t in range(len(patches)):
        y0, x0 = corners[t]
        top, left = max(y0, 0), max(x0, 0)
        bottom, right = min(y0 + size, rows), min(x0 + size, cols)
        if bottom <= top or right <= left:
            continue  # out of view in this frame
        patch = patches[t, :, top - y0 : bottom - y0, left - x0 : right - x0]
        region = canvas[:, t, top:bottom, left:right]
        region *= 1.0 - patch[-1]
        region += patch[:-1]


def _finish(video: np.ndarray, scene: _Scene, rng: np.random.Generator) -> np.ndarray:
    """Contrast, brightness drift, colour cast, noise and quantisation: uint8 (C, T, H, W)."""
    colour = video.shape[0] == 3
    luma = np.tensordot(LUMA, video, axes=1) if colour else video[0]
    mean, std = float(luma[0].mean()), float(luma[0].std())
    # one gain for the whole sequence, from frame 0: brightness changes over time must survive it
    gain = float(np.clip(scene.contrast / max(std, 1e-6), 0.3, 6.0))
    if colour:
        # the gain stretches luma only: stretching colour as much would clip saturated channels (a red cup
        # loses its detail) and make flat crops garish, so colour differences are at most kept as they are
        chroma_gain = min(gain, 1.0)
        out = video * chroma_gain
        out += (gain - chroma_gain) * luma
    else:
        out = video * gain
    frames = video.shape[1]
    drift = np.clip(1.0 + scene.drift * np.arange(frames), 0.6, 1.4)[None, :, None, None]
    scale = drift * scene.cast[:, None, None, None] if colour else drift
    # out = ((stretched - gain * mean + target mean) * scale) * 255 + 0.5 (rounding), in as few passes as possible
    scale = (scale * 255.0).astype(np.float32)
    out *= scale
    out += (scene.mean - gain * mean) * scale + np.float32(0.5)
    if scene.noise:
        out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(scene.noise * 255.0)
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.uint8)
