"""The models a person can tick: every checkpoint shipped with framecast and every finished run, as `framecast
runs` lists them. The page sends back their names only; the server maps a name to its weights, so a request
cannot point the page at any other file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framecast.errors import InputError

#: Run statuses whose weights are there to use (a run still training, or one that failed, is left out).
USABLE = ("shipped", "finished", "stopped early")


@dataclass(frozen=True)
class Choice:
    """One model on the page: its name (`predrnn/shipped`, `convlstm/my-run`), weights and data spec."""

    label: str
    path: str
    spec: dict[str, Any]


def model_choices() -> list[Choice]:
    """Finished runs (newest first), then the shipped checkpoints."""
    from framecast.checkpoints import run_summaries

    return [
        Choice(row["run"], row["path"], dict(row["spec"] or {}))
        for row in run_summaries()
        if row["status"] in USABLE and row["spec"]
    ]


def pick(labels: list[str] | None) -> list[Choice]:
    """The choices of these names, in the page's order.

    Raises:
        InputError: no name, or a name the page does not offer (a run removed since the page was loaded).
    """
    if not labels:
        raise InputError("no model ticked", "tick one or more models")
    offered = {choice.label: choice for choice in model_choices()}
    unknown = [label for label in labels if label not in offered]
    if unknown:
        raise InputError(f"the page offers no model '{unknown[0]}'", "reload the page to see the models there are now")
    return [offered[label] for label in labels]
