"""The Python API page runs: every ```python block of docs/pages/api.md, in order, in one namespace."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "pages" / "api.md"


def test_the_api_page_examples_run(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 5
    script = tmp_path / "api_examples.py"
    script.write_text("\n".join(blocks))
    # a fresh interpreter, as a notebook would be: nothing imported beforehand
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "the checkpoint shipped with framecast" in result.stdout


def test_importing_framecast_is_light() -> None:
    code = "import sys, framecast; print(framecast.__version__, 'torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1:] == ["False", "False"]


def test_predict_refuses_what_is_not_a_clip() -> None:
    import numpy as np
    import pytest

    import framecast
    from framecast.errors import InputError

    model = framecast.load("convlstm")
    with pytest.raises(InputError, match="not"):
        model.predict(np.zeros((64, 64), np.uint8))
    with pytest.raises(InputError, match="context"):
        model.predict(np.zeros((3, 64, 64), np.uint8), context=5)
