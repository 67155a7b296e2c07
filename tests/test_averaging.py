"""`framecast train --ema`: a moving average of the weights, validated and saved, resumed exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import assert_clean_error, run_cli
from framecast.training.averaging import WeightAverage

#: 4 steps an epoch of the tiny ConvLSTM on generated digits.
TINY = ["--model", "convlstm", "--preset", "tiny", "--train-size", "16", "--val-size", "8", "--batch-size", "4"]


def committed_state(run: Path) -> dict:
    gen = run / (run / "COMMITTED").read_text().strip()
    return torch.load(gen / "state.pt", weights_only=True)


def test_the_average_follows_its_recurrence_with_a_warm_up_and_copies_integer_buffers() -> None:
    module = torch.nn.BatchNorm1d(3)  # two float parameters, two float buffers and an integer counter
    average = WeightAverage(module, 0.9)
    expected = {k: v.clone().float() for k, v in module.state_dict().items()}
    for step in range(1, 40):
        with torch.no_grad():
            module.weight.add_(torch.randn(3))
            module.running_mean.add_(torch.randn(3))
            module.num_batches_tracked.add_(1)
        average.update(module, step)
        keep = min(0.9, (1 + step) / (10 + step))
        for k, v in module.state_dict().items():
            expected[k] = expected[k] * keep + v.float() * (1 - keep) if v.is_floating_point() else v.clone()
    for k, v in average.state_dict().items():
        assert torch.allclose(v, expected[k], atol=1e-6), k
    assert int(average.state_dict()["num_batches_tracked"]) == 39
    own = module.weight.detach().clone()
    with average.applied(module):
        assert torch.equal(module.weight, average.state_dict()["weight"])
    assert torch.equal(module.weight, own)  # the module's own weights are back after the block


def test_an_ema_run_validates_and_saves_the_average_and_keeps_its_own_weights_to_train_on(isolated_home) -> None:
    result = run_cli("train", *TINY, "--epochs", "2", "--ema", "0.9", "--name", "avg", "--json")
    assert result.code == 0, result.stderr
    run = isolated_home / "data" / "runs" / "convlstm" / "avg"
    config = json.loads((run / "config.json").read_text())
    assert config["options"]["ema"] == 0.9
    saved, state = load_file(str(run / "last.safetensors")), committed_state(run)
    assert saved.keys() == state["average"].keys() == state["weights"].keys()
    assert all(torch.equal(saved[k], state["average"][k]) for k in saved)
    # after 8 steps the average trails the weights training goes on from
    assert any(not torch.equal(saved[k], state["weights"][k]) for k in saved)
    # the epoch's validation scored the average: eval of the saved file on the same sequences agrees
    scored = run_cli("eval", "--checkpoint", str(run / "last.safetensors"), "--split", "val", "--limit", "8", "--json")
    assert scored.code == 0, scored.stderr
    mse = json.loads(scored.stdout)["results"]["convlstm"]["rollout"]["mse"]
    assert mse == pytest.approx(config["history"][-1]["val"]["mse"], rel=1e-4)


def test_an_ema_run_resumed_ends_as_one_that_never_stopped(isolated_home) -> None:
    # stopped by --max-steps at its first epoch's end, so that the best weights are chosen among the same epochs
    whole = run_cli("train", *TINY, "--epochs", "2", "--ema", "0.8", "--name", "whole")
    assert whole.code == 0, whole.stderr
    part = run_cli("train", *TINY, "--epochs", "2", "--ema", "0.8", "--max-steps", "4", "--name", "part")
    assert part.code == 0, part.stderr
    resumed = run_cli("train", "--resume", "convlstm/part", "--max-steps", "8")
    assert resumed.code == 0, resumed.stderr
    runs = isolated_home / "data" / "runs" / "convlstm"
    for name in ("last.safetensors", "best.safetensors"):
        a, b = load_file(str(runs / "whole" / name)), load_file(str(runs / "part" / name))
        assert all(torch.equal(a[k], b[k]) for k in a), name
    a, b = committed_state(runs / "whole")["weights"], committed_state(runs / "part")["weights"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("decay", ["1", "0"])
def test_a_decay_outside_zero_to_one_is_refused(isolated_home, decay: str) -> None:
    result = run_cli("train", *TINY, "--epochs", "1", "--ema", decay)
    assert_clean_error(result, 2, "--ema", "0.999")
