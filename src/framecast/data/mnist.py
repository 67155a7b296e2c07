"""MNIST digits: the raw material of generated Moving MNIST.

Three sources, tried in this order by :func:`load_digits`:

1. a path the user names (``--digits``): a folder holding the four idx files, or an ``.npz`` with ``train``
   and ``test`` arrays (uint8, ``(N, 28, 28)``);
2. the idx files that ``framecast download mnist`` put in the cache;
3. the compact digit set carried inside the package (10,000 training, 1,000 validation and 1,500 test digits),
   so that generated Moving MNIST works offline with no download.

Splits never overlap: training digits are MNIST's training digits 0..54,999 (the first 10,000 of them in the
compact set), validation digits come from the held-out tail 55,000..59,999, test digits from MNIST's test set.
"""

from __future__ import annotations

import gzip
import io
import lzma
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from framecast import paths
from framecast.errors import DataError, InputError

#: MNIST training digits from this index onward are kept out of training, for validation.
VAL_START = 55_000

IDX_FILES = {
    "train": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

EMBEDDED = Path(__file__).parent / "assets" / "digits.npz.xz"


@dataclass(frozen=True)
class Digits:
    """Digit images per split, uint8 (N, 28, 28), and where they came from."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    source: str  # a short description for people: "embedded compact set", "downloaded MNIST", or a path

    def split(self, name: str) -> np.ndarray:
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (optionally gzipped) into a numpy array.

    Raises:
        DataError: when the file is truncated or not an idx file.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable idx file ({exc})", "delete it and download again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an idx file of unsigned bytes", "delete it and download again")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise DataError(
            f"{path} is truncated: it holds {len(raw) - offset} of {expected} bytes",
            "delete it and run `framecast download mnist` again",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _from_train_test(train: np.ndarray, test: np.ndarray, source: str) -> Digits:
    if train.ndim != 3 or test.ndim != 3:
        raise InputError(f"digits in {source} must be (N, H, W) arrays", "give MNIST-like uint8 digit images")
    if len(train) <= VAL_START:  # a small custom set: keep its last tenth for validation
        cut = max(1, len(train) // 10)
        return Digits(train[:-cut], train[-cut:], test, source)
    return Digits(train[:VAL_START], train[VAL_START:], test, source)


def _load_idx_folder(folder: Path) -> Digits:
    train = read_idx(folder / IDX_FILES["train"])
    test = read_idx(folder / IDX_FILES["test"])
    return _from_train_test(train, test, str(folder))


def downloaded_mnist_present(folder: Path | None = None) -> bool:
    """True when the two image idx files of `framecast download mnist` are in place."""
    folder = folder or paths.dataset_dir("mnist")
    return all((folder / IDX_FILES[k]).is_file() for k in ("train", "test"))


@lru_cache(maxsize=1)
def _embedded() -> Digits:
    with np.load(io.BytesIO(lzma.decompress(EMBEDDED.read_bytes()))) as d:
        return Digits(d["train"], d["val"], d["test"], "embedded compact set (12,500 MNIST digits)")


def load_digits(source: str | Path | None = None) -> Digits:
    """The digits to draw Moving MNIST from (see the module docstring for the order).

    Args:
        source: a folder of idx files or an `.npz` with `train` and `test`; None picks downloaded MNIST when
            present, else the embedded compact set.

    Raises:
        InputError: when a named source does not exist or does not hold digits.
    """
    if source is not None:
        path = Path(source).expanduser()
        if not path.exists():
            raise InputError(f"digits source {path} does not exist", "give a folder of MNIST idx files or an .npz")
        if path.is_dir():
            if not downloaded_mnist_present(path):
                raise InputError(
                    f"{path} holds no MNIST idx files ({IDX_FILES['train']}, {IDX_FILES['test']})",
                    "run `framecast download mnist`, or give an .npz with train and test arrays",
                )
            return _load_idx_folder(path)
        try:
            with np.load(path) as d:
                if "train" not in d or "test" not in d:
                    raise InputError(f"{path} has no 'train' and 'test' arrays", "save digits as train=..., test=...")
                return _from_train_test(np.asarray(d["train"]), np.asarray(d["test"]), str(path))
        except (ValueError, OSError) as exc:
            raise InputError(f"{path} is not a readable .npz ({exc})", "give an .npz with train and test") from None
    if downloaded_mnist_present():
        digits = _load_idx_folder(paths.dataset_dir("mnist"))
        return Digits(digits.train, digits.val, digits.test, "downloaded MNIST (70,000 digits)")
    return _embedded()
