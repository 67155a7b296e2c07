"""The export script's record of training stages: a run started from a shipped checkpoint's weights carries the
stages on that checkpoint's card before its own, so the card of what it ships lists every stage."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "export_pretrained.py"


@pytest.fixture(scope="module")
def export_script():
    spec = importlib.util.spec_from_file_location("export_pretrained", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_config(init: str | None, steps: int) -> dict:
    return {
        "options": {"model": "vit", "preset": "small", "lr": 2e-4, "init": init, "batch_size": 16},
        "status": "finished",
        "epochs_done": 3,
        "steps_done": steps,
        "train_seconds": 61.2,
        "best": {"metric": "vs_copy_last", "value": 0.5, "epoch": 2},
    }


def shipped(tmp_path: Path, stages: list[dict]) -> Path:
    weights = tmp_path / "vit-small-scenes.safetensors"
    weights.write_bytes(b"weights as shipped")
    card = {"sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), "stages": stages}
    weights.with_suffix(".json").write_text(json.dumps(card))
    return weights


def test_a_run_from_shipped_weights_follows_the_card_stages(tmp_path, export_script):
    earlier = [{"options": {"lr": 1e-3}, "steps": 10}, {"options": {"lr": 3e-4}, "steps": 20}]
    weights = shipped(tmp_path, earlier)
    stages = export_script.stages_of(tmp_path / "run", run_config(str(weights), 30))
    assert [st["steps"] for st in stages] == [10, 20, 30]
    assert stages[1]["shipped_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert stages[2]["options"]["init"] == str(weights) and stages[2]["train_seconds"] == 61


def test_a_run_from_weights_with_no_card_or_another_file_is_refused(tmp_path, export_script):
    loose = tmp_path / "loose.safetensors"
    loose.write_bytes(b"no card beside it")
    with pytest.raises(SystemExit, match="needs the run or card"):
        export_script.stages_of(tmp_path / "run", run_config(str(loose), 5))
    weights = shipped(tmp_path, [{"options": {}, "steps": 1}])
    weights.write_bytes(b"trained over since")  # the card no longer describes the file
    with pytest.raises(SystemExit, match="is not the file its card"):
        export_script.stages_of(tmp_path / "run", run_config(str(weights), 5))


def test_a_run_with_no_init_is_one_stage(tmp_path, export_script):
    stages = export_script.stages_of(tmp_path / "run", run_config(None, 7))
    assert len(stages) == 1 and stages[0]["steps"] == 7


def test_a_stage_exported_outside_the_package_is_scored_as_that_file(tmp_path, export_script):
    # `eval --model NAME` would find the checkpoint shipped in the package (or none), not the file just written
    stage = tmp_path / "stages" / "predrnn-small-scenes.safetensors"
    args = export_script.video_eval_command("predrnn", "clips", 1, split="all", limit=None, checkpoint=stage)
    assert args[1:3] == ["--checkpoint", str(stage)] and "--model" not in args
    shipped_args = export_script.video_eval_command("predrnn", "clips", 3, split="test", limit=4)
    assert shipped_args[1:3] == ["--model", "predrnn"] and shipped_args[-4:] == ["3", "--limit", "4", "--json"]


def test_digit_scores_outside_the_package_are_refused(tmp_path, monkeypatch, export_script, capsys):
    argv = ["export_pretrained.py", str(tmp_path / "run"), "--out", str(tmp_path), "--digits", "mnist.npz"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit):
        export_script.main()
    assert "--digits scores the checkpoint shipped in the package" in capsys.readouterr().err


def test_a_stage_file_exported_over_since_the_run_read_it_gives_the_history_of_the_version_read(
    tmp_path, export_script
):
    """A run started from a stage file whose export was later written over the file (by another run of the same
    chain) follows the card only up to the version it read: the stages are listed once each."""
    first = [{"options": {"lr": 1e-3}, "steps": 10}]
    weights = shipped(tmp_path, first)
    read = hashlib.sha256(weights.read_bytes()).hexdigest()
    then = export_script.shipped_stages(weights, tmp_path / "run")  # the next stage's export, written over it
    weights.write_bytes(b"the next stage's weights")
    card = {"sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), "stages": [*then, {"steps": 20}]}
    weights.with_suffix(".json").write_text(json.dumps(card))
    config = {**run_config(str(weights), 30), "init_weights": {"path": str(weights), "sha256": read}}
    stages = export_script.stages_of(tmp_path / "run", config)
    assert [st["steps"] for st in stages] == [10, 30]
    config["init_weights"]["sha256"] = "0" * 64  # a version the card never listed
    with pytest.raises(SystemExit, match="does not list"):
        export_script.stages_of(tmp_path / "run", config)


def test_export_of_a_runs_last_weights_ships_those_and_says_so(tmp_path, export_script, trained):
    """`--weights last`: the file holds the run's last weights (fp16), the record and its last stage say so, and
    the card's row names them instead of the best epoch."""
    from safetensors.torch import load_file

    sys.path.insert(0, str(SCRIPT.parent))
    from model_cards import best_row

    run = trained["convlstm"]
    target, record = export_script.export(run, tmp_path, hardware=None, weights="last")
    last, best = load_file(str(run / "last.safetensors")), load_file(str(run / "best.safetensors"))
    shipped = load_file(str(target))
    assert all(torch.equal(shipped[k], last[k].half()) for k in last)
    assert record["weights"] == "last" and record["stages"][-1]["weights"] == "last"
    assert "the run's last" in best_row(record["best"], record["weights"])
    history = json.loads((run / "config.json").read_text())["history"]
    assert record["val"] == history[-1]["val"]
    (tmp_path / "best").mkdir()
    best_target, by_best = export_script.export(run, tmp_path / "best", hardware=None)
    assert by_best["weights"] == "best" and "weights" not in by_best["stages"][-1]
    assert all(torch.equal(load_file(str(best_target))[k], best[k].half()) for k in best)


def test_a_run_from_a_shipped_name_follows_the_card_of_the_file_it_read(tmp_path, export_script):
    """`--init convlstm/shipped-scenes` names no file; the run's record of what it read finds the card."""
    weights = shipped(tmp_path, [{"options": {"lr": 1e-3}, "steps": 10}])
    read = {"path": str(weights), "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    config = {**run_config("vit/shipped-scenes", 30), "init_weights": read}
    assert [st["steps"] for st in export_script.stages_of(tmp_path / "run", config)] == [10, 30]
