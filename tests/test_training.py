"""`framecast train`, `eval` and `runs`: runs on disk, resume, signals, DDP, losses, error cases."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import assert_clean_error, run_cli, tiny_checkpoint
from framecast.errors import UsageError
from framecast.training.losses import Loss, parse_loss
from framecast.training.sampling import SamplingSchedule

TINY = ["--model", "convlstm", "--preset", "tiny", "--train-size", "16", "--val-size", "8", "--batch-size", "4"]
RUN_FILES = ("config.json", "best.safetensors", "last.safetensors", "COMMITTED", "metrics.csv", "curves.png")


def committed_state(run: Path) -> dict:
    """The state.pt of the generation a run last committed (what --resume reads), without unpickling objects."""
    gen = run / (run / "COMMITTED").read_text().strip()
    return torch.load(gen / "state.pt", weights_only=True)


def runs_root(home: Path) -> Path:
    return home / "data" / "runs"


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_a_run_leaves_every_file_and_json(isolated_home) -> None:
    result = run_cli("train", *TINY, "--epochs", "2", "--name", "first", "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)  # exactly one JSON document on stdout
    run = runs_root(isolated_home) / "convlstm" / "first"
    assert Path(summary["run"]) == run
    for name in RUN_FILES:
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    assert not list(run.glob("*.tmp*")), "temporary files left behind"
    config = json.loads((run / "config.json").read_text())
    assert config["status"] == "finished" and config["epochs_done"] == 2
    assert config["spec"] == {
        "channels": 1,
        "height": 64,
        "width": 64,
        "context": 10,
        "horizon": 10,
        "content": "digits",
    }
    assert len(config["history"]) == 2 and {"mse", "ssim", "psnr"} <= set(config["history"][0]["val"])
    lines = (run / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,step,train_loss") and len(lines) == 3
    # the state loads without unpickling arbitrary objects
    state = committed_state(run)
    assert state["epoch"] == 2 and state["step"] == 8
    listed = json.loads(run_cli("runs", "--model", "convlstm", "--json").stdout)["runs"]
    assert (listed[0]["run"], listed[0]["status"]) == ("convlstm/first", "finished")  # the user's runs first
    shipped = {(r["run"], r["status"]) for r in listed[1:]}  # then the digit and natural-video ones shipped
    names = ("convlstm/shipped", "convlstm/shipped-scenes", "convlstm/shipped-scenes-rgb")
    assert shipped == {(name, "shipped") for name in names}
    assert listed[0]["best"]["mse"] > 0


#: Two epochs of 30 steps: long enough for a signal to land mid-epoch, short enough to run three times.
LONG = ["--model", "convlstm", "--preset", "tiny", "--train-size", "120", "--val-size", "4", "--batch-size", "4"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The last weights of a two-epoch LONG run that nothing interrupted (its own FRAMECAST_HOME)."""
    home = tmp_path_factory.mktemp("uninterrupted-home")
    result = run_cli("train", *LONG, "--epochs", "2", "--name", "whole", env={"FRAMECAST_HOME": str(home)})
    assert result.code == 0, result.stderr
    return runs_root(home) / "convlstm" / "whole" / "last.safetensors"


def test_two_epochs_equal_one_epoch_plus_resume(isolated_home, uninterrupted) -> None:
    first = run_cli("train", *LONG, "--epochs", "2", "--max-steps", "30", "--name", "split")
    assert first.code == 0, first.stderr
    split = runs_root(isolated_home) / "convlstm" / "split"
    assert json.loads((split / "config.json").read_text())["epochs_done"] == 1
    resumed = run_cli("train", "--resume", "convlstm/split", "--max-steps", "60")
    assert resumed.code == 0, resumed.stderr
    assert json.loads((split / "config.json").read_text())["epochs_done"] == 2
    assert_same_weights(uninterrupted, split / "last.safetensors")


