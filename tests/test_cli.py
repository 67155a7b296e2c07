"""The command line's shape: help, version, not-yet-built commands, info, the error contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import run_cli

COMMANDS = ("download", "eda", "train", "eval", "predict", "compare", "render-gif", "models", "runs")


def _modules_after(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from framecast.cli import run\n"
        f"code = run({args!r})\n"
        "sys.stdout.flush()\n"
        "print('\\nMODULES', ' '.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES"))
    return set(line.split()[1:])


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["train", "--help"], ["eda", "--help"]])
def test_help_and_version_do_not_import_torch(args: list[str]) -> None:
    modules = _modules_after(args)
    assert "framecast" in modules and "typer" in modules  # the probe really ran the command line
    assert not any(m == "torch" or m.startswith("torch.") for m in modules)
    assert "numpy" not in modules


def test_help_lists_every_command_with_a_summary() -> None:
    result = run_cli("--help")
    assert result.code == 0
    for command in COMMANDS:
        line = next((x for x in result.stdout.splitlines() if f" {command} " in x), None)
        assert line is not None, f"{command} missing from --help"
        assert len(line.split(command, 1)[1].strip(" │")) > 5, f"{command} has no summary"


@pytest.mark.parametrize("command", [*COMMANDS, "info"])
def test_each_command_help_ends_with_examples(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.code == 0, result.stderr
    tail = result.stdout[result.stdout.index("Examples") :]
    assert f"framecast {command}" in tail


def test_version_matches_package() -> None:
    from framecast import __version__

    result = run_cli("--version")
    assert result.code == 0
    assert result.stdout.strip() == f"framecast {__version__}"


def test_python_dash_m_and_the_script_agree() -> None:
    from pathlib import Path

    installed = Path(sys.executable).parent / "framecast"  # the entry point beside this interpreter
    script = subprocess.run([str(installed), "--version"], capture_output=True, text=True)
    assert script.returncode == 0
    assert script.stdout == run_cli("--version").stdout


def test_info_json_reports_paths_under_framecast_home(isolated_home) -> None:
    result = run_cli("info", "--json")
    assert result.code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["paths"]["home"] == str(isolated_home)
    assert info["paths"]["cache"] == str(isolated_home / "cache")
    assert info["paths"]["runs"] == str(isolated_home / "data" / "runs")
    assert info["device"] in ("cpu", "cuda", "mps")
    assert info["torch"]
    assert set(info["sizes"]) >= {"cache", "data", "downloads", "runs"}


def test_info_follows_xdg_variables_without_framecast_home(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("FRAMECAST_HOME")
    env = {"XDG_CACHE_HOME": str(tmp_path / "xc"), "XDG_DATA_HOME": str(tmp_path / "xd")}
    if sys.platform != "linux":
        pytest.skip("XDG variables apply on Linux")
    info = json.loads(run_cli("info", "--json", env=env).stdout)
    assert info["paths"]["cache"] == str(tmp_path / "xc" / "framecast")
    assert info["paths"]["data"] == str(tmp_path / "xd" / "framecast")
    assert info["sizes"]["cache"] == 0


def test_unknown_command_is_a_usage_error() -> None:
    result = run_cli("trian")
    assert result.code == 2
    assert "train" in result.stderr  # the suggestion
    assert "Traceback" not in result.stderr


def test_nothing_is_written_by_help_or_info(isolated_home) -> None:
    run_cli("--help")
    run_cli("info")
    assert list(isolated_home.iterdir()) == []


def test_train_help_names_every_family() -> None:
    from framecast.models import list_models
    from framecast.training.options import TrainOptions

    help_text = TrainOptions.__dataclass_fields__["model"].metadata
    assert all(name in str(help_text) for name in list_models()), help_text
