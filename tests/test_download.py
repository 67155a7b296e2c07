"""Downloads against a real HTTP server on 127.0.0.1 serving small files in the real formats.

The server runs in a thread of the test process, binds port 0 on the loopback only, answers a bounded number of
requests, and is shut down by each test. It can drop the connection half-way through its first answer or ignore
Range headers, so resuming, restarting and mirror fallback are exercised for real.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import MNIST_NPZ, assert_clean_error, run_cli, stray_temporaries
from framecast import paths
from framecast.data import download
from framecast.data.download import DatasetSpec, FileSpec, download_dataset, download_files
from framecast.errors import DataError, DownloadError, OfflineError
from test_perceptual import RELEASE_NAME, Payload, vgg16_state, write_vgg16_weights

MAX_REQUESTS = 12  # no test needs more; a runaway retry loop shows up as 503s and a failed assertion


# ------------------------------------------------------------------------------------------------ real files


def _idx(array: np.ndarray) -> bytes:
    """An idx file of unsigned bytes, gzipped as MNIST ships them."""
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


@pytest.fixture(scope="module")
def digits() -> dict[str, np.ndarray]:
    with np.load(MNIST_NPZ) as d:
        return {"images": d["test"][:100], "labels": d["test_labels"][:100]}


@pytest.fixture(scope="module")
def mnist_files(digits: dict[str, np.ndarray]) -> dict[str, bytes]:
    """The four MNIST file names, holding 100 real test digits (images for both splits, labels likewise)."""
    images, labels = _idx(digits["images"]), _idx(digits["labels"])
    return {
        "train-images-idx3-ubyte.gz": images,
        "train-labels-idx1-ubyte.gz": labels,
        "t10k-images-idx3-ubyte.gz": images,
        "t10k-labels-idx1-ubyte.gz": labels,
    }


@pytest.fixture(scope="module")
def sequences(digits: dict[str, np.ndarray]) -> np.ndarray:
    """A small file in the layout of mnist_test_seq.npy: (20, N, 64, 64) uint8, real digits moving right."""
    n = 3
    seq = np.zeros((20, n, 64, 64), np.uint8)
    for i in range(n):
        for t in range(20):
            y, x = 5 + 10 * i, t
            seq[t, i, y : y + 28, x : x + 28] = np.maximum(seq[t, i, y : y + 28, x : x + 28], digits["images"][i])
    return seq


@pytest.fixture(scope="module")
def npy_bytes(sequences: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, sequences)
    return buffer.getvalue()


def _spec(name: str, data: bytes) -> FileSpec:
    return FileSpec(name, hashlib.md5(data).hexdigest(), len(data))


# ------------------------------------------------------------------------------------------------ the server


class FileServer:
    """Serves `files` on 127.0.0.1 from a thread; records each request's path and Range header."""

    def __init__(self, files: dict[str, bytes], *, drop_first: bool = False, ignore_range: bool = False) -> None:
        self.files = files
        self.drop_first = drop_first
        self.ignore_range = ignore_range
        self.requests: list[dict[str, str | None]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner._answer(self)

            def log_message(self, *args: object) -> None:  # keep pytest's output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append({"path": handler.path, "range": handler.headers.get("Range")})
            number = len(self.requests)
        if number > MAX_REQUESTS:
            handler.send_error(503, "too many requests for a test")
            return
        body = self.files.get(handler.path.lstrip("/"))
        if body is None:
            handler.send_error(404)
            return
        start = 0
        wanted = handler.headers.get("Range")
        if wanted and not self.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
            if start >= len(body):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(body)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            handler.send_response(200)
        payload = body[start:]
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if self.drop_first and number == 1:
            handler.wfile.write(payload[: len(payload) // 2])  # then hang up, as a dropped connection does
            handler.close_connection = True
            return
        handler.wfile.write(payload)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


def dead_url() -> str:
    """A loopback URL where nothing listens: the port was free a moment ago and is closed now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to the test server never go through a proxy, and no test uses the real mirrors."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("FRAMECAST_MIRROR", raising=False)


# ------------------------------------------------------------------------------------------------ the library


def test_complete_download_gives_checked_mnist_files(tmp_path: Path, mnist_files: dict[str, bytes], digits) -> None:
    from framecast.data.mnist import read_idx

    specs = [_spec(name, data) for name, data in mnist_files.items()]
    with FileServer(mnist_files) as server:
        results = download_files(specs, tmp_path, [server.url], timeout=5)
    assert [r.name for r in results] == list(mnist_files)
    assert all(not r.skipped and r.url == server.url + r.name and r.resumed_from == 0 for r in results)
    assert len(server.requests) == 4 and all(r["range"] is None for r in server.requests)
    for r, spec in zip(results, specs, strict=True):
        assert r.path == tmp_path / spec.name and r.md5 == spec.md5 and r.bytes == spec.size
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(mnist_files)  # no .part left behind
    np.testing.assert_array_equal(read_idx(tmp_path / "t10k-images-idx3-ubyte.gz"), digits["images"])
    np.testing.assert_array_equal(read_idx(tmp_path / "train-labels-idx1-ubyte.gz"), digits["labels"])


def test_present_good_files_are_skipped_and_force_fetches_them_again(
    tmp_path: Path, mnist_files: dict[str, bytes]
) -> None:
    specs = [_spec(name, data) for name, data in mnist_files.items()]
    with FileServer(mnist_files) as server:
        download_files(specs, tmp_path, [server.url], timeout=5)
        again = download_files(specs, tmp_path, [server.url], timeout=5)
        assert len(server.requests) == 4  # nothing fetched the second time
        assert all(r.skipped and r.url is None for r in again)
        forced = download_files(specs[:1], tmp_path, [server.url], force=True, timeout=5)
        assert len(server.requests) == 5 and not forced[0].skipped


def test_dropped_connection_resumes_with_a_range_request(
    tmp_path: Path, npy_bytes: bytes, sequences: np.ndarray
) -> None:
    spec = _spec("mnist_test_seq.npy", npy_bytes)
    with FileServer({spec.name: npy_bytes}, drop_first=True) as server:
        [result] = download_files([spec], tmp_path, [server.url], timeout=5, backoff=0)
    assert len(server.requests) == 2
    assert server.requests[0]["range"] is None
    assert server.requests[1]["range"] == f"bytes={len(npy_bytes) // 2}-"  # only the missing half again
    assert result.md5 == spec.md5 and not (tmp_path / "mnist_test_seq.npy.part").exists()
    loaded = np.load(result.path)
    assert loaded.shape == (20, 3, 64, 64) and loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, sequences)


def test_partial_file_of_an_earlier_run_is_continued(tmp_path: Path, npy_bytes: bytes) -> None:
    spec = _spec("mnist_test_seq.npy", npy_bytes)
    (tmp_path / "mnist_test_seq.npy.part").write_bytes(npy_bytes[:1000])
    with FileServer({spec.name: npy_bytes}) as server:
        [result] = download_files([spec], tmp_path, [server.url], timeout=5)
    assert [r["range"] for r in server.requests] == ["bytes=1000-"]
    assert result.resumed_from == 1000
    assert result.path.read_bytes() == npy_bytes


def test_server_ignoring_range_restarts_from_zero(tmp_path: Path, npy_bytes: bytes) -> None:
    spec = _spec("mnist_test_seq.npy", npy_bytes)
    (tmp_path / "mnist_test_seq.npy.part").write_bytes(b"\xff" * 500)  # appending to these would corrupt the file
    with FileServer({spec.name: npy_bytes}, ignore_range=True) as server:
        [result] = download_files([spec], tmp_path, [server.url], timeout=5)
    assert [r["range"] for r in server.requests] == ["bytes=500-"]
    assert result.path.read_bytes() == npy_bytes and result.md5 == spec.md5


def test_corrupt_download_is_rejected_deleted_and_named(tmp_path: Path, npy_bytes: bytes) -> None:
    spec = _spec("mnist_test_seq.npy", npy_bytes)
    corrupt = bytearray(npy_bytes)
    corrupt[len(corrupt) // 2] ^= 0xFF  # one byte off: same size, wrong content
    with FileServer({spec.name: bytes(corrupt)}) as server, pytest.raises(DataError) as info:
        download_files([spec], tmp_path, [server.url], timeout=5)
    message = str(info.value)
    assert "mnist_test_seq.npy" in message and spec.md5 in message
    assert hashlib.md5(corrupt).hexdigest() in message and "deleted" in message
    assert list(tmp_path.iterdir()) == []  # neither the file nor its .part


def test_first_mirror_down_second_used(tmp_path: Path, mnist_files: dict[str, bytes]) -> None:
    name = "t10k-labels-idx1-ubyte.gz"
    notes: list[str] = []
    down = dead_url()
    with FileServer(mnist_files) as server:
        [result] = download_files([_spec(name, mnist_files[name])], tmp_path, [down, server.url], notify=notes.append)
    assert result.url == server.url + name and result.path.read_bytes() == mnist_files[name]
    assert any(down in note and "connection refused" in note for note in notes)  # the fallback is reported


def test_every_mirror_down_raises_download_error_listing_them(tmp_path: Path, mnist_files: dict[str, bytes]) -> None:
    name = "t10k-labels-idx1-ubyte.gz"
    first, second = dead_url(), dead_url()
    with pytest.raises(DownloadError) as info:
        download_files([_spec(name, mnist_files[name])], tmp_path, [first, second], timeout=5)
    assert first + name in str(info.value) and second + name in str(info.value)
    assert "connection refused" in str(info.value) and info.value.hint
    assert not (tmp_path / name).exists()


def test_offline_refuses_before_any_connection(
    tmp_path: Path, mnist_files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAMECAST_OFFLINE", "1")
    specs = [_spec(name, data) for name, data in mnist_files.items()]
    with FileServer(mnist_files) as server, pytest.raises(OfflineError) as info:
        download_files(specs, tmp_path, [server.url], timeout=5)
    assert server.requests == []
    assert "FRAMECAST_OFFLINE" in str(info.value) and "FRAMECAST_OFFLINE" in info.value.hint
    assert not any(tmp_path.iterdir())


def test_mirror_variable_overrides_builtin_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMECAST_MIRROR", " http://127.0.0.1:1/a/ ,http://127.0.0.1:2/b ")
    assert download.mirrors_from_env() == ["http://127.0.0.1:1/a/", "http://127.0.0.1:2/b"]
    monkeypatch.setenv("FRAMECAST_MIRROR", "file:///etc")
    with pytest.raises(download.UsageError):
        download.mirrors_from_env()


# ------------------------------------------------------------------------------------------------ the command


def test_cli_dead_server_is_a_clean_error(tmp_path: Path) -> None:
    down = dead_url()
    result = run_cli("download", "mnist", env={"FRAMECAST_MIRROR": down, "FRAMECAST_HOME": str(tmp_path)})
    assert_clean_error(result, 1, down)
    assert result.stderr.startswith("Error:")
    assert result.stdout == ""


def test_cli_offline_refuses(tmp_path: Path) -> None:
    result = run_cli("download", "moving-mnist", env={"FRAMECAST_OFFLINE": "1", "FRAMECAST_HOME": str(tmp_path)})
    assert_clean_error(result, 1, "FRAMECAST_OFFLINE", "mnist_test_seq.npy")
    assert result.stderr.startswith("Error:")


def test_cli_rejects_a_file_that_fails_the_official_checksum(tmp_path: Path, mnist_files: dict[str, bytes]) -> None:
    # the small real files are served under the official names, so their md5 cannot match the published ones
    with FileServer(mnist_files) as server:
        result = run_cli("download", "mnist", env={"FRAMECAST_MIRROR": server.url, "FRAMECAST_HOME": str(tmp_path)})
    assert_clean_error(result, 1, "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", "deleted")
    assert not any((tmp_path / "cache" / "downloads" / "mnist").iterdir())


def test_cli_unknown_dataset_suggests_the_closest() -> None:
    result = run_cli("download", "mnsit")
    assert_clean_error(result, 2, "Did you mean 'mnist'")


def _run_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from framecast.cli import _output, run

    _output.reset()
    code = run(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_json_and_quiet_outputs(
    mnist_files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FileServer(mnist_files) as server:
        spec = DatasetSpec(
            "mnist", "test digits", tuple(_spec(n, d) for n, d in mnist_files.items()), (dead_url(), server.url)
        )
        monkeypatch.setitem(download.DATASETS, "mnist", spec)
        code, out, _ = _run_in_process(["download", "mnist", "--json"], capsys)
        assert code == 0
        report = json.loads(out)  # exactly one JSON document on stdout
        folder = paths.dataset_dir("mnist")
        assert report["dataset"] == "mnist" and report["folder"] == str(folder)
        assert [f["name"] for f in report["files"]] == list(mnist_files)
        assert all(not f["skipped"] and Path(f["path"]).is_file() for f in report["files"])
        assert report["downloaded_bytes"] == sum(len(d) for d in mnist_files.values())
        assert [f["md5"] for f in report["files"]] == [s.md5 for s in spec.files]

        code, out, _ = _run_in_process(["download", "mnist", "--quiet"], capsys)
        assert code == 0 and out.splitlines() == [str(folder / name) for name in mnist_files]
        code, out, _ = _run_in_process(["download", "mnist", "--json"], capsys)
        assert all(f["skipped"] for f in json.loads(out)["files"])
        code, out, _ = _run_in_process(["download", "mnist"], capsys)
        assert code == 0 and "already present" in out
        assert len(server.requests) == 4  # the later runs fetched nothing


def test_download_help_has_examples_and_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from framecast.cli import run\n"
        "run(['download', '--help'])\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "framecast download moving-mnist" in proc.stdout[proc.stdout.index("Examples") :]
    modules = set(next(x for x in proc.stdout.splitlines() if x.startswith("MODULES")).split()[1:])
    assert "typer" in modules and not any(m == "torch" or m.startswith("torch.") for m in modules)


# ------------------------------------------------------------------------------------------------ vgg16 weights

VGG16_SHA256 = "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0"  # the release file's own


@pytest.fixture(scope="module")
def vgg_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small file in the layout of vgg16-397923af.pth: random weights for the feature layers the loss uses."""
    return write_vgg16_weights(tmp_path_factory.mktemp("vgg") / RELEASE_NAME).read_bytes()


def _sha_spec(name: str, data: bytes) -> FileSpec:
    return FileSpec(name, None, len(data), sha256=hashlib.sha256(data).hexdigest())


def _use_vgg16(monkeypatch: pytest.MonkeyPatch, data: bytes, *mirrors: str) -> DatasetSpec:
    """The vgg16 download, checked against the test file's sha256 and served from `mirrors`."""
    real = download.DATASETS["vgg16"]
    spec = DatasetSpec("vgg16", real.description, (_sha_spec(RELEASE_NAME, data),), mirrors, real.conversion)
    monkeypatch.setitem(download.DATASETS, "vgg16", spec)
    return spec


def _check_converted(path: Path) -> None:
    """The converted file holds exactly convs 0..14 of the test weights, as float32."""
    from safetensors.torch import load_file

    from framecast.models.vgg import load_vgg16_features

    tensors = load_file(str(path))
    source = vgg16_state()
    assert set(tensors) == set(source)
    for key, value in tensors.items():
        assert value.dtype == torch.float32 and torch.equal(value, source[key].float())
    assert len(load_vgg16_features(path).outputs) == 3


def test_vgg16_spec_is_checked_by_the_release_sha256() -> None:
    spec = download.dataset_spec("vgg16")
    [file] = spec.files
    assert file.name == RELEASE_NAME and file.algorithm == "sha256" and file.digest == VGG16_SHA256
    assert file.digest.startswith(RELEASE_NAME.split("-")[1][:8])  # torch.hub names its files after the sha256
    assert file.size == 553_433_881 and spec.conversion is not None
    with pytest.raises(ValueError, match="exactly one"):
        FileSpec("x", None)


def test_cli_vgg16_complete_download_converts_once(
    vgg_bytes: bytes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FileServer({RELEASE_NAME: vgg_bytes}) as server:
        spec = _use_vgg16(monkeypatch, vgg_bytes, server.url)
        code, out, _ = _run_in_process(["download", "vgg16", "--json"], capsys)
        assert code == 0
        report = json.loads(out)
        folder = paths.dataset_dir("vgg16")
        [f] = report["files"]
        assert f["sha256"] == spec.files[0].digest and f["md5"] is None and not f["skipped"]
        assert report["converted"] == str(folder / "vgg16-features.safetensors")
        converted = Path(report["converted"])
        _check_converted(converted)
        assert sorted(p.name for p in folder.iterdir()) == [RELEASE_NAME, converted.name]
        made = converted.stat().st_mtime_ns

        code, out, _ = _run_in_process(["download", "vgg16"], capsys)
        assert code == 0 and "already present" in out and "sha256" in out and str(converted) in out
        assert converted.stat().st_mtime_ns == made  # neither fetched nor converted again
        code, out, _ = _run_in_process(["download", "vgg16", "--quiet"], capsys)
        assert out.splitlines() == [str(folder / RELEASE_NAME), str(converted)]
        assert len(server.requests) == 1


def test_vgg16_conversion_is_redone_when_the_download_is_newer(vgg_bytes: bytes) -> None:
    spec = download.DATASETS["vgg16"]
    folder = paths.ensure(paths.dataset_dir("vgg16"))
    source = folder / RELEASE_NAME
    source.write_bytes(vgg_bytes)
    target, made = download.convert_download(spec)
    assert made and not download.convert_download(spec)[1]
    later = target.stat().st_mtime_ns + 1_000_000_000
    os.utime(source, ns=(later, later))  # a newer download: its conversion is stale
    assert download.convert_download(spec)[1]
    _check_converted(target)


def test_vgg16_dropped_connection_resumes(vgg_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    with FileServer({RELEASE_NAME: vgg_bytes}, drop_first=True) as server:
        _use_vgg16(monkeypatch, vgg_bytes, server.url)
        [result] = download_dataset("vgg16", timeout=5)
    assert [r["range"] for r in server.requests] == [None, f"bytes={len(vgg_bytes) // 2}-"]
    assert result.path.read_bytes() == vgg_bytes and result.sha256 == hashlib.sha256(vgg_bytes).hexdigest()
    _check_converted(paths.dataset_dir("vgg16") / "vgg16-features.safetensors")
    assert not (paths.dataset_dir("vgg16") / f"{RELEASE_NAME}.part").exists()


def test_vgg16_corrupt_download_is_rejected_and_nothing_is_left(
    vgg_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    corrupt = bytearray(vgg_bytes)
    corrupt[len(corrupt) // 2] ^= 0xFF
    with FileServer({RELEASE_NAME: bytes(corrupt)}) as server:
        spec = _use_vgg16(monkeypatch, vgg_bytes, server.url)
        with pytest.raises(DataError) as info:
            download_dataset("vgg16", timeout=5)
    message = str(info.value)
    assert RELEASE_NAME in message and f"sha256 {spec.files[0].digest}" in message
    assert hashlib.sha256(corrupt).hexdigest() in message and "deleted" in message
    assert list(paths.dataset_dir("vgg16").iterdir()) == []  # no file, no .part, no conversion


def test_vgg16_offline_refuses_before_any_connection(
    vgg_bytes: bytes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FRAMECAST_OFFLINE", "1")
    with FileServer({RELEASE_NAME: vgg_bytes}) as server:
        _use_vgg16(monkeypatch, vgg_bytes, server.url)
        with pytest.raises(OfflineError, match=RELEASE_NAME):
            download_dataset("vgg16", timeout=5)
    assert server.requests == [] and not any(paths.dataset_dir("vgg16").iterdir())
    result = run_cli("download", "vgg16", env={"FRAMECAST_OFFLINE": "1", "FRAMECAST_HOME": str(tmp_path)})
    assert_clean_error(result, 1, "FRAMECAST_OFFLINE", RELEASE_NAME)


def test_cli_vgg16_rejects_a_file_that_fails_the_release_sha256(tmp_path: Path, vgg_bytes: bytes) -> None:
    # the small file is served under the release name, so it cannot match the release file's sha256
    with FileServer({RELEASE_NAME: vgg_bytes}) as server:
        result = run_cli("download", "vgg16", env={"FRAMECAST_MIRROR": server.url, "FRAMECAST_HOME": str(tmp_path)})
    assert_clean_error(result, 1, RELEASE_NAME, VGG16_SHA256, "deleted")
    assert not any((tmp_path / "cache" / "downloads" / "vgg16").iterdir())


def test_vgg16_download_with_a_pickle_payload_is_not_converted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evil = tmp_path / RELEASE_NAME
    torch.save({**vgg16_state(), "extra": Payload()}, evil)
    data = evil.read_bytes()
    with FileServer({RELEASE_NAME: data}) as server:
        _use_vgg16(monkeypatch, data, server.url)
        with pytest.raises(DataError) as info:
            download_dataset("vgg16", timeout=5)
    assert "pickled Python objects" in str(info.value) and "weights_only" not in f"{info.value} {info.value.hint}"
    folder = paths.dataset_dir("vgg16")
    assert not (folder / "vgg16-features.safetensors").exists() and not stray_temporaries(folder)
