"""KTH human actions: which clips belong to which split, by the field's protocol.

KTH (Schuldt, Laptev and Caputo, ICPR 2004) holds 599 grey 160x120 AVI clips at 25 fps: 25 persons doing 6
actions in 4 scenarios, named ``personNN_<action>_dK_uncomp.avi``. ``framecast download kth`` unpacks the six
action archives into ``paths.dataset_dir("kth")/<action>/``.

The protocol of the video prediction literature (PredRNN, E3D-LSTM, OpenSTL) trains on persons 1-16 and tests
on persons 17-25, 10 frames in and 20 out. framecast holds persons 15 and 16 out of training for validation, so
that the split is still by person: no person is in two splits. The split of a clip is decided here; decoding,
the frame policy and windows are those of every video (data.videos, framecast.clips, data.registry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from framecast import paths
from framecast.errors import InputError, closest

ACTIONS = ("walking", "jogging", "running", "boxing", "handwaving", "handclapping")
#: Persons of each split (validation is held out of the protocol's training persons 1-16).
PERSONS = {"train": tuple(range(1, 15)), "val": (15, 16), "test": tuple(range(17, 26))}
#: The protocol's frames in and out (a suggestion: any context and horizon work).
CONTEXT, HORIZON = 10, 20
#: Frame sizes of the protocol (any --size works; these are the published ones).
SIZES = (64, 128)

_NAME = re.compile(r"^person(\d{2})_([a-z]+)_d(\d)_uncomp\.avi$", re.IGNORECASE)


@dataclass(frozen=True)
class KTHClip:
    """One KTH clip and what its name says."""

    path: Path
    person: int  # 1..25
    action: str  # one of ACTIONS
    scenario: int  # 1..4: outdoors, outdoors with scale change, outdoors in other clothes, indoors


def root() -> Path:
    """Where ``framecast download kth`` unpacks the clips."""
    return paths.dataset_dir("kth")


def split_of(person: int) -> str:
    """The split a person's clips belong to: train, val or test."""
    for split, persons in PERSONS.items():
        if person in persons:
            return split
    raise ValueError(f"KTH has persons 1 to 25, not {person}")


def find_clips(folder: Path | None = None) -> list[KTHClip]:
    """Every KTH clip under `folder` (default: the download), by action, person and scenario.

    Raises:
        InputError: no KTH clip there (the hint says how to download them).
    """
    folder = folder or root()
    clips = []
    if folder.is_dir():
        for path in folder.rglob("*"):
            match = _NAME.match(path.name)
            if match and match.group(2).lower() in ACTIONS and path.is_file():
                person, action, scenario = int(match.group(1)), match.group(2).lower(), int(match.group(3))
                if 1 <= person <= 25:
                    clips.append(KTHClip(path, person, action, scenario))
    if not clips:
        raise InputError(f"no KTH clips in {folder}", "run `framecast download kth`")
    return sorted(clips, key=lambda c: (ACTIONS.index(c.action), c.person, c.scenario, c.path.name))


def clips_for(split: str, actions: list[str] | None = None, folder: Path | None = None) -> list[KTHClip]:
    """The clips of a split (train, val, test or all), optionally of some actions only.

    Raises:
        InputError: an unknown action (the closest is suggested), or no clip downloaded.
    """
    for action in actions or ():
        if action.lower() not in ACTIONS:
            near = closest(action, ACTIONS)
            maybe = f". Did you mean '{near}'?" if near else ""
            raise InputError(f"KTH has no action '{action}'{maybe}", f"KTH's actions: {', '.join(ACTIONS)}")
    wanted = {a.lower() for a in actions} if actions else set(ACTIONS)
    return [c for c in find_clips(folder) if c.action in wanted and (split == "all" or split_of(c.person) == split)]


def describe(split: str, clips: list[KTHClip]) -> str:
    """A line for people: which persons and actions a split holds."""
    persons = sorted({c.person for c in clips})
    actions = [a for a in ACTIONS if any(c.action == a for c in clips)]
    span = f"persons {persons[0]}-{persons[-1]}" if persons else "no persons"
    return f"KTH {split} split: {len(clips)} clips of {span} ({len(persons)} persons), {', '.join(actions)}"
