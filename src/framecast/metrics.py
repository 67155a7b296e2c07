"""Frame metrics, defined once: MSE, MAE, PSNR and SSIM, in torch, batched, on the tensors' device.

Predictions and targets are ``(B, T, C, H, W)`` floats in [0, 1] (any leading shape works: the last three
dimensions are one frame) and are compared frame by frame, giving ``(B, T)`` values:

- ``mse``: the *sum* over the pixels (and channels) of one frame of the squared error, the scale of the published
  Moving MNIST tables; ``mse_pixel``: the per-pixel mean.
- ``mae``, ``mae_pixel``: the same for the absolute error.
- ``psnr``: ``10 log10(1 / mse_pixel)`` (data range 1), capped at :data:`PSNR_CAP` dB for a perfect frame.
- ``accuracy``: the share of pixels on the same side of 0.5 in prediction and target (frames thresholded at 0.5,
  then compared), as one of the designs this tool follows reports it; most telling on Moving MNIST's nearly binary
  frames.
- ``ssim``: scikit-image's ``structural_similarity(a, b, data_range=1)`` with its defaults: a 7x7 uniform window,
  sample covariance, K1 0.01, K2 0.03, averaged over the region the window fits in entirely. A frame with
  channels is the mean of its channels' SSIM, as scikit-image gives with ``channel_axis``. Published tables that
  fed floats to older scikit-image used a data range of 2, which inflates SSIM: compare with care.

:class:`MetricAccumulator` averages them over a dataset, batch by batch, overall and per horizon step, in memory
that does not grow with the dataset. These are scores, not losses: nothing here keeps a gradient.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch

#: Every metric, in the order reports show them.
METRICS: tuple[str, ...] = ("mse", "mse_pixel", "mae", "mae_pixel", "psnr", "ssim", "accuracy")

#: Pixels at or above this count as "on" for `accuracy` (digits are white on black).
ACCURACY_THRESHOLD = 0.5

#: PSNR of a perfect frame, in dB (instead of infinity, which would poison every average it enters).
PSNR_CAP = 100.0

#: SSIM window side and constants: scikit-image's defaults.
SSIM_WINDOW = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03

# The smallest squared error per pixel that PSNR tells apart: 10 log10(1 / 1e-10) is exactly the cap.
_MSE_FLOOR = 10.0 ** (-PSNR_CAP / 10.0)


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run the metrics' many small operations on one CPU thread, then restore torch's thread count.

    They are memory-bound: a second thread made SSIM of 64x64 frames no faster on a quiet 2-core machine (about
    29 us per frame either way), while on a busy one every operation waited for a descheduled thread and SSIM
    ran up to 75 times slower. One thread is never much slower and never collapses. The thread count is
    process-wide, so another Python thread running torch meanwhile also runs on one thread for that time.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _check(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Same shape, at least (C, H, W); computed in float32, or float64 when given float64."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if pred.dim() < 3:
        raise ValueError(f"frames must be (..., C, H, W), got shape {tuple(pred.shape)}")
    dtype = torch.float64 if torch.float64 in (pred.dtype, target.dtype) else torch.float32
    return pred.detach().to(dtype), target.detach().to(dtype)


@torch.no_grad()
def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame sum over pixels and channels of the squared error.

    Args:
        pred: predictions, (..., C, H, W) in [0, 1].
        target: ground truth, the same shape.

    Returns:
        One value per frame, shape (...), such as (B, T).
    """
    pred, target = _check(pred, target)
    return (pred - target).square_().sum((-3, -2, -1))


