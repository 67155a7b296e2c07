"""`framecast import openstl`: OpenSTL's checkpoints of six families, imported, predict what OpenSTL predicts.

The fixtures in fixtures/openstl were written by scripts/check_openstl_import.py from OpenSTL's own model files
(small configurations of the same structure, random weights, 16x16 frames): per family the file as OpenSTL saves it
(a bare state dict, or its training checkpoint with the model under `model.`), the input frames and OpenSTL's
prediction, and the import's options. So the mapping is checked here without OpenSTL's source.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from conftest import assert_clean_error, run_here, stray_temporaries

FIXTURES = Path(__file__).parent / "fixtures" / "openstl"
#: The fixtures' names and framecast's families.
FAMILIES = {
    "convlstm": "convlstm",
    "predrnn": "predrnn",
    "predrnnpp": "predrnn++",
    "mim": "mim",
    "simvp": "simvp",
    "tau": "tau",
}

#: OpenSTL's published parameter counts (its model zoo, in millions), by data set and family.
PUBLISHED = {
    "mmnist": {"convlstm": 15.0, "predrnn": 23.8, "predrnn++": 38.6, "mim": 38.0, "simvp": 46.8, "tau": 44.7},
    "kth": {"convlstm": 14.9, "predrnn": 23.6, "predrnn++": 38.3, "mim": 39.8, "simvp": 15.6, "tau": 15.0},
}


def _fixture(stem: str, tmp_path: Path) -> tuple[Path, list[str], dict]:
    path = tmp_path / f"{stem}.pth"
    shutil.copy(FIXTURES / f"{stem}.pth", path)
    args = json.loads((FIXTURES / f"{stem}.json").read_text())["args"]
    frames = torch.load(FIXTURES / f"{stem}.frames.pt", weights_only=True)
    return path, args, frames


@pytest.mark.parametrize("stem", list(FAMILIES))
def test_an_import_predicts_what_openstl_predicts(capsys, tmp_path: Path, isolated_home: Path, stem: str) -> None:
    from framecast.checkpoints import load_checkpoint

    path, args, frames = _fixture(stem, tmp_path)
    result = run_here(capsys, "import", "openstl", path, "--name", "ref", "--json", *args)
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    family = FAMILIES[stem]
    assert report["run"] == f"{family}/ref" and report["dataset"] == "mmnist"
    model = load_checkpoint(Path(report["weights"])).model.eval()
    assert model.config.head == "linear"
    with torch.no_grad():
        ours = model(frames["input"], frames["output"].shape[1])
    assert (ours - frames["output"]).abs().max() <= 1e-5
    inside = (frames["output"] > 0) & (frames["output"] < 1)
    assert inside.float().mean() > 0.1  # the comparison means something: OpenSTL's frames are not all clipped


def test_the_run_is_listed_and_carries_its_card(capsys, tmp_path: Path, isolated_home: Path) -> None:
    path, args, _ = _fixture("convlstm", tmp_path)
    assert run_here(capsys, "import", "openstl", path, "--name", "digits", "-q", *args).code == 0
    runs = json.loads(run_here(capsys, "runs", "--json").stdout)["runs"]
    assert any(r["run"] == "convlstm/digits" and r["status"] == "finished" for r in runs)
    config = json.loads((isolated_home / "data" / "runs" / "convlstm" / "digits" / "config.json").read_text())
    assert config["imported"] and config["data"]["name"] == "moving-mnist" and len(config["data"]["sha256"]) == 64
    assert config["spec"]["context"] == 10 and config["spec"]["horizon"] == 10 and config["spec"]["height"] == 16
    again = run_here(capsys, "import", "openstl", path, "--name", "digits", *args)
    assert_clean_error(again, 2, "exists")


class Payload:
    """Unpickling this would create a file: proof of code run by loading."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _damaged(kind: str, tmp_path: Path) -> Path:
    """The ConvLSTM fixture (OpenSTL's training checkpoint), damaged one way."""
    saved = torch.load(FIXTURES / "convlstm.pth", weights_only=True)
    state = saved["state_dict"]
    path = tmp_path / f"{kind}.pth"
    if kind == "missing":
        del state["model.cell_list.1.conv_h.0.weight"]
    elif kind == "extra":
        state["model.cell_list.2.conv_h.0.weight"] = torch.zeros(3)
    elif kind == "misshapen":
        state["model.conv_last.weight"] = torch.zeros(16, 5, 1, 1)
    elif kind == "payload":
        Payload.marker = str(tmp_path / "ran")
        state["model.conv_last.weight"] = Payload()
    elif kind == "list":
        saved = list(state.values())
    torch.save(saved, path)
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.mark.parametrize(
    ("kind", "code", "fragments"),
    [
        ("missing", 2, ("missing 1: cell_list.1.conv_h.0.weight",)),
        ("extra", 2, ("unexpected 1: cell_list.2.conv_h.0.weight",)),
        ("misshapen", 2, ("misshapen 1: conv_last.weight (16, 5, 1, 1) (expected (16, 4, 1, 1))",)),
        ("truncated", 1, ("truncated or damaged",)),
        ("payload", 2, ("pickle payload", "io.open")),
        ("list", 2, ("not a state dict",)),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(
    capsys, tmp_path: Path, isolated_home: Path, kind: str, code: int, fragments: tuple
) -> None:
    path = _damaged(kind, tmp_path)
    args = json.loads((FIXTURES / "convlstm.json").read_text())["args"]
    result = run_here(capsys, "import", "openstl", path, "--name", "bad", *args)
    assert_clean_error(result, code, *fragments)
    assert result.stderr.count("Error:") == 1
    assert "weights_only=False" not in result.stderr
    assert not (isolated_home / "data" / "runs" / "convlstm" / "bad").exists()
    assert not (tmp_path / "ran").exists()
    assert stray_temporaries(isolated_home) == []


def test_bad_usage_is_refused(capsys, tmp_path: Path) -> None:
    path, _, _ = _fixture("simvp", tmp_path)
    assert_clean_error(run_here(capsys, "import", "openstl", path, "--name", "x"), 2, "--model")
    assert_clean_error(run_here(capsys, "import", "openstl", path, "--name", "x", "--model", "phydnet"), 2, "simvp")
    wrong = ["--model", "simvp", "--dataset", "kitti"]
    assert_clean_error(run_here(capsys, "import", "openstl", path, "--name", "x", *wrong), 2, "kth")
    # the right file at the wrong configuration: OpenSTL's base SimVP, not the small one
    assert_clean_error(run_here(capsys, "import", "openstl", path, "--name", "x", "--model", "simvp"), 2, "misshapen")


@pytest.mark.parametrize("dataset", list(PUBLISHED))
def test_the_mapping_is_whole_and_counts_openstls_parameters(dataset: str) -> None:
    """At OpenSTL's configuration of each data set, every framecast tensor is made once, and the tensors expected
    in OpenSTL's file add up to the parameters OpenSTL publishes (its unused convolutions included)."""
    from framecast.importing_openstl import RULES, build, check_rules, expected

    for family, millions in PUBLISHED[dataset].items():
        with torch.device("meta"):
            net = build(family, "base", dataset, None, {})
        assert check_rules(net) == [], family
        rules, unused = RULES[family](net.config, list(net.state_dict()))
        counted = [math.prod(s) for k, s in expected(net, rules, unused).items() if "running_" not in k]
        assert abs(sum(counted) / 1e6 - millions) < 0.1, family


def test_the_linear_head_is_an_option_of_the_six_families() -> None:
    from framecast.errors import UsageError
    from framecast.models import create_model

    for family in ("convlstm", "predrnn", "predrnn++", "mim", "simvp", "tau"):
        with pytest.raises(UsageError, match="sigmoid or linear"):
            create_model(family, "tiny", head="softmax")
        with pytest.raises(UsageError, match="excludes residual"):
            create_model(family, "tiny", head="linear", residual=True)
    torch.manual_seed(0)
    model = create_model("simvp", "tiny", height=16, width=16, head="linear").eval()
    with torch.no_grad():
        model.head.weight.mul_(50.0)  # frames far outside [0, 1] before they are kept in it
        out = model(torch.rand(2, 4, 1, 16, 16), 6)  # two chained blocks of 4
    assert out.shape == (2, 6, 1, 16, 16) and float(out.min()) == 0.0 and float(out.max()) == 1.0
