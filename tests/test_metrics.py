"""Metrics against scikit-image on frames made of real MNIST digits, and against sums worked out by hand."""

from __future__ import annotations

import json
import math
from functools import cache

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from conftest import MNIST_NPZ
from framecast import metrics
from framecast.errors import UsageError
from framecast.metrics import METRICS, MetricAccumulator, frame_metrics


@cache
def _digits() -> np.ndarray:
    with np.load(MNIST_NPZ) as d:
        return d["test"][:400].astype(np.float64) / 255.0


def digit_clips(
    b: int, t: int, c: int, h: int = 64, w: int = 64, *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, C, H, W) targets of real digits pasted at different offsets, and predictions that are the same
    digits a few pixels off, dimmer, with noise: what a model that is nearly right gives."""
    rng = np.random.default_rng(seed)
    digits = _digits()
    target = np.zeros((b, t, c, h, w))
    pred = np.zeros((b, t, c, h, w))
    tints = rng.uniform(0.4, 1.0, size=(b, t, c, 1, 1))  # each channel its own brightness
    k = 0
    for i in range(b):
        for j in range(t):
            for _ in range(2):
                digit = digits[k]
                k += 1
                y, x = rng.integers(0, h - 28 + 1), rng.integers(0, w - 28 + 1)
                dy, dx = rng.integers(-3, 4, size=2)
                y2, x2 = int(np.clip(y + dy, 0, h - 28)), int(np.clip(x + dx, 0, w - 28))
                target[i, j, :, y : y + 28, x : x + 28] = np.maximum(target[i, j, :, y : y + 28, x : x + 28], digit)
                pred[i, j, :, y2 : y2 + 28, x2 : x2 + 28] = np.maximum(
                    pred[i, j, :, y2 : y2 + 28, x2 : x2 + 28], 0.8 * digit
                )
    target *= tints
    pred = np.clip(pred * tints + rng.normal(0, 0.05, pred.shape), 0, 1)
    return torch.from_numpy(pred).float(), torch.from_numpy(target).float()


def _frames(x: torch.Tensor) -> np.ndarray:
    """(B, T, C, H, W) -> (B*T, H, W, C) float64, the layout scikit-image takes with channel_axis=-1."""
    b, t, c, h, w = x.shape
    return x.double().permute(0, 1, 3, 4, 2).reshape(b * t, h, w, c).numpy()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(64, 64), (40, 56)])
def test_ssim_and_psnr_match_scikit_image_on_digit_frames(channels: int, size: tuple[int, int]) -> None:
    pred, target = digit_clips(3, 4, channels, *size)
    values = frame_metrics(pred, target)
    assert values["ssim"].shape == (3, 4) and values["psnr"].shape == (3, 4)
    ours_ssim = values["ssim"].reshape(-1).double().numpy()
    ours_psnr = values["psnr"].reshape(-1).double().numpy()
    p, t = _frames(pred), _frames(target)
    for k in range(len(p)):
        if channels == 1:
            ref_ssim = structural_similarity(t[k, ..., 0], p[k, ..., 0], data_range=1)
        else:
            ref_ssim = structural_similarity(t[k], p[k], data_range=1, channel_axis=-1)
        ref_psnr = peak_signal_noise_ratio(t[k], p[k], data_range=1)
        assert ours_ssim[k] == pytest.approx(ref_ssim, abs=1e-5), k
        assert ours_psnr[k] == pytest.approx(ref_psnr, abs=1e-4), k
    assert ours_ssim.min() > 0.05 and ours_ssim.max() < 0.9  # frames that really differ, not trivial ones


def test_ssim_on_frames_smaller_than_the_window_uses_the_largest_odd_window() -> None:
    pred, target = digit_clips(1, 2, 1, 64, 64)
    pred, target = pred[..., 30:35, 30:36], target[..., 30:35, 30:36]  # 5x6: a 5x5 window fits
    ours = metrics.ssim(pred, target).reshape(-1).double().numpy()
    p, t = _frames(pred), _frames(target)
    for k in range(len(p)):
        ref = structural_similarity(t[k, ..., 0], p[k, ..., 0], data_range=1, win_size=5)
        assert ours[k] == pytest.approx(ref, abs=1e-5)
    with pytest.raises(ValueError, match="3x3"):
        metrics.ssim(pred[..., :2, :], target[..., :2, :])


def test_ssim_does_not_depend_on_how_frames_are_chunked() -> None:
    pred, target = digit_clips(2, 5, 1)
    whole = metrics.ssim(pred, target)
    chunked = metrics.ssim(pred, target, chunk_pixels=3 * 64 * 64)  # chunks of 3 frames, the last one partial
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)


def test_frames_never_mix_a_broken_frame_spoils_only_itself() -> None:
    pred, target = digit_clips(1, 6, 1)
    clean = metrics.ssim(pred, target)
    broken = pred.clone()
    broken[0, 2] = float("nan")
    values = metrics.ssim(broken, target)
    assert math.isnan(values[0, 2])
    keep = [0, 1, 3, 4, 5]
    torch.testing.assert_close(values[0, keep], clean[0, keep], rtol=0, atol=0)


def test_mse_and_mae_match_sums_worked_out_by_hand() -> None:
    target = torch.zeros(1, 2, 2, 4, 4)  # (B, T, C, H, W): two frames of two 4x4 channels
    pred = torch.zeros(1, 2, 2, 4, 4)
    pred[0, 0, 0, 0, 0] = 0.5  # frame 1: squared error 0.25 + 0.0625 + 0.25, absolute 0.5 + 0.25 + 0.5
    pred[0, 0, 0, 1, 1] = 0.25
    pred[0, 0, 1, 3, 3] = 0.5
    target[0, 1] = 1.0  # frame 2: every one of the 32 values off by 1
    values = frame_metrics(pred, target)
    assert values["mse"].tolist() == [[0.5625, 32.0]]
    assert values["mae"].tolist() == [[1.25, 32.0]]
    assert values["mse_pixel"].tolist() == [[0.5625 / 32, 1.0]]
    assert values["mae_pixel"].tolist() == [[1.25 / 32, 1.0]]
    assert values["psnr"][0, 0].item() == pytest.approx(10 * math.log10(32 / 0.5625), abs=1e-5)
    assert values["psnr"][0, 1].item() == pytest.approx(0.0, abs=1e-6)
    torch.testing.assert_close(metrics.mse(pred, target), values["mse"])
    torch.testing.assert_close(metrics.mae_pixel(pred, target), values["mae_pixel"])


def test_perfect_prediction_scores_psnr_100_and_ssim_1() -> None:
    _, target = digit_clips(2, 3, 3)
    target[0, 0] = 0.0  # a blank frame too
    values = frame_metrics(target.clone(), target)
    assert (values["psnr"] == metrics.PSNR_CAP).all() and metrics.PSNR_CAP == 100.0
    torch.testing.assert_close(values["ssim"], torch.ones(2, 3), rtol=0, atol=1e-6)
    assert (values["mse"] == 0).all() and (values["mae"] == 0).all()


def test_accumulator_over_batches_equals_one_big_batch() -> None:
    pred, target = digit_clips(7, 5, 1, 32, 32, seed=3)
    whole = MetricAccumulator(5)
    whole.update(pred, target)
    parts = MetricAccumulator()  # horizon taken from the first batch
    for start, stop in ((0, 3), (3, 4), (4, 7)):
        parts.update(pred[start:stop], target[start:stop])
    a, b = whole.result(), parts.result()
    assert a["sequences"] == b["sequences"] == 7 and a["frames"] == b["frames"] == 35
    per_frame = frame_metrics(pred, target)
    for name in METRICS:
        assert b[name] == pytest.approx(a[name], rel=1e-9, abs=1e-12)
        assert b["per_step"][name] == pytest.approx(a["per_step"][name], rel=1e-9, abs=1e-12)
        assert len(a["per_step"][name]) == 5  # one figure per horizon step
        expected_steps = per_frame[name].double().mean(0).tolist()
        assert a["per_step"][name] == pytest.approx(expected_steps, rel=1e-6)
        assert a[name] == pytest.approx(per_frame[name].double().mean().item(), rel=1e-6)
    json.loads(json.dumps(a))  # plain Python numbers, ready for JSON
    assert all(type(a[name]) is float for name in METRICS)


def test_accumulator_keeps_later_steps_apart() -> None:
    # the error grows with the horizon step, as a rollout's does: per-step figures must show it
    target = torch.zeros(4, 3, 1, 16, 16)
    pred = target.clone()
    for step in range(3):
        pred[:, step] = 0.1 * (step + 1)
    acc = MetricAccumulator(3, metrics=("mse_pixel", "psnr"))
    acc.update(pred, target)
    report = acc.result()
    assert report["per_step"]["mse_pixel"] == pytest.approx([0.01, 0.04, 0.09], rel=1e-5)
    assert report["per_step"]["psnr"] == pytest.approx([20.0, 10 * math.log10(25), 10 * math.log10(1 / 0.09)])
    assert set(report) == {"mse_pixel", "psnr", "per_step", "sequences", "frames"}


def test_accumulator_refuses_what_it_cannot_average() -> None:
    acc = MetricAccumulator(4)
    with pytest.raises(ValueError, match="nothing to average"):
        acc.result()
    with pytest.raises(ValueError, match="horizon is 4"):
        acc.update(torch.zeros(1, 3, 1, 8, 8), torch.zeros(1, 3, 1, 8, 8))
    with pytest.raises(ValueError, match="differ in shape"):
        acc.update(torch.zeros(1, 4, 1, 8, 8), torch.zeros(1, 4, 1, 8, 9))
    with pytest.raises(UsageError, match="Did you mean 'ssim'"):
        MetricAccumulator(4, metrics=("ssmi",))


def test_inputs_of_lower_precision_are_scored_in_float32() -> None:
    pred, target = digit_clips(1, 2, 1, 32, 32)
    half = frame_metrics(pred.bfloat16(), target.bfloat16())
    full = frame_metrics(pred.bfloat16().float(), target.bfloat16().float())
    for name in METRICS:
        assert half[name].dtype == torch.float32
        torch.testing.assert_close(half[name], full[name])


def test_torch_thread_count_is_left_as_it_was() -> None:
    # the metrics run on one CPU thread (see metrics._one_cpu_thread) and must hand the setting back
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        pred, target = digit_clips(1, 2, 1, 32, 32)
        frame_metrics(pred, target)
        assert torch.get_num_threads() == 2
        metrics.ssim(pred, target)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_accuracy_is_the_share_of_pixels_on_the_same_side_of_one_half() -> None:
    truth = torch.zeros(1, 2, 1, 4, 4)
    truth[..., :2, :] = 1.0  # the top half on
    pred = torch.full_like(truth, 0.4)  # everything off
    pred[:, 1, :, :1, :] = 0.9  # the second frame gets the first row right
    acc = frame_metrics(pred, truth, ("accuracy",))["accuracy"]
    assert acc.tolist() == [[0.5, 0.75]]
    assert frame_metrics(truth, truth, ("accuracy",))["accuracy"].eq(1).all()