def test_a_step_count_inside_an_epoch_leaves_it_open_and_resume_finishes_it(isolated_home, uninterrupted) -> None:
    first = run_cli("train", *LONG, "--epochs", "2", "--max-steps", "45", "--name", "mid")
    assert first.code == 0, first.stderr
    mid = runs_root(isolated_home) / "convlstm" / "mid"
    config = json.loads((mid / "config.json").read_text())
    # the stop validated and saved (a provisional record of epoch 2), but the second epoch is not done
    assert config["epochs_done"] == 1 and [h["epoch"] for h in config["history"]] == [1, 2]
    assert config["history"][-1]["step"] == 45
    assert "1 epoch and part of epoch 2, 45 steps" in first.stdout  # the summary names the open epoch
    resumed = run_cli("train", "--resume", "convlstm/mid", "--max-steps", "60")
    assert resumed.code == 0, resumed.stderr
    config = json.loads((mid / "config.json").read_text())
    assert config["epochs_done"] == 2 and [h["epoch"] for h in config["history"]] == [1, 2]
    assert config["history"][-1]["step"] == 60  # the whole epoch's record replaced the provisional one
    assert_same_weights(uninterrupted, mid / "last.safetensors")
    whole = json.loads((uninterrupted.parent / "config.json").read_text())["history"][-1]["val"]
    assert config["history"][-1]["val"]["mse"] == pytest.approx(whole["mse"], rel=1e-6)


def test_sigterm_mid_epoch_saves_and_resume_finishes_like_an_uninterrupted_run(isolated_home, uninterrupted) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "framecast", "train", *LONG, "--epochs", "2", "--name", "cut"],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # non-TTY: one log line per epoch on stderr
            if line.startswith("epoch 1:"):
                break
        time.sleep(1.0)  # inside epoch 2 (30 steps of several tenths of a second each)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Error:" in err and "--resume" in err and "Traceback" not in err
    cut = runs_root(isolated_home) / "convlstm" / "cut"
    config = json.loads((cut / "config.json").read_text())
    assert config["status"] == "interrupted"
    # the interrupted session's time is kept: more than its first epoch took
    assert config["train_seconds"] > config["history"][0]["seconds"] > 0
    state = committed_state(cut)
    assert state["epoch"] == 1 and 0 < state["step_in_epoch"] < 30
    assert state["seconds"] == pytest.approx(config["train_seconds"], abs=1.0)
    resumed = run_cli("train", "--resume")  # the newest unfinished run
    assert resumed.code == 0, resumed.stderr
    final = json.loads((cut / "config.json").read_text())
    assert final["status"] == "finished" and final["train_seconds"] > config["train_seconds"]
    assert_same_weights(uninterrupted, cut / "last.safetensors")