@torch.no_grad()
def mse_pixel(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame mean over pixels and channels of the squared error; shapes as :func:`mse`."""
    pred, target = _check(pred, target)
    return (pred - target).square_().mean((-3, -2, -1))


@torch.no_grad()
def mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame sum over pixels and channels of the absolute error; shapes as :func:`mse`."""
    pred, target = _check(pred, target)
    return (pred - target).abs_().sum((-3, -2, -1))


@torch.no_grad()
def mae_pixel(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame mean over pixels and channels of the absolute error; shapes as :func:`mse`."""
    pred, target = _check(pred, target)
    return (pred - target).abs_().mean((-3, -2, -1))


def _psnr_from_mse_pixel(value: torch.Tensor) -> torch.Tensor:
    return -10.0 * torch.log10(value.clamp_min(_MSE_FLOOR))


@torch.no_grad()
def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame PSNR in dB, data range 1, capped at :data:`PSNR_CAP`; shapes as :func:`mse`."""
    return _psnr_from_mse_pixel(mse_pixel(pred, target))


def _window_sum(src: torch.Tensor, scratch: torch.Tensor, out: torch.Tensor, step: int, n: int, win: int) -> None:
    """out[i] = src[i] + src[i + step] + ... + src[i + (win - 1) step] for i < n, for a window of 3, 5 or 7.

    The buffers are flat and contiguous, so every addition is one contiguous pass (what CPUs and GPUs do fastest),
    and sums of pairs keep a window of 7 to four passes. `src` must hold n + (win - 1) step elements; `scratch`
    is overwritten.
    """
    length = n + (win - 3) * step  # as far as the pair sums are read below
    pairs = scratch[:length]
    torch.add(src[:length], src[step : step + length], out=pairs)  # pairs[i] = src[i] + src[i + step]
    window = out[:n]
    if win == 3:
        torch.add(pairs[:n], src[2 * step : 2 * step + n], out=window)
        return
    torch.add(pairs[:n], pairs[2 * step : 2 * step + n], out=window)  # 4 elements
    if win == 7:
        window.add_(pairs[4 * step : 4 * step + n])  # 6 elements
    window.add_(src[(win - 1) * step : (win - 1) * step + n])


@torch.no_grad()
def ssim(pred: torch.Tensor, target: torch.Tensor, *, chunk_pixels: int | None = None) -> torch.Tensor:
    """Per-frame SSIM, equal to scikit-image's ``structural_similarity(a, b, data_range=1)`` to about 1e-7.

    Frames with several channels give the mean of the channels' SSIM (scikit-image with ``channel_axis``).
    Frames smaller than 7 pixels on a side, which scikit-image refuses, use the largest odd window that fits.

    Args:
        pred: predictions, (..., C, H, W) in [0, 1].
        target: ground truth, the same shape.
        chunk_pixels: pixels of one map scored at once; the default suits the device (small enough on a CPU to
            stay in cache, large on a GPU). Scratch memory is about 12 floats per pixel of a chunk.

    Returns:
        One value per frame, shape (...), such as (B, T).

    Raises:
        ValueError: when shapes differ or frames are smaller than 3x3.
    """
    pred, target = _check(pred, target)
    *lead, channels, height, width = pred.shape
    win = min(SSIM_WINDOW, height, width)
    win -= 1 - win % 2  # odd, so the window has a centre, as scikit-image requires
    if win < 3:
        raise ValueError(f"SSIM needs frames of at least 3x3 pixels, got {height}x{width}")
    x = pred.reshape(-1, height, width)  # (M, H, W): every channel of every frame
    y = target.reshape(-1, height, width)
    frames = x.shape[0]
    result = torch.empty(frames, dtype=x.dtype, device=x.device)
    if frames == 0:
        return result.view(*lead, channels).mean(-1)
    plane = height * width
    if chunk_pixels is None:
        chunk_pixels = 2**18 if x.device.type == "cpu" else 2**22
    chunk = max(1, min(frames, chunk_pixels // plane))

    # Window sums, not means, all the way through: the 1/N factors cancel in the SSIM ratio once the constants
    # are scaled to match, which saves passes. With N pixels in a window and sums Sx, Sy, Sxx + Syy, Sxy:
    #   2 ux uy + C1        = (2 Sx Sy + N^2 C1) / N^2
    #   ux^2 + uy^2 + C1    = (Sx^2 + Sy^2 + N^2 C1) / N^2
    #   2 cov_xy + C2       = (2 r (N Sxy - Sx Sy) + N^2 C2) / N^2        r = N / (N - 1): sample covariance
    #   var_x + var_y + C2  = (r (N (Sxx + Syy) - Sx^2 - Sy^2) + N^2 C2) / N^2
    # and the 1/N^2 cancel in the ratio.
    n_win = float(win * win)
    r = n_win / (n_win - 1.0)
    c1 = (SSIM_K1 * n_win) ** 2  # N^2 C1, with data range 1
    c2 = (SSIM_K2 * n_win) ** 2
    # Four maps (x, y, r N (x^2 + y^2) + c2 / N, 2 r N xy + c2 / N) lie end to end in one flat buffer, so each
    # window sum is a contiguous pass over all of them. A window that runs off a row or a frame lands only in
    # cells that SSIM drops anyway (scikit-image averages only where the window fits), so frames never mix.
    # The scale and constant folded into the last two maps come out of the window sum as the terms above.
    tail = (win - 1) * (width + 1)  # the farthest a window reaches past the last cell
    size = 4 * chunk * plane + tail
    opts = {"dtype": x.dtype, "device": x.device}
    maps, scratch, summed = (torch.empty(size, **opts) for _ in range(3))
    # Cells past the maps are read (into dropped cells) but never written: zero them, since stray bit patterns
    # could be denormal floats, which are slow. Everything else is written before it is read.
    maps[4 * chunk * plane :].zero_()
    keep_h, keep_w = height - win + 1, width - win + 1
    c1_cell, c2_cell = torch.tensor(c1, **opts), torch.tensor(c2 / n_win, **opts)
    with _one_cpu_thread(x.device):
        for start in range(0, frames, chunk):
            xs, ys = x[start : start + chunk], y[start : start + chunk]
            m = xs.shape[0]
            n = 4 * m * plane
            mx, my, mss, mxy = maps[:n].view(4, m, height, width).unbind(0)
            mx.copy_(xs)
            my.copy_(ys)
            torch.addcmul(c2_cell, xs, xs, value=r * n_win, out=mss)
            mss.addcmul_(ys, ys, value=r * n_win)
            torch.addcmul(c2_cell, xs, ys, value=2.0 * r * n_win, out=mxy)
            _window_sum(maps, scratch, summed, 1, n + (win - 1) * width, win)  # along rows
            _window_sum(summed, scratch, maps, width, n, win)  # along columns
            sx, sy, b2, a2 = maps[:n].view(4, m, height, width).unbind(0)
            a1, b1 = scratch[: 2 * m * plane].view(2, m, height, width).unbind(0)
            torch.addcmul(c1_cell, sx, sy, value=2.0, out=a1)  # 2 Sx Sy + N^2 C1
            a2.addcmul_(sx, sy, value=-2.0 * r)  # 2 r (N Sxy - Sx Sy) + N^2 C2
            torch.addcmul(c1_cell, sx, sx, out=b1).addcmul_(sy, sy)  # Sx^2 + Sy^2 + N^2 C1
            b2.addcmul_(sx, sx, value=-r).addcmul_(sy, sy, value=-r)  # r (N (Sxx + Syy) - Sx^2 - Sy^2) + N^2 C2
            a1.mul_(a2).div_(b1.mul_(b2))  # the SSIM map
            result[start : start + m] = a1[:, :keep_h, :keep_w].mean((-2, -1))
    return result.view(*lead, channels).mean(-1)


def _error_sums(
    p: torch.Tensor, t: torch.Tensor, *, squared: bool, absolute: bool
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Per-frame sums of squared and of absolute error, from one difference per chunk of frames.

    Chunks keep the difference in cache between the two sums (one pass over the whole batch for each would read
    it from memory twice), the same reason SSIM works in chunks.
    """
    lead = p.shape[:-3]
    pixels = p.shape[-3] * p.shape[-2] * p.shape[-1]
    p, t = p.reshape(-1, pixels), t.reshape(-1, pixels)  # (frames, pixels)
    frames = p.shape[0]
    se = p.new_empty(frames) if squared else None
    ae = p.new_empty(frames) if absolute else None
    chunk = max(1, (2**18 if p.device.type == "cpu" else 2**24) // max(1, pixels))
    with _one_cpu_thread(p.device):
        for start in range(0, frames, chunk):
            diff = p[start : start + chunk] - t[start : start + chunk]
            if ae is not None:
                torch.sum(diff.abs(), dim=1, out=ae[start : start + chunk])
            if se is not None:
                torch.sum(diff.square_(), dim=1, out=se[start : start + chunk])
    return (
        se.view(lead) if se is not None else None,
        ae.view(lead) if ae is not None else None,
    )


def _names(metrics: Sequence[str]) -> tuple[str, ...]:
    from framecast.errors import unknown_name

    for name in metrics:
        if name not in METRICS:
            raise unknown_name("metric", name, METRICS)
    return tuple(metrics)


@torch.no_grad()
def frame_metrics(
    pred: torch.Tensor, target: torch.Tensor, metrics: Sequence[str] = METRICS
) -> dict[str, torch.Tensor]:
    """Several metrics at once, per frame, sharing the error computation.

    Args:
        pred: predictions, (B, T, C, H, W) (or any (..., C, H, W)) in [0, 1].
        target: ground truth, the same shape.
        metrics: which of :data:`METRICS` to compute.

    Returns:
        name -> per-frame values of shape (B, T), in the order asked, on the inputs' device.

    Raises:
        UsageError: for an unknown metric name.
        ValueError: when shapes differ.
    """
    names = _names(metrics)
    p, t = _check(pred, target)
    out: dict[str, torch.Tensor] = {}
    pixels = p.shape[-3] * p.shape[-2] * p.shape[-1]
    squared, absolute = bool({"mse", "mse_pixel", "psnr"} & set(names)), bool({"mae", "mae_pixel"} & set(names))
    if squared or absolute:
        se, ae = _error_sums(p, t, squared=squared, absolute=absolute)
        if se is not None:
            out["mse"], out["mse_pixel"] = se, se / pixels
            out["psnr"] = _psnr_from_mse_pixel(out["mse_pixel"])
        if ae is not None:
            out["mae"], out["mae_pixel"] = ae, ae / pixels
    if "ssim" in names:
        out["ssim"] = ssim(p, t)
    if "accuracy" in names:
        out["accuracy"] = accuracy(p, t)
    return {name: out[name] for name in names}


@torch.no_grad()
def accuracy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per frame, the share of pixels that thresholding at 0.5 puts on the same side in both: (B, T) in [0, 1]."""
    p, t = _check(pred, target)
    same = (p >= ACCURACY_THRESHOLD) == (t >= ACCURACY_THRESHOLD)
    return same.flatten(-3).float().mean(-1)


class MetricAccumulator:
    """Averages of per-frame metrics over a whole dataset, overall and per horizon step.

    It keeps one running sum per metric and horizon step (in float64, on the device of the first batch) and a
    count of sequences, so memory does not grow with the dataset, nothing waits on the device between batches,
    and batches of any size add up to the same figures as one big batch.

    Args:
        horizon: frames per sequence (T); None takes it from the first batch.
        metrics: which of :data:`METRICS` to keep.

    Example:
        >>> acc = MetricAccumulator(horizon=10)
        >>> for pred, truth in batches:  # each (B, 10, C, H, W)
        ...     acc.update(pred, truth)
        >>> report = acc.result()  # report["ssim"], report["per_step"]["mse"], ...
    """

    def __init__(self, horizon: int | None = None, metrics: Sequence[str] = METRICS) -> None:
        if horizon is not None and horizon < 1:
            raise ValueError(f"horizon must be positive, got {horizon}")
        self.horizon = horizon
        self.metrics = _names(metrics)
        self.sequences = 0
        self._sums: torch.Tensor | None = None  # (len(metrics), T) float64

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Add a batch.

        Args:
            pred: predictions, (B, T, C, H, W) in [0, 1].
            target: ground truth, the same shape.

        Returns:
            The batch's per-frame values, name -> (B, T), for callers that want them too.

        Raises:
            ValueError: when the batch is not 5-D, shapes differ, or T is not the horizon.
        """
        if pred.dim() != 5:
            raise ValueError(f"a batch must be (B, T, C, H, W), got shape {tuple(pred.shape)}")
        steps = pred.shape[1]
        if self.horizon is None:
            self.horizon = steps
        if steps != self.horizon:
            raise ValueError(f"a batch of {steps} frames per sequence, but the horizon is {self.horizon}")
        values = frame_metrics(pred, target, self.metrics)
        batch = torch.stack([values[name] for name in self.metrics]).to(torch.float64).sum(1)  # (M, T)
        self._sums = batch if self._sums is None else self._sums + batch.to(self._sums.device)
        self.sequences += pred.shape[0]
        return values

    def result(self) -> dict:
        """Averages as plain Python numbers, ready for JSON.

        Returns:
            ``{name: mean over every frame, ..., "per_step": {name: [mean at step 1, step 2, ...]},
            "sequences": count, "frames": count}``.

        Raises:
            ValueError: when no batch has been added.
        """
        if self._sums is None or self.sequences == 0:
            raise ValueError("no batch has been added: there is nothing to average")
        per_step = (self._sums / self.sequences).tolist()  # one device-to-host copy for everything
        report: dict = {name: sum(steps) / len(steps) for name, steps in zip(self.metrics, per_step, strict=True)}
        report["per_step"] = dict(zip(self.metrics, per_step, strict=True))
        report["sequences"] = self.sequences
        report["frames"] = self.sequences * len(per_step[0])
        return report
