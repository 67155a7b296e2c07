"""Checkpoints shipped inside the package: they load without unpickling, match their records, and predict the
real clips with no training run present."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from safetensors import safe_open

from conftest import VIDEOS, run_cli
from framecast.checkpoints import PRETRAINED_DIR, load_checkpoint, origin, resolve_model

RECORDS = sorted(PRETRAINED_DIR.glob("*.json"))


def test_every_record_has_its_weights_and_every_weights_file_its_record() -> None:
    assert {r.stem for r in RECORDS} == {w.stem for w in PRETRAINED_DIR.glob("*.safetensors")}
    assert {json.loads(r.read_text())["model"] for r in RECORDS} >= {"convlstm", "predrnn"}


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.stem)
def test_shipped_files_match_their_size_and_hash_and_load_without_pickle(record) -> None:
    meta = json.loads(record.read_text())
    weights = PRETRAINED_DIR / meta["file"]
    blob = weights.read_bytes()
    assert len(blob) == meta["bytes"]
    assert hashlib.sha256(blob).hexdigest() == meta["sha256"]
    assert not blob.startswith(b"\x80") and b"PK\x03\x04" not in blob[:4]  # not a pickle, not a torch zip
    with safe_open(str(weights), framework="pt") as f:  # safetensors: a JSON header and raw tensors
        assert all(f.get_slice(k).get_dtype() in ("F16", "I64") for k in f.keys())  # noqa: SIM118 - a safetensors handle is not iterable
    ckpt = load_checkpoint(weights)
    assert ckpt.name == meta["model"] and ckpt.spec == meta["spec"]
    assert sum(p.numel() for p in ckpt.model.parameters()) == meta["parameters"]
    assert sum(PRETRAINED_DIR.joinpath(json.loads(r.read_text())["file"]).stat().st_size for r in RECORDS) <= 20e6


def test_model_name_falls_back_to_the_shipped_checkpoint_and_says_so() -> None:
    path = resolve_model("convlstm")  # this test's FRAMECAST_HOME holds no runs
    assert path.parent == PRETRAINED_DIR
    assert origin(path) == "the checkpoint shipped with framecast"


@pytest.mark.parametrize("model", ["convlstm", "predrnn"])
def test_predict_the_real_clips_with_a_shipped_checkpoint(model, tmp_path) -> None:
    clips = sorted(VIDEOS.iterdir())
    result = run_cli("predict", *map(str, clips), "--model", model, "--out-dir", str(tmp_path), "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["checkpoint"]["chosen_by"].endswith("the checkpoint shipped with framecast")
    assert len(report["clips"]) == len(clips) == 3
    for clip in report["clips"]:
        assert Path(clip["output"]).parent == tmp_path and Path(clip["output"]).stat().st_size > 0
