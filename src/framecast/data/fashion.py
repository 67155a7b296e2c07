"""Fashion-MNIST items: the raw material of Moving Fashion-MNIST, and its standard test file.

Moving Fashion-MNIST is Moving MNIST with Fashion-MNIST's 28x28 items (Xiao, Rasul and Vollgraf, 2017: clothes,
shoes and bags, grey on black) in place of digits, drawn by the same generator (data.moving_mnist). The items
come from the four idx files of ``framecast download fmnist``, which have MNIST's names and format, so they are
read and split as MNIST's digits are (data.mnist): training items 0..54,999, validation items 55,000..59,999
(never trained on), test items from the test file.

The field's benchmark tables test on a fixed file, ``fmnist_test_seq.npy`` (20 frames x 10,000 sequences x
64 x 64, uint8, time first like ``mnist_test_seq.npy``). It has no official home (OpenSTL's tools generate it, and
its release files carry a copy with no published checksum), so it is not downloaded: placed in
``paths.dataset_dir("fmnist")`` (or ``"moving-fmnist"``), it is the test split; otherwise the test split is
generated with a fixed seed from the test items.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from framecast import paths
from framecast.data.mnist import IDX_FILES, Digits, downloaded_mnist_present, load_digits
from framecast.errors import DataError, InputError

TEST_FILE = "fmnist_test_seq.npy"
#: Folders searched for the standard test file, in order.
TEST_FILE_FOLDERS = ("fmnist", "moving-fmnist")


def root() -> Path:
    """Where ``framecast download fmnist`` puts the idx files."""
    return paths.dataset_dir("fmnist")


def load_items() -> Digits:
    """Fashion-MNIST items per split, uint8 (N, 28, 28).

    Raises:
        InputError: the idx files have not been downloaded.
        DataError: an idx file is damaged.
    """
    folder = root()
    if not downloaded_mnist_present(folder):
        raise InputError(
            f"Fashion-MNIST has not been downloaded (no {IDX_FILES['train']} and {IDX_FILES['test']} in {folder})",
            "run `framecast download fmnist` (about 31 MB)",
        )
    try:
        items = load_digits(folder)
    except DataError as exc:  # its hint names MNIST's download
        raise DataError(exc.message, "delete it and run `framecast download fmnist` again") from None
    count = f"{len(items.train) + len(items.val):,} training and {len(items.test):,} test items"
    return dataclasses.replace(items, source=f"downloaded Fashion-MNIST ({count})")


def standard_test_file() -> Path | None:
    """The standard test file where the user placed it, or None."""
    for name in TEST_FILE_FOLDERS:
        candidate = paths.dataset_dir(name) / TEST_FILE
        if candidate.is_file():
            return candidate
    return None


def open_test_file(path: str) -> np.ndarray:
    """The sequences of the standard test file as ``(N, T, H, W, 1)`` uint8, a memory-mapped view.

    Raises:
        DataError: the file is not a (T, N, H, W) uint8 array.
    """
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npy file ({exc})", "replace it with a good copy") from None
    if array.ndim != 4 or array.dtype != np.uint8:
        raise DataError(
            f"{path} holds a {array.dtype} array of shape {tuple(array.shape)}, not (T, N, H, W) uint8 sequences",
            f"{TEST_FILE} keeps time first, like mnist_test_seq.npy: (20, 10000, 64, 64) uint8",
        )
    return array.transpose(1, 0, 2, 3)[..., None]
