"""Grey weights starting a colour model (models/colour.py, `train --init GREY --channels 3`)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from conftest import assert_clean_error, run_cli
from framecast.errors import UsageError
from framecast.models.colour import grey_to_colour
from framecast.models.registry import create_model

#: The families a colour model of which may start from grey, with the options natural video trains them with:
#: residual with the warp; dmvfn reading four frames, their differences and a router (its frames among other
#: channels: see DMVFN.frame_inputs).
FAMILIES = ["convlstm", "predrnn", "vit", "dmvfn"]
NATURAL = {"dmvfn": {"context_frames": 4, "differences": True, "centred": True, "routing": True}}


def _grey_and_colour(name: str, **options) -> tuple[torch.nn.Module, torch.nn.Module]:
    options = {**NATURAL.get(name, {"residual": True, "warp": True}), **options}
    torch.manual_seed(0)
    grey = create_model(name, "tiny", channels=1, height=16, width=16, **options)
    with torch.no_grad():  # heads start at zero (copy-last): give every weight a value, so that all of them count
        for p in grey.parameters():
            p.add_(0.05 * torch.randn_like(p))
    colour = create_model(name, "tiny", channels=3, height=16, width=16, **options)
    colour.load_state_dict(grey_to_colour(grey.state_dict(), colour))
    return grey.eval(), colour.eval()


@pytest.mark.parametrize("name", FAMILIES)
def test_a_colour_model_from_grey_weights_predicts_from_a_grey_clip_what_the_grey_model_does(name: str) -> None:
    grey, colour = _grey_and_colour(name)
    frames = torch.rand(2, 4, 1, 16, 16)
    with torch.no_grad():
        expected = grey(frames, 3)
        got = colour(frames.expand(-1, -1, 3, -1, -1), 3)
    assert expected.abs().sub(frames[:, -1:]).abs().max() > 1e-3  # the grey model is not copy-last
    assert torch.allclose(got, expected.expand(-1, -1, 3, -1, -1), atol=1e-5)


@pytest.mark.parametrize("name", FAMILIES)
def test_it_reads_a_colour_frame_by_its_luma_and_moves_each_channel_alike(name: str) -> None:
    grey, colour = _grey_and_colour(name)
    frames = torch.rand(2, 4, 3, 16, 16)
    luma = (frames * torch.tensor([0.299, 0.587, 0.114]).view(1, 1, 3, 1, 1)).sum(2, keepdim=True)
    with torch.no_grad():
        got, seen = colour(frames, 1), grey(luma, 1)
    # the same motion from the luma: where no channel met the clamp to [0, 1], the luma of the colour prediction is
    # the grey model's prediction from the luma (a second step would read a frame clamped channel by channel)
    free = ((got > 0) & (got < 1)).all(2, keepdim=True) & (seen > 0) & (seen < 1)
    got_luma = (got * torch.tensor([0.299, 0.587, 0.114]).view(1, 1, 3, 1, 1)).sum(2, keepdim=True)
    assert free.float().mean() > 0.5
    assert (got_luma - seen)[free].abs().max() < 1e-5
    assert not torch.allclose(got[:, :, 0], got[:, :, 1])  # and the colours stay colours


def test_a_model_that_reads_frame_differences_is_refused() -> None:
    grey = create_model("convlstm", "tiny", channels=1, height=16, width=16, residual=True, differences=True)
    colour = create_model("convlstm", "tiny", channels=3, height=16, width=16, residual=True, differences=True)
    with pytest.raises(UsageError, match="differences"):
        grey_to_colour(grey.state_dict(), colour)


SCENES = ["--model", "convlstm", "--preset", "tiny", "--data", "moving-scenes", "--size", "16", "--context", "4",
          "--horizon", "2", "--train-size", "4", "--val-size", "2", "--batch-size", "2",
          "--max-steps", "1"]  # fmt: skip


def test_train_init_starts_a_colour_run_from_a_grey_one(isolated_home) -> None:
    grey = run_cli("train", *SCENES, "--name", "grey")
    assert grey.code == 0, grey.stderr
    colour = run_cli("train", *SCENES, "--channels", "3", "--lr", "1e-9", "--init", "convlstm/grey", "--name", "rgb")
    assert colour.code == 0, colour.stderr
    assert "grey made colour" in colour.stderr
    runs = isolated_home / "data" / "runs" / "convlstm"
    a, b = load_file(str(runs / "grey" / "best.safetensors")), load_file(str(runs / "rgb" / "last.safetensors"))
    assert b["head.weight"].shape[0] > a["head.weight"].shape[0]  # a colour model, made from the grey one
    same = [k for k in a if a[k].shape == b[k].shape]
    assert same and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in same)
    # colour weights do not start a grey model, nor grey ones a model of other options
    back = run_cli("train", *SCENES, "--init", "convlstm/rgb", "--name", "back")
    assert_clean_error(back, 2, "another configuration")
    wide = run_cli("train", *SCENES, "--channels", "3", "--set", "hidden=12", "--init", "convlstm/grey")
    assert_clean_error(wide, 2, "another configuration")


def test_train_init_makes_a_colour_dmvfn_from_grey_weights_as_shipped(isolated_home, tmp_path) -> None:
    """A grey dmvfn file as the package ships one (four frames read, exported to run at its own frame size,
    `any_size` off) starts a colour run: frames read among the mask and flows are mapped, and `any_size`, which
    says how other frame sizes are fed, is no difference of configuration."""
    from conftest import tiny_checkpoint

    grey = tiny_checkpoint(tmp_path / "grey.safetensors", "dmvfn", size=16, context=4, horizon=2,
                           content="natural", context_frames=4, any_size=False)  # fmt: skip
    args = [*SCENES[2:], "--model", "dmvfn", "--preset", "tiny", "--set", "context_frames=4", "--lr", "1e-9"]
    colour = run_cli("train", *args, "--channels", "3", "--init", str(grey), "--name", "rgb")
    assert colour.code == 0, colour.stderr
    assert "grey made colour" in colour.stderr
    a = load_file(str(grey))
    b = load_file(str(isolated_home / "data" / "runs" / "dmvfn" / "rgb" / "last.safetensors"))
    first = "blocks.0.down.0.conv.weight"  # 4 frames, mask, 2 differences, 2 older frames, 4 flows
    assert (a[first].shape[1], b[first].shape[1]) == (13, 29)
    luma = torch.tensor([0.299, 0.587, 0.114])
    assert torch.allclose(b[first][:, :3].float(), a[first][:, :1].float() * luma.view(1, 3, 1, 1), atol=1e-6)
    assert torch.allclose(b[first][:, 12:13].float(), a[first][:, 4:5].float())  # the mask as it was
    assert torch.allclose(b[first][:, -4:].float(), a[first][:, -4:].float())  # and the flows
