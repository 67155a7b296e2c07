"""The page's temporary folder: uploads (where the web server puts them) and each run's results, swept while it
serves and removed, whole, when it stops. Nothing of a visitor's clips is left on the machine."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from framecast.ui import limits


class Workspace:
    """A fresh temporary folder: ``uploads/`` for the web server, ``results/<run>/`` for the runs."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="framecast-ui-"))
        self.uploads = self.root / "uploads"
        self.results = self.root / "results"
        self.uploads.mkdir()
        self.results.mkdir()

    def new_run(self) -> Path:
        """A folder for one run's files; runs older than KEEP_SECONDS are removed first."""
        self.sweep()
        return Path(tempfile.mkdtemp(prefix="run-", dir=self.results))

    def sweep(self, older_than: float = limits.KEEP_SECONDS) -> None:
        """Remove uploads and runs older than `older_than` seconds."""
        now = time.time()
        for folder in (self.uploads, self.results):
            for entry in list(folder.iterdir()):
                try:
                    old = now - entry.stat().st_mtime > older_than
                except OSError:
                    continue
                if old and entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                elif old:
                    entry.unlink(missing_ok=True)

    def close(self) -> None:
        """Remove everything: uploads, results."""
        shutil.rmtree(self.root, ignore_errors=True)
