"""Downloading dataset files: mirrors tried in order, resumable, checked, renamed into place only when good.

A file is described by a :class:`FileSpec` (name, md5, sha256 or sha1, size when known); :func:`download_files`
fetches a list of them into a folder from a list of mirror base URLs, and :func:`download_dataset` does it for a
named dataset of :data:`DATASETS` into ``paths.dataset_dir(name)``. For each file:

- a file already there with the right checksum is kept (unless ``force``);
- bytes are streamed to ``<name>.part`` and the file is renamed to its own name only after its checksum matches;
- a ``.part`` left by an interrupted run, or by a connection that dropped half-way, is resumed with an HTTP
  Range request (a server that ignores Range sends the whole file again, and the download starts over);
- a dropped or timed-out connection is retried by resuming; a mirror that refuses, is missing the file or keeps
  failing gives way to the next one;
- a checksum mismatch deletes the bad file and, when no mirror gives a good copy, raises :class:`DataError`
  with the file, the expected and the actual checksum;
- ``FRAMECAST_OFFLINE=1`` refuses before any connection is opened (:class:`OfflineError`);
- ``FRAMECAST_MIRROR`` (comma-separated base URLs) replaces the built-in mirrors of every dataset.

A download may also be converted once into the file framecast uses (:class:`Conversion`): ``vgg16`` fetches
torchvision's ``vgg16-397923af.pth`` and keeps its feature layers as ``vgg16-features.safetensors``, for the
perceptual loss. The conversion is atomic and is skipped while its output is newer than the download.

Archives are unpacked once downloaded (:class:`Unpack`, done by :mod:`framecast.data.archives`): ``kth`` fetches
KTH's six action zips and unpacks each into its action's folder; ``ucf101`` fetches the official split lists
(a zip) and ``UCF101.rar``, which needs a system tool (``unrar``, ``unar``, ``7z`` or ``bsdtar``): its absence is
reported before anything is fetched. A file whose publisher gives no checksum (``UCF101.rar``) says why in its
spec; it is accepted once complete, its md5 reported, and its archive's own CRCs are tested as it is unpacked.

Only the standard library is used for HTTP, so this module imports nothing heavy (torch is imported only to
convert).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from framecast import _fs, paths
from framecast.data import archives
from framecast.errors import DataError, DownloadError, OfflineError, UsageError, unknown_name

#: Environment variable holding mirror base URLs (comma separated) that replace the built-in ones.
MIRROR_ENV = "FRAMECAST_MIRROR"

#: Seconds to wait for a connection, and for each read once connected.
DEFAULT_TIMEOUT = 30.0

#: Tries of one mirror in a row that bring no new bytes before the next mirror is tried.
DEFAULT_ATTEMPTS = 3

_CHUNK = 1 << 20  # bytes read and written at a time

#: Called with (file name, bytes so far, total bytes or None) as a download goes.
ProgressCallback = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class FileSpec:
    """One file to fetch: its name on the mirrors and on disk, its checksum, and its size when known.

    Exactly one of `md5`, `sha256` and `sha1` is given (full hex digests): the datasets are checked by the digest
    their publishers (or the libraries that fetch them) give, torchvision's weights by the sha256 that torch.hub's
    release files are named after. A file with no published digest at all says why in `unverified` instead (for
    example that its archive's own CRCs are tested when it is unpacked): it is accepted when complete, and its
    md5 is reported, not compared.
    """

    name: str
    md5: str | None
    size: int | None = None
    sha256: str | None = None
    sha1: str | None = None
    unverified: str | None = None  # why there is no digest to check (None: there is one)

    def __post_init__(self) -> None:
        given = sum(d is not None for d in (self.md5, self.sha256, self.sha1))
        if given > 1 or (given == 0 and not self.unverified) or (given == 1 and self.unverified):
            raise ValueError(
                f"FileSpec {self.name}: give exactly one of md5, sha256 and sha1, or none and say why (unverified)"
            )

    @property
    def algorithm(self) -> str:
        """``md5``, ``sha256`` or ``sha1``: how the file is checked (an unverified file's md5 is only reported)."""
        if self.sha256 is not None:
            return "sha256"
        return "sha1" if self.sha1 is not None else "md5"

    @property
    def digest(self) -> str | None:
        """The expected hex digest (None for an unverified file)."""
        return self.md5 or self.sha256 or self.sha1


@dataclass(frozen=True)
class Conversion:
    """A file made once from a downloaded one, beside it, and made again only when older than its source."""

    source: str  # the name of a downloaded file of the dataset
    target: str  # the name of the file made from it
    convert: Callable[[Path, Path], None]  # (source path, temporary target path): writes the target


@dataclass(frozen=True)
class Unpack:
    """An archive of a dataset to unpack once downloaded (see data.archives), and where its contents go."""

    archive: str  # the name of a downloaded file of the dataset (.zip or .rar)
    into: str = "."  # a folder relative to the dataset's folder


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset that `framecast download` knows: its files, the mirrors that serve them in order, a conversion,
    the archives to unpack."""

    name: str
    description: str
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...]
    conversion: Conversion | None = None
    unpack: tuple[Unpack, ...] = ()


@dataclass(frozen=True)
class Downloaded:
    """What became of one file; its digest by the algorithm of its spec (the others are None)."""

    name: str
    path: Path
    bytes: int
    md5: str | None
    skipped: bool  # already present with the right checksum: nothing fetched
    url: str | None  # where it came from; None when skipped
    resumed_from: int = 0  # bytes of an earlier partial download that were kept
    sha256: str | None = None
    sha1: str | None = None
    verified: bool = True  # False: no published digest to compare (see FileSpec.unverified)

    @property
    def algorithm(self) -> str:
        return "sha256" if self.sha256 else "sha1" if self.sha1 else "md5"


def _downloaded(spec: FileSpec, path: Path, digest: str, url: str | None, resumed_from: int = 0) -> Downloaded:
    digests = {"md5": None, "sha256": None, "sha1": None, spec.algorithm: digest}
    return Downloaded(
        spec.name,
        path,
        path.stat().st_size,
        digests["md5"],
        url is None,
        url,
        resumed_from,
        digests["sha256"],
        digests["sha1"],
        spec.digest is not None,
    )


def _convert_vgg16(source: Path, target: Path) -> None:
    """Keep the feature layers of torchvision's VGG16 state dict that the perceptual loss uses, as safetensors.

    Raises:
        DataError: the .pth carries pickled objects beyond tensors (refused by ``weights_only=True``).
        CheckpointError: it cannot be read, or lacks a layer or has one of the wrong shape.
    """
    from safetensors.torch import save_file

    from framecast.models import vgg

    last = max(vgg.layer_index(layer) for layer in vgg.PERCEPTUAL_LAYERS)
    state = vgg.feature_state(vgg.read_state(source), last, source=source)
    meta = {"source": source.name, "layers": f"features.0-{last} of torchvision's VGG16 (to relu3_3)"}
    save_file(state, str(target), metadata=meta)


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        description="MNIST handwritten digits, the four idx files (about 11 MB)",
        files=(
            FileSpec("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
            FileSpec("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28_881),
            FileSpec("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1_648_877),
            FileSpec("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4_542),
        ),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    ),
    "moving-mnist": DatasetSpec(
        name="moving-mnist",
        description="the standard Moving MNIST test set, mnist_test_seq.npy: (20, 10000, 64, 64) uint8 (about 820 MB)",
        files=(FileSpec("mnist_test_seq.npy", "be083ec986bfe91a449d63653c411eb2"),),
        mirrors=(
            "https://www.cs.toronto.edu/~nitish/unsupervised_video/",
            "http://www.cs.toronto.edu/~nitish/unsupervised_video/",
        ),
    ),
    "vgg16": DatasetSpec(
        name="vgg16",
        description="torchvision's ImageNet VGG16 weights, vgg16-397923af.pth (about 553 MB), for the perceptual loss",
        # torch.hub names release files after their sha256; the full digest and the size are those that many
        # independent projects pin and that torch.hub's progress bar reports for this file
        files=(
            FileSpec(
                "vgg16-397923af.pth",
                None,
                553_433_881,
                sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
            ),
        ),
        mirrors=("https://download.pytorch.org/models/",),
        conversion=Conversion("vgg16-397923af.pth", "vgg16-features.safetensors", _convert_vgg16),
    ),
    "fmnist": DatasetSpec(
        name="fmnist",
        description="Fashion-MNIST, the four idx files (about 31 MB): the items of moving-fmnist",
        # md5s and sizes as zalandoresearch/fashion-mnist's README publishes them (torchvision checks the same)
        files=(
            FileSpec("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26_421_880),
            FileSpec("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", 29_515),
            FileSpec("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", 4_422_102),
            FileSpec("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", 5_148),
        ),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
    ),
    "kth": DatasetSpec(
        name="kth",
        description="KTH human actions, six zip archives of grey 160x120 AVI clips, 25 persons x 4 scenarios",
        # KTH publishes no checksums; these sha1s are the ones the vipy library (visym/vipy,
        # vipy/dataset/kthactions.py) checks the same six archives against
        files=tuple(
            FileSpec(f"{action}.zip", None, sha1=sha1)
            for action, sha1 in (
                ("walking", "a3e81537271a0ab4576591774baa38c2d97b7e3a"),
                ("jogging", "21943bdbcef9dad106db0d74661e49eaeaa15a25"),
                ("running", "da83bb313edfd4455fffdda6263696fa10d43c6f"),
                ("boxing", "adb36ed9c29c846d44d2ba15f348bd115c951bbd"),
                ("handwaving", "0792f7cd69f7f895a205c08ac212ddaa7177e370"),
                ("handclapping", "d3b81261aa822ef63d0d1523f945bfaff27814d2"),
            )
        ),
        mirrors=(
            "https://www.csc.kth.se/cvap/actions/",
            "http://www.csc.kth.se/cvap/actions/",
            "http://www.nada.kth.se/cvap/actions/",
        ),
        unpack=tuple(
            Unpack(f"{action}.zip", action)
            for action in ("walking", "jogging", "running", "boxing", "handwaving", "handclapping")
        ),
    ),
    "ucf101": DatasetSpec(
        name="ucf101",
        description="UCF101 action videos, UCF101.rar (about 6.5 GB; unpacking needs unrar, unar, 7z or bsdtar) "
        "and the official train/test split lists",
        files=(
            # sha256 and size as tensorflow/datasets pins them (tensorflow_datasets/url_checksums/ucf101.txt)
            FileSpec(
                "UCF101TrainTestSplits-RecognitionTask.zip",
                None,
                113_943,
                sha256="5c0d1a53b8ed364a2ac830a73f405e51bece7d98ce1254fd19ed4a36b224bd27",
            ),
            FileSpec(
                "UCF101.rar",
                None,
                unverified="UCF publishes no checksum for UCF101.rar; the archive's CRCs are tested as it is unpacked",
            ),
        ),
        mirrors=(
            "https://www.crcv.ucf.edu/data/UCF101/",
            "https://www.crcv.ucf.edu/datasets/human-actions/ucf101/",
        ),
        unpack=(Unpack("UCF101TrainTestSplits-RecognitionTask.zip"), Unpack("UCF101.rar")),
    ),
}


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of a downloadable dataset.

    Raises:
        UsageError: for an unknown name, suggesting the closest one.
    """
    if name not in DATASETS:
        raise unknown_name("dataset", name, tuple(DATASETS))
    return DATASETS[name]


def mirrors_from_env() -> list[str] | None:
    """Mirror base URLs from FRAMECAST_MIRROR, or None when it is unset.

    Raises:
        UsageError: when a URL is not http(s).
    """
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    bases = [part.strip() for part in value.split(",") if part.strip()]
    for base in bases:
        if not re.match(r"^https?://[^/\s]+", base):
            raise UsageError(
                f"{MIRROR_ENV} holds '{base}', which is not an http(s) URL",
                f"set {MIRROR_ENV} to base URLs such as https://example.org/mnist/, separated by commas",
            )
    return bases


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """The hex digest of a file (``md5`` or ``sha256``), read in chunks."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def file_md5(path: Path) -> str:
    """The md5 of a file, read in chunks."""
    return file_digest(path, "md5")


def _human(n: float) -> str:
    """Bytes as a short figure for people (6.5 GB)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _url(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


def _describe(exc: BaseException) -> str:
    """A short reason for people: 'connection refused', 'HTTP 404 Not Found', 'timed out'."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".strip()
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
        if not isinstance(exc, BaseException):  # pragma: no cover - URLError with a text reason
            return str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host not found"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, http.client.IncompleteRead | _ShortRead):
        return "connection dropped mid-file"
    if isinstance(exc, ConnectionError):
        return "connection dropped"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    return str(exc) or type(exc).__name__


class _ShortRead(Exception):
    """The server closed the connection before sending every byte it announced."""


class _Restart(Exception):
    """The partial file cannot be continued (a bad Content-Range): start again from byte 0."""


def _is_permanent(exc: BaseException) -> bool:
    """Errors that retrying the same mirror will not cure: try the next mirror at once."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code not in (408, 429) and exc.code < 500
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return isinstance(reason, ConnectionRefusedError | socket.gaierror | ssl.SSLError | str)
    return False


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"^\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*$", value or "")
    return int(match.group(1)) if match else None


def _fetch_once(
    spec: FileSpec,
    url: str,
    part: Path,
    *,
    timeout: float,
    progress: ProgressCallback | None,
    announce: Callable[[str, int | None], None] | None,
) -> None:
    """One request: continue `part` from its current size (or start it), until the server stops sending.

    Raises:
        urllib.error.URLError, OSError, http.client.HTTPException, _ShortRead: the attempt failed (the bytes
            received so far stay in `part`).
        _Restart: the partial file must be discarded.
        DownloadError: the disk is full or cannot be written.
    """
    offset = part.stat().st_size if part.exists() else 0
    from framecast._version import __version__

    headers = {"User-Agent": f"framecast/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if offset and response.status == 206:
            if _content_range_start(response.headers.get("Content-Range")) != offset:
                raise _Restart(f"{url} answered a range request with the wrong bytes")
        else:
            offset = 0  # a server that ignores Range sends the whole file: start over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else spec.size
        if announce is not None:
            announce(url, total)
        if total is not None:
            _check_space(part.parent, total - offset, spec.name)
        done = offset
        if progress is not None:
            progress(spec.name, done, total)
        with open(part, "ab" if offset else "wb") as f:
            while True:
                block = response.read(_CHUNK)
                if not block:
                    break
                try:
                    f.write(block)
                except OSError as exc:
                    raise DownloadError(
                        f"cannot write {part}: {exc.strerror or exc}",
                        "free some disk space, or set FRAMECAST_HOME to a folder on a larger disk",
                    ) from None
                done += len(block)
                if progress is not None:
                    progress(spec.name, done, total)
            f.flush()
            os.fsync(f.fileno())
        if total is not None and done < total:
            raise _ShortRead(f"{done} of {total} bytes")


def _check_space(folder: Path, needed: int, name: str) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DownloadError(
            f"not enough disk space for {name}: it needs {needed / 1e6:.0f} MB, {folder} has {free / 1e6:.0f} MB free",
            "free some disk space, or set FRAMECAST_HOME to a folder on a larger disk",
        )


def _fetch(
    spec: FileSpec,
    dest: Path,
    mirrors: Sequence[str],
    *,
    timeout: float,
    attempts: int,
    backoff: float,
    progress: ProgressCallback | None,
    notify: Callable[[str], None] | None,
) -> Downloaded:
    """Fetch one file from the first mirror that gives a good copy."""
    target = dest / spec.name
    part = dest / f"{spec.name}.part"
    failures: list[str] = []  # "url: reason", for the error message when every mirror fails
    mismatch: tuple[str, str] | None = None  # (url, digest) of the last copy that failed the checksum
    kept = part.stat().st_size if part.exists() else 0  # bytes of an earlier run's partial download

    def size() -> int:
        return part.stat().st_size if part.exists() else 0

    def announce(url: str, total: int | None) -> None:
        if notify is not None:
            have = size()
            of = f" ({_human(total)})" if total else ""  # the size is known before the bytes flow: say it
            notify(
                f"resuming {spec.name}{of} at byte {have:,} from {url}"
                if have
                else f"downloading {spec.name}{of} from {url}"
            )

    for base in mirrors:
        url = _url(base, spec.name)
        continued = size() > 0  # this mirror continues bytes that came from elsewhere
        tries_without_progress = 0
        restarted = False
        while True:
            before = size()
            try:
                _fetch_once(spec, url, part, timeout=timeout, progress=progress, announce=announce)
            except _Restart:
                part.unlink(missing_ok=True)
                kept = 0
                if restarted:
                    failures.append(f"{url}: answers range requests with the wrong bytes")
                    break
                restarted = True
                continue
            except urllib.error.HTTPError as exc:
                if exc.code == 416 and before:  # nothing after our offset: the partial file may be whole already
                    pass
                elif _is_permanent(exc):
                    failures.append(f"{url}: {_describe(exc)}")
                    break
                else:
                    tries_without_progress += 1
                    if tries_without_progress >= attempts:
                        failures.append(f"{url}: {_describe(exc)} ({attempts} tries)")
                        break
                    time.sleep(backoff * tries_without_progress)
                    continue
            except (urllib.error.URLError, OSError, http.client.HTTPException, _ShortRead) as exc:
                if _is_permanent(exc):
                    failures.append(f"{url}: {_describe(exc)}")
                    break
                # a dropped or stalled connection: resume where it stopped; give up only when tries bring nothing
                tries_without_progress = 0 if size() > before else tries_without_progress + 1
                if tries_without_progress >= attempts:
                    failures.append(f"{url}: {_describe(exc)} ({attempts} tries)")
                    break
                time.sleep(backoff * tries_without_progress)
                continue
            got = file_digest(part, spec.algorithm)
            if spec.digest is None or got == spec.digest:  # unverified: complete is all that can be known
                os.replace(part, target)
                if failures and notify is not None:
                    notify(f"{spec.name}: fetched from {url} after " + "; ".join(failures))
                return _downloaded(spec, target, got, url, kept)
            part.unlink()
            if continued and not restarted:
                # the bytes continued from before may be what is wrong: fetch the whole file once more from here
                restarted, continued, kept = True, False, 0
                continue
            mismatch = (url, got)
            failures.append(f"{url}: wrong checksum ({spec.algorithm} {got})")
            break
    if mismatch is not None:
        url, got = mismatch
        raise DataError(
            f"{spec.name} failed its checksum: expected {spec.algorithm} {spec.digest}, got {got} (from {url}); "
            "the bad file was deleted",
            f"the mirror may serve a damaged or changed file: try again later, or set {MIRROR_ENV} to another mirror",
        )
    raise DownloadError(
        f"could not download {spec.name}; tried " + "; ".join(failures),
        "check the network connection and try again (a partial download is kept and resumed), or set "
        f"{MIRROR_ENV} to mirrors that work, separated by commas",
    )


def download_files(
    specs: Sequence[FileSpec],
    dest: str | os.PathLike[str],
    mirrors: Sequence[str],
    *,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: float = 1.0,
    progress: ProgressCallback | None = None,
    notify: Callable[[str], None] | None = None,
) -> list[Downloaded]:
    """Fetch files into a folder, keeping those already there with the right checksum.

    Args:
        specs: the files, each with its md5 or sha256 (and size, when known).
        dest: the folder (created when missing); files keep their names there.
        mirrors: base URLs tried in order; a file's URL is the base joined with its name.
        force: fetch every file again, even those already present and good.
        timeout: seconds to wait to connect and for each read.
        attempts: tries of one mirror in a row that bring no new bytes before moving to the next mirror.
        backoff: seconds to wait before a retry, times the number of fruitless tries so far.
        progress: called with (file name, bytes so far, total bytes or None) as bytes arrive.
        notify: called with a line for people (which mirror, resumed downloads, mirrors that failed).

    Returns:
        One :class:`Downloaded` per spec, in order.

    Raises:
        OfflineError: when FRAMECAST_OFFLINE forbids the network and a file is missing (no connection is made).
        DataError: when no mirror gives a copy with the right checksum (the bad copy is deleted).
        DownloadError: when every mirror fails, or the disk cannot take the file.
    """
    folder = paths.ensure(Path(dest).expanduser())
    results: dict[str, Downloaded] = {}
    missing: list[FileSpec] = []
    for spec in specs:
        target = folder / spec.name
        if force:
            (folder / f"{spec.name}.part").unlink(missing_ok=True)  # start over, not from an old partial
        elif target.is_file():
            if spec.size is not None and target.stat().st_size != spec.size:
                problem = f"has {target.stat().st_size:,} bytes, expected {spec.size:,}"
            elif spec.digest is None:  # nothing to compare: it was renamed into place only once complete
                if target.stat().st_size:
                    results[spec.name] = _downloaded(spec, target, file_digest(target, spec.algorithm), None)
                    continue
                problem = "is empty"
            else:
                got = file_digest(target, spec.algorithm)
                if got == spec.digest:
                    results[spec.name] = _downloaded(spec, target, got, None)
                    continue
                problem = f"has {spec.algorithm} {got}, expected {spec.digest}"
            if notify is not None:
                notify(f"{spec.name}: the file already there {problem}: fetching it again")
        missing.append(spec)
    if missing and paths.offline():
        names = ", ".join(spec.name for spec in missing)
        raise OfflineError(
            f"FRAMECAST_OFFLINE is set, so {names} cannot be downloaded",
            f"unset FRAMECAST_OFFLINE (or set it to 0) to allow the download, or copy the files into {folder}",
        )
    if missing and not mirrors:
        raise DownloadError("no mirror to download from", f"set {MIRROR_ENV} to one or more base URLs")
    for spec in missing:
        results[spec.name] = _fetch(
            spec,
            folder,
            mirrors,
            timeout=timeout,
            attempts=attempts,
            backoff=backoff,
            progress=progress,
            notify=notify,
        )
    return [results[spec.name] for spec in specs]


def download_dataset(
    name: str,
    *,
    force: bool = False,
    mirrors: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressCallback | None = None,
    notify: Callable[[str], None] | None = None,
) -> list[Downloaded]:
    """Fetch a dataset of :data:`DATASETS` into ``paths.dataset_dir(name)``, and make its converted file if it has one.

    Archives of the dataset (:class:`Unpack`) are unpacked after the download, once (see data.archives); a RAR
    archive needs a system tool, checked before anything is fetched.

    Args:
        name: a name of :data:`DATASETS` (``mnist``, ``moving-mnist``, ``vgg16``, ``fmnist``, ``kth``, ``ucf101``).
        force: fetch again even when the files are present and good (and convert and unpack again).
        mirrors: base URLs to use instead of FRAMECAST_MIRROR or the dataset's own mirrors.
        timeout: seconds to wait to connect and for each read.
        progress: see :func:`download_files`.
        notify: see :func:`download_files`.

    Returns:
        One :class:`Downloaded` per file of the dataset.

    Raises:
        UsageError: for an unknown dataset name or a bad FRAMECAST_MIRROR.
        OfflineError, DataError, DownloadError: see :func:`download_files`.
        DataError, CheckpointError: the conversion refused or could not read the downloaded file.
        MissingToolError: a RAR archive is to be unpacked and no tool for it is installed (nothing is fetched).
        DataError: an archive is damaged.
    """
    spec = dataset_spec(name)
    bases = list(mirrors) if mirrors is not None else (mirrors_from_env() or list(spec.mirrors))
    folder = paths.dataset_dir(spec.name)
    for step in spec.unpack:  # a missing RAR tool is said before gigabytes are fetched for nothing
        if force or not archives.is_unpacked(folder / step.archive):
            archives.require_tool(step.archive)
    files = download_files(
        spec.files,
        paths.dataset_dir(spec.name),
        bases,
        force=force,
        timeout=timeout,
        progress=progress,
        notify=notify,
    )
    if spec.conversion is not None:
        convert_download(spec, force=force, notify=notify)
    for step in spec.unpack:
        if force or not archives.is_unpacked(folder / step.archive):
            archives.unpack(
                folder / step.archive,
                folder / step.into,
                redo_hint=f"delete {folder / step.archive} and run `framecast download {spec.name}` again",
                notify=notify,
            )
    return files


def unpacked_paths(spec: DatasetSpec) -> list[Path]:
    """What the archives of a dataset were unpacked to: each archive's folder, or its entries when it was unpacked
    into the dataset's own folder. Empty for a dataset without archives, or before they are unpacked."""
    folder = paths.dataset_dir(spec.name)
    found: list[Path] = []
    for step in spec.unpack:
        stamp = archives.read_stamp(folder / step.archive)
        if stamp is None:
            continue
        if step.into not in ("", "."):
            found.append(folder / step.into)
        else:
            found.extend(folder / entry for entry in stamp.get("entries", []))
    return found


def converted_path(spec: DatasetSpec) -> Path | None:
    """Where the converted file of a dataset goes, or None when it has no conversion."""
    return None if spec.conversion is None else paths.dataset_dir(spec.name) / spec.conversion.target


def convert_download(
    spec: DatasetSpec, *, force: bool = False, notify: Callable[[str], None] | None = None
) -> tuple[Path, bool]:
    """Make a dataset's converted file from its downloaded one, unless it is there and newer (or `force`).

    The file is written under a temporary name and renamed, so an interrupted conversion leaves nothing half-made.

    Returns:
        The converted file, and whether it was made now (False: it was up to date).

    Raises:
        UsageError: the dataset has no conversion.
        DataError: the downloaded file is missing, or the converter refused it.
    """
    if spec.conversion is None:
        raise UsageError(f"{spec.name} has nothing to convert", "only downloads with a conversion (vgg16) have one")
    folder = paths.dataset_dir(spec.name)
    source, target = folder / spec.conversion.source, folder / spec.conversion.target
    if not source.is_file():
        raise DataError(f"{source} is missing, so {target.name} cannot be made", f"run framecast download {spec.name}")
    if not force and target.is_file() and target.stat().st_mtime_ns > source.stat().st_mtime_ns:
        return target, False
    if notify is not None:
        notify(f"converting {source.name} to {target.name}")
    with _fs.atomic_path(target) as tmp:
        spec.conversion.convert(source, tmp)
    return target, True
