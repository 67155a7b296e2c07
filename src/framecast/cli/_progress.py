"""A training progress bar: loss, steps per second, ETA; on stderr, only at a terminal."""

from __future__ import annotations


class TrainProgress:
    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = None
        self._task = None

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            from framecast.cli import _output

            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  {task.fields[rate]:.2f} steps/s"),
                TimeRemainingColumn(),
                console=_output.err(),
                transient=True,
            )
            self._progress.__enter__()
        return self

    def step(self, step: int, total: int, loss: float, rate: float) -> None:
        if self._progress is None:
            return
        if self._task is None:
            self._task = self._progress.add_task("train", total=total, loss=loss, rate=rate, completed=step)
        self._progress.update(self._task, completed=step, total=total, loss=loss, rate=rate)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
