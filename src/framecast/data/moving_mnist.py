"""Moving MNIST, generated on the fly, vectorised and seeded.

Follows the construction of the original data set (Srivastava et al., 2015): each sequence has two 28x28 MNIST
digits on a 64x64 canvas; each digit starts at a uniform random position with a uniform random direction and
moves 0.1 of the free canvas (3.6 px) per frame, bouncing off the edges; overlapping digits combine with max.

Every random number comes from a numpy Generator seeded with (seed, epoch, chunk), so the same seed gives the
same sequences, on any machine, in any number of data-loader workers.
"""

from __future__ import annotations

import numpy as np

#: Sequences generated together: large enough to amortise numpy's per-call cost, small enough to stay in cache.
CHUNK = 256
#: Above this many canvas bytes a chunk is not made: each sequence is rendered alone. The index arrays of a render
#: take 8 bytes a digit pixel, so a chunk of 5,000-frame sequences would need some 15 GB.
CHUNK_BYTES = 64 * 2**20


def trajectories(
    starts: tuple[np.ndarray, np.ndarray, np.ndarray], frames: int, free: int, step: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of bouncing digits, from their starts: y, x in [0, 1) and direction theta, each (n, digits).

    Returns:
        rows, cols: int arrays (n, frames, digits) in [0, free].
    """
    y, x, theta = starts
    vy, vx = np.sin(theta), np.cos(theta)
    ys = np.empty((y.shape[0], frames, y.shape[1]))  # (n, frames, digits)
    xs = np.empty_like(ys)
    for t in range(frames):  # a loop over frames only; every sequence and digit moves at once
        y = y + vy * step
        x = x + vx * step
        # bounce: reflect the velocity and clamp the position at each wall
        low_y, high_y, low_x, high_x = y <= 0, y >= 1, x <= 0, x >= 1
        vy = np.where(low_y | high_y, -vy, vy)
        vx = np.where(low_x | high_x, -vx, vx)
        y = np.clip(y, 0.0, 1.0)
        x = np.clip(x, 0.0, 1.0)
        ys[:, t], xs[:, t] = y, x
    return (ys * free).astype(np.intp), (xs * free).astype(np.intp)


def generate(
    digit_images: np.ndarray,
    n: int,
    *,
    frames: int = 20,
    size: int = 64,
    digits: int = 2,
    rng: np.random.Generator,
    keep: slice = slice(None),
) -> np.ndarray:
    """Generate `n` Moving MNIST sequences.

    Args:
        digit_images: uint8 (K, h, w) digits to draw from (uniformly, with replacement).
        n: how many sequences.
        frames: frames per sequence.
        size: canvas side in pixels.
        digits: digits per sequence.
        rng: the source of randomness.
        keep: which of the `n` sequences to render. Every sequence is drawn all the same (its digits, start and
            direction), so a sequence comes out the same whether rendered alone or with the others; rendering
            one alone costs 1/n of the memory (a long sequence for `predict --horizon 5000` fits).

    Returns:
        uint8 array (n, frames, size, size), or the kept sequences only.
    """
    k, h, w = digit_images.shape
    if h > size or w > size:
        raise ValueError(f"digits of {h}x{w} do not fit a {size}x{size} canvas")
    picks = rng.integers(0, k, size=(n, digits))
    starts = (rng.random((n, digits)), rng.random((n, digits)), rng.random((n, digits)) * 2 * np.pi)
    picks, starts = picks[keep], tuple(a[keep] for a in starts)
    return render(digit_images, picks, trajectories(starts, frames, size - max(h, w)), size)


def render(
    digit_images: np.ndarray, picks: np.ndarray, corners: tuple[np.ndarray, np.ndarray], size: int
) -> np.ndarray:
    """uint8 (n, T, size, size) canvases with digit `picks[i, d]` at `corners` (rows, cols: (n, T, digits))."""
    rows, cols = corners
    n, frames, digits = rows.shape
    _, h, w = digit_images.shape
    canvas = np.zeros(n * frames * size * size, dtype=np.uint8)  # flat: one int index per pixel is fastest
    # Flat offsets that place a digit's h x w pixels at its corner, for every sequence and frame at once.
    base = (np.arange(n * frames, dtype=np.intp) * (size * size)).reshape(n, frames, 1, 1)  # (n, T, 1, 1)
    within = (np.arange(h)[:, None] * size + np.arange(w)[None, :]).astype(np.intp)  # (h, w)
    for d in range(digits):  # one digit per pass: within a pass no two writes hit the same pixel
        corner = (rows[:, :, d] * size + cols[:, :, d])[:, :, None, None]  # (n, T, 1, 1)
        index = base + corner + within  # (n, T, h, w)
        patch = digit_images[picks[:, d]][:, None]  # (n, 1, h, w), the same digit in every frame
        if d == 0:  # the canvas is still blank
            canvas[index] = patch
        else:
            canvas[index] = np.maximum(canvas[index], patch)
    return canvas.reshape(n, frames, size, size)


class MovingMNISTGenerator:
    """Sequences addressed by index: sequence i of an epoch is always the same for the same seed.

    Sequences are made CHUNK at a time and the last chunk is kept, so reading indices in order (as a training
    loader does: every sequence is random anyway, there is nothing to shuffle) costs one vectorised call per
    CHUNK sequences.
    """

    def __init__(
        self, digit_images: np.ndarray, *, frames: int = 20, size: int = 64, digits: int = 2, seed: int = 0
    ) -> None:
        self.digit_images = np.ascontiguousarray(digit_images)
        self.frames = frames
        self.size = size
        self.digits = digits
        self.seed = seed
        self.epoch = 0
        self._cached: tuple[tuple[int, int], np.ndarray] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Training draws fresh sequences each epoch; validation and test keep epoch 0."""
        self.epoch = epoch

    def chunk(self, index: int) -> np.ndarray:
        """The chunk of CHUNK sequences numbered `index`, uint8 (CHUNK, T, size, size)."""
        key = (self.epoch, index)
        if self._cached is None or self._cached[0] != key:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            seqs = generate(self.digit_images, CHUNK, frames=self.frames, size=self.size, digits=self.digits, rng=rng)
            self._cached = (key, seqs)
        return self._cached[1]

    def __getitem__(self, i: int) -> np.ndarray:
        """Sequence `i`: uint8 (T, size, size)."""
        if CHUNK * self.frames * self.size**2 > CHUNK_BYTES:  # long sequences: each one alone, the same frames
            return self.sequence(i)
        return self.chunk(i // CHUNK)[i % CHUNK]

    def sequence(self, i: int) -> np.ndarray:
        """Sequence `i` rendered alone (its chunk's draws, one canvas): uint8 (T, size, size)."""
        rng = np.random.default_rng([self.seed, self.epoch, i // CHUNK])
        return generate(
            self.digit_images, CHUNK, frames=self.frames, size=self.size, digits=self.digits, rng=rng,
            keep=slice(i % CHUNK, i % CHUNK + 1),
        )[0]  # fmt: skip