def test_two_processes_train_identical_weights(isolated_home) -> None:
    result = run_cli("train", *TINY, "--epochs", "1", "--devices", "2", "--device", "cpu", "--name", "ddp", "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["world_size"] == 2 and summary["effective_batch_size"] == 8
    digests = summary["rank_weight_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    run = runs_root(isolated_home) / "convlstm" / "ddp"
    assert (run / "best.safetensors").is_file()
    assert json.loads((run / "config.json").read_text())["steps_per_epoch"] == 2  # 16 sequences / 2 ranks / 4


def test_each_rank_sees_different_sequences() -> None:
    from framecast.training.distributed import ShardSampler

    a = list(ShardSampler(100, rank=0, world=2, shuffle=True, seed=1, epoch=0))
    b = list(ShardSampler(100, rank=1, world=2, shuffle=True, seed=1, epoch=0))
    assert len(a) == len(b) == 50 and not set(a) & set(b)
    assert list(ShardSampler(100, rank=0, world=2, shuffle=True, seed=1, epoch=0, start=10)) == a[10:]
    assert a != list(ShardSampler(100, rank=0, world=2, shuffle=True, seed=1, epoch=1))


def test_loss_specs() -> None:
    assert parse_loss("mse") == [(1.0, "mse")]
    assert parse_loss("mse+0.1*gdl") == [(1.0, "mse"), (0.1, "gdl")]
    assert parse_loss(" l1 + 2*bce ") == [(1.0, "l1"), (2.0, "bce")]
    with pytest.raises(UsageError, match="gdl"):
        parse_loss("mse+0.1*gld")
    with pytest.raises(UsageError):
        parse_loss("mse+*gdl")
    pred = torch.full((1, 1, 1, 4, 4), 0.5)
    target = torch.zeros(1, 1, 1, 4, 4)
    target[..., :, 2:] = 1.0  # a vertical edge: gradient 1 between columns 1 and 2
    loss = Loss("mse+0.5*gdl")
    value = float(loss(pred, target))
    # mse 0.25; gdl: rows have no gradient in either; columns: target has |1| at 4 of 12 pairs -> mean 1/3
    assert value == pytest.approx(0.25 + 0.5 * (1 / 3), abs=1e-6)
    assert loss.parts["gdl"] == pytest.approx(1 / 3, abs=1e-6)


@pytest.mark.parametrize("steps", [3, 10])  # no room for a schedule (under 4 steps); the former division by zero
def test_short_runs_train_under_every_schedule_length(isolated_home, steps) -> None:
    """One-cycle needs room to warm up and anneal; at exactly 10 steps torch's own schedule divided by zero."""
    args = ["--model", "convlstm", "--preset", "tiny", "--context", "2", "--horizon", "2", "--batch-size", "1"]
    result = run_cli("train", *args, "--train-size", str(steps), "--val-size", "2", "--epochs", "1", "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["steps"] == steps


def test_sampling_schedules_decay_from_one_to_zero() -> None:
    for kind in ("linear", "exp", "sigmoid"):
        s = SamplingSchedule(kind=kind, end_step=100)
        values = [s(i) for i in range(0, 120, 10)]
        assert values[0] == pytest.approx(1.0, abs=0.02) and values[-1] == 0.0
        assert all(a >= b for a, b in itertools.pairwise(values))


def test_eval_scores_model_and_baselines_on_the_same_sequences(isolated_home, tmp_path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "e.safetensors")
    result = run_cli(
        "eval", "--checkpoint", str(ckpt), "--split", "val", "--limit", "6", "--baseline", "copy-last,zeros",
        "--next-frame", "--save", "3", "--save-to", str(tmp_path / "pred.npz"), "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sequences"] == 6 and set(report["results"]) == {"convlstm", "copy-last", "zeros"}
    for scores in report["results"].values():
        roll = scores["rollout"]
        assert len(roll["per_step"]["mse"]) == 10
        assert np.mean(roll["per_step"]["mse"]) == pytest.approx(roll["mse"], rel=1e-5)
    assert "next_frame" in report["results"]["convlstm"]
    saved = np.load(tmp_path / "pred.npz")
    assert saved["context"].shape == (3, 10, 64, 64, 1) and saved["prediction"].shape == (3, 10, 64, 64, 1)
    # the zeros baseline's MSE is the truth's own energy: sum of squared pixels per frame
    from framecast.data.registry import open_dataset

    ds = open_dataset("moving-mnist", "val", limit=6)
    truth = torch.stack([ds[i][10:] for i in range(6)])
    energy = float((truth**2).sum(dim=(2, 3, 4)).mean())
    assert report["results"]["zeros"]["rollout"]["mse"] == pytest.approx(energy, rel=1e-4)


def test_eval_of_a_checkpoint_on_data_of_another_format_is_a_clear_error(isolated_home, tmp_path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "fmt.safetensors")
    np.save(tmp_path / "rgb.npy", np.zeros((4, 20, 32, 32, 3), dtype=np.uint8))
    result = run_cli("eval", "--checkpoint", str(ckpt), "--data", str(tmp_path / "rgb.npy"), "--split", "all")
    assert_clean_error(result, 2, "expects 1-channel 64x64", "--channels 1 --size 64x64")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    assert_clean_error(run_cli("eval", "--checkpoint", str(junk)), 1, "junk.safetensors")
    assert_clean_error(run_cli("eval", "--model", "predrnn-v2"), 1, "framecast train --model predrnn-v2")


def test_init_starts_a_new_run_from_a_checkpoint(isolated_home, uninterrupted) -> None:
    import shutil

    shutil.copytree(uninterrupted.parent, runs_root(isolated_home) / "convlstm" / "base")  # a finished run
    best = runs_root(isolated_home) / "convlstm" / "base" / "best.safetensors"
    # a run named as `framecast runs` lists it stands for its best weights (a path is read the same way)
    args = ["--epochs", "1", "--max-steps", "1", "--lr", "1e-9", "--init", "convlstm/base", "--name", "tuned"]
    result = run_cli("train", *TINY, *args)
    assert result.code == 0, result.stderr
    assert "starting from the weights" in result.stderr and str(best) in result.stderr
    tuned = runs_root(isolated_home) / "convlstm" / "tuned"
    # one step at a vanishing learning rate: the new run's weights are the checkpoint's, to float precision
    a, b = weights(best), weights(tuned / "last.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    # the run records the file it started from by content: a stage file exported over later is still traceable
    recorded = json.loads((tuned / "config.json").read_text())["init_weights"]
    assert recorded["path"] == str(best) and recorded["sha256"] == hashlib.sha256(best.read_bytes()).hexdigest()
    other = run_cli("train", *TINY, "--preset", "small", "--epochs", "1", "--init", str(best))
    assert_clean_error(other, 2, "another configuration")  # (an unknown run: tests/test_bad_inputs.py)


def test_a_run_with_init_killed_before_its_first_commit_starts_again_from_the_init(isolated_home, uninterrupted):
    """A resume skips --init (the committed weights come instead); with nothing committed, the fresh start that
    replaces it must still begin from --init's weights, or the resumed run would train from random ones."""
    best = uninterrupted.parent / "best.safetensors"
    args = ["--epochs", "1", "--max-steps", "1", "--lr", "1e-9", "--init", str(best), "--name", "again"]
    assert run_cli("train", *TINY, *args).code == 0
    run = runs_root(isolated_home) / "convlstm" / "again"
    (run / "COMMITTED").unlink()  # as if killed before its first commit
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "status": "interrupted"}))
    result = run_cli("train", "--resume", "convlstm/again")
    assert result.code == 0 and "stopped before its first step" in result.stderr, result.stderr
    assert "starting from the weights" in result.stderr, result.stderr
    a, b = weights(best), weights(run / "last.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert json.loads((run / "config.json").read_text())["init_weights"]["path"] == str(best)


def test_init_takes_a_model_whose_options_are_tuples(isolated_home) -> None:
    """dmvfn's scales and widths are tuples in the model and lists in the checkpoint: still the same model."""
    tiny = ["--model", "dmvfn", "--preset", "tiny", "--train-size", "4", "--val-size", "2", "--batch-size", "2"]
    first = run_cli("train", *tiny, "--max-steps", "1", "--horizon", "2", "--name", "first")
    assert first.code == 0, first.stderr
    second = run_cli("train", *tiny, "--max-steps", "1", "--horizon", "2", "--init", "dmvfn/first", "--name", "then")
    assert second.code == 0, second.stderr
    assert "starting from the weights" in second.stderr


def test_the_same_command_runs_under_torchrun(isolated_home) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "framecast",
        "train",
    ]
    proc = subprocess.run(
        [*cmd, *TINY, "--epochs", "1", "--device", "cpu", "--name", "trun", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # exactly one document: only rank 0 reports
    assert summary["world_size"] == 2 and summary["effective_batch_size"] == 8
    assert len(set(summary["rank_weight_digests"])) == 1
    assert (runs_root(isolated_home) / "convlstm" / "trun" / "best.safetensors").is_file()


def test_precision_auto_fits_the_processor_and_emulated_bf16_warns() -> None:
    import logging

    import torch

    from framecast import devices

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.WARNING)
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    cpu = torch.device("cpu")
    assert devices.resolve_precision("auto", cpu) == ("bf16" if devices.cpu_has_native_bf16() else "fp32")
    devices._warned_bf16 = False
    keep = Keep()
    logging.getLogger("framecast").addHandler(keep)
    try:
        assert devices.resolve_precision("bf16", cpu) == "bf16"  # honoured, as asked
        devices.resolve_precision("bf16", cpu)
    finally:
        logging.getLogger("framecast").removeHandler(keep)
    warned = [r for r in keep.records if "no native bf16" in r.getMessage()]
    assert len(warned) == (0 if devices.cpu_has_native_bf16() else 1)  # once, and only where it is emulated
    assert devices.cpu_capability().startswith(torch.backends.cpu.get_cpu_capability())


def test_a_time_limited_run_trains_for_its_time_and_anneals_over_it(isolated_home) -> None:
    """--time-limit without --epochs: the clock ends the run, and the learning rate's one cycle spans the clock."""
    # The limit is sized from this machine's own pace (one epoch, measured first), so that a loaded machine, whose
    # epochs take longer, still fits several epochs in it: the test is of the schedule, not of the machine's speed.
    paced = run_cli("train", *TINY, "--epochs", "1", "--name", "pace", "--json")
    assert paced.code == 0, paced.stderr
    epoch_seconds = json.loads((runs_root(isolated_home) / "convlstm" / "pace" / "config.json").read_text())[
        "train_seconds"
    ]
    limit = max(6, math.ceil(4 * epoch_seconds))
    result = run_cli("train", *TINY, "--time-limit", f"{limit}s", "--lr", "1e-3", "--name", "timed", "--json")
    assert result.code == 0, result.stderr
    config = json.loads((runs_root(isolated_home) / "convlstm" / "timed" / "config.json").read_text())
    assert config["status"] == "finished" and config["options"]["time_limit"] == float(limit)
    # it stops at the first step boundary past the limit
    assert limit <= config["train_seconds"] < limit + max(20.0, 2 * epoch_seconds)
    assert config["epochs_done"] >= 2  # several epochs in the time (4 steps each): the one cycle spans them all
    rates = [epoch["lr"] for epoch in config["history"]]
    peak = rates.index(max(rates))
    assert rates[peak] > 0.3e-3  # it warmed up to near the peak...
    assert all(a >= b for a, b in itertools.pairwise(rates[peak:]))  # ...then only fell...
    # ...to a small share of it by the last epoch's end (read a step before the limit: a step and a validation
    # are a good part of an epoch, so not to nothing)
    assert rates[-1] < 0.15 * rates[peak]


def test_time_limited_schedules_follow_the_step_counted_curves() -> None:
    from framecast.training.schedules import cosine_decay, one_cycle

    total = 1000
    params = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.AdamW(params, lr=2e-3)
    torch_one_cycle = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=total, pct_start=0.1)
    for step in range(total):
        assert opt.param_groups[0]["lr"] == pytest.approx(2e-3 * one_cycle(step / (total - 1)), rel=0.02, abs=1e-7)
        opt.step()
        if step < total - 1:  # it has exactly `total` values
            torch_one_cycle.step()
    assert cosine_decay(0.0) == 1.0 and cosine_decay(1.0) == pytest.approx(0.01)
    assert all(a >= b for a, b in itertools.pairwise(cosine_decay(p / 10) for p in range(11)))


@pytest.mark.parametrize("limit", ["30", "0m", "ten minutes", "-5s"])
def test_a_time_limit_needs_a_unit_and_a_positive_length(capsys, limit: str) -> None:
    from conftest import run_here

    result = run_here(capsys, "train", *TINY, "--time-limit", limit)
    assert_clean_error(result, 2, "--time-limit", "duration")
