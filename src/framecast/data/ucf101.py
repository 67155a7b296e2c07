"""UCF101: which videos belong to which split, by the official split lists.

UCF101 (Soomro, Zamir and Shah, 2012) holds 13,320 YouTube clips of 101 actions, 320x240 at 25 fps, in
``UCF-101/<Class>/v_<Class>_gGG_cCC.avi``: clips of one group (gGG) come from one long video, so they share
the actor and the scene. ``framecast download ucf101`` unpacks ``UCF101.rar`` and the official split lists
(``ucfTrainTestlist/trainlist01.txt``, ``testlist01.txt``, ``classInd.txt``) into ``paths.dataset_dir("ucf101")``.

Split 1 of the lists decides train and test (its test groups are 1-7). The validation split is held out of the
training list by *group*: the :data:`VAL_GROUPS` highest-numbered groups of the training list (24 and 25 in
split 1), so no group, hence no actor or scene, is in two splits. ``classes`` picks classes by their folder
names. Decoding, the frame policy and windows are those of every video (data.videos, data.registry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from framecast import paths
from framecast.errors import DataError, InputError, closest

VIDEOS = "UCF-101"  # the folder UCF101.rar unpacks to
LISTS = "ucfTrainTestlist"  # the folder of the split lists
#: The official split used (the lists come in three folds; the literature reports fold 1).
FOLD = 1
#: Training groups held out for validation: the highest-numbered ones of the training list.
VAL_GROUPS = 2
#: The five classes of the design framecast follows (64x64 grey, 30 frames in, 15 out).
DESIGN_CLASSES = ("PushUps", "PullUps", "BenchPress", "Lunges", "WallPushups")
#: That design's frames in and out (a suggestion: any context and horizon work).
CONTEXT, HORIZON = 30, 15

_GROUP = re.compile(r"_g(\d+)_c(\d+)\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class Selection:
    """The videos of a split, in list order, and what they are."""

    files: list[Path]
    classes: list[str]
    groups: list[int] = field(default_factory=list)
    description: str = ""


def root() -> Path:
    """Where ``framecast download ucf101`` unpacks the videos and the lists."""
    return paths.dataset_dir("ucf101")


def group_of(name: str) -> int:
    """The group of a clip from its file name (``v_PushUps_g08_c01.avi`` -> 8)."""
    match = _GROUP.search(name)
    if match is None:
        raise DataError(f"{name} is not named like a UCF101 clip (v_<Class>_gGG_cCC.avi)", "use the official lists")
    return int(match.group(1))


def read_list(path: Path) -> list[str]:
    """The clips of a split list, as ``Class/v_Class_gGG_cCC.avi`` (a train list's label column is dropped)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror})", "run `framecast download ucf101` again") from None
    return [line.split()[0].replace("\\", "/") for line in lines if line.strip()]


def class_names(folder: Path | None = None) -> list[str]:
    """The classes of the dataset, from ``classInd.txt`` (else from the video folders)."""
    folder = folder or root()
    index = folder / LISTS / "classInd.txt"
    if index.is_file():
        return [line.split()[-1] for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(p.name for p in (folder / VIDEOS).iterdir() if p.is_dir())


def _check_downloaded(folder: Path, fold: int) -> tuple[Path, Path, Path]:
    videos, train, test = (
        folder / VIDEOS,
        folder / LISTS / f"trainlist{fold:02d}.txt",
        folder / LISTS / f"testlist{fold:02d}.txt",
    )
    for needed in (videos, train, test):
        if not needed.exists():
            raise InputError(
                f"UCF101 has not been downloaded: {needed} is missing",
                "run `framecast download ucf101` (about 6.5 GB; unpacking needs unrar, unar, 7z or bsdtar)",
            )
    return videos, train, test


def _check_classes(classes: list[str] | None, available: list[str]) -> list[str]:
    if not classes:
        return available
    for name in classes:
        if name not in available:
            near = closest(name, available)
            maybe = f". Did you mean '{near}'?" if near else ""
            raise InputError(
                f"UCF101 has no class '{name}'{maybe}", f"for example --classes {','.join(DESIGN_CLASSES[:2])}"
            )
    return list(classes)


def _index(videos: Path) -> dict[str, Path]:
    """Every clip on disk by ``class/file`` in lower case: the lists and the files disagree on case in places
    (``HandstandPushups/v_HandStandPushups_g01_c01.avi``)."""
    return {f"{p.parent.name}/{p.name}".lower(): p for p in videos.glob("*/*") if p.is_file()}


def _pick(entries: list[str], split: str, val_groups: set[int]) -> list[str]:
    if split == "val":
        return [e for e in entries if group_of(e) in val_groups]
    if split == "train":
        return [e for e in entries if group_of(e) not in val_groups]
    return entries


def split_files(
    split: str, classes: list[str] | None = None, folder: Path | None = None, fold: int = FOLD
) -> Selection:
    """The videos of a split (train, val, test or all) of the picked classes (default: all 101).

    Raises:
        InputError: not downloaded, or an unknown class (the closest is suggested).
        DataError: clips named by the lists are missing on disk.
    """
    folder = folder or root()
    videos, train_list, test_list = _check_downloaded(folder, fold)
    picked = _check_classes(classes, class_names(folder))
    training = read_list(train_list)
    train_groups = sorted({group_of(e) for e in training})
    val_groups = set(train_groups[-VAL_GROUPS:]) if len(train_groups) > VAL_GROUPS else set()
    if split == "test":
        entries = read_list(test_list)
    elif split == "all":
        entries = training + read_list(test_list)
    else:
        entries = _pick(training, split, val_groups)
    wanted = {c.lower() for c in picked}
    entries = [e for e in entries if e.split("/")[0].lower() in wanted]
    on_disk = _index(videos)
    missing = [e for e in entries if e.lower() not in on_disk]
    if missing:
        raise DataError(
            f"{len(missing)} clip{'s' if len(missing) != 1 else ''} of the official lists "
            f"{'are' if len(missing) != 1 else 'is'} missing from {videos} "
            f"(first: {missing[0]})",
            "run `framecast download ucf101 --force` to unpack the archive again",
        )
    groups = sorted({group_of(e) for e in entries})
    span = f"groups {groups[0]}-{groups[-1]}" if groups else "no groups"
    named = ", ".join(picked) if len(picked) <= 6 else f"{len(picked)} classes"
    description = f"UCF101 split {fold}, {split}: {len(entries)} clips of {named} ({span})"
    return Selection([on_disk[e.lower()] for e in entries], picked, groups, description)
