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

from conftest import MNIST_NPZ, assert_clean_error, run_cli
from framecast import paths
from framecast.data import download
from framecast.data.download import DatasetSpec, FileSpec, download_files
from framecast.errors import DataError, DownloadError, OfflineError

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
