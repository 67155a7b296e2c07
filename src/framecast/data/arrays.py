"""Sequences stored as numpy arrays: `.npy` and `.npz` files.

Accepted layouts (uint8 in [0, 255], or float in [0, 1]):

- ``(N, T, H, W)``: N grey sequences of T frames;
- ``(N, T, H, W, C)`` with C of 1 or 3, or ``(N, T, C, H, W)`` (torch's order);
- the standard Moving MNIST test file ``mnist_test_seq.npy``: ``(T, N, H, W)`` = (20, 10000, 64, 64). A file
  whose name starts with ``mnist_test_seq`` is read in that layout.

`.npy` files are memory-mapped, so a 10,000-sequence file costs no memory until its frames are read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from framecast.errors import DataError, InputError

#: Keys tried, in order, in an .npz holding several arrays.
NPZ_KEYS = ("sequences", "clips", "videos", "frames", "data", "x", "arr_0")


def is_standard_layout(path: Path) -> bool:
    """The standard Moving MNIST test file keeps time first: (T, N, H, W)."""
    return path.name.startswith("mnist_test_seq")


def open_array(path: Path) -> np.ndarray:
    """Open the sequence array in `path` without reading it all (for .npy).

    Raises:
        InputError: not an array file, or no suitable array inside.
        DataError: a damaged array file.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.files)
                if not keys:
                    raise InputError(f"{path} holds no arrays", "save sequences with np.savez(path, sequences=x)")
                key = next((k for k in NPZ_KEYS if k in keys), None)
                if key is None:
                    key = next((k for k in keys if archive[k].ndim in (4, 5)), keys[0])
                return archive[key]
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable {suffix} file ({exc})", "check the file, or save it again") from None
    raise InputError(f"{path} is not an .npy or .npz file", "give a .npy/.npz array of sequences")


def to_nthwc(array: np.ndarray, path: Path) -> np.ndarray:
    """Bring an array of sequences to (N, T, H, W, C) without copying (views only).

    Raises:
        InputError: when the rank or the channel count is not one of the accepted layouts.
    """
    if array.ndim == 4:
        if is_standard_layout(path):
            array = array.transpose(1, 0, 2, 3)  # (T, N, H, W) -> (N, T, H, W)
        return array[..., None]
    if array.ndim == 5:
        if array.shape[-1] in (1, 3):
            return array
        if array.shape[2] in (1, 3):
            return array.transpose(0, 1, 3, 4, 2)  # (N, T, C, H, W) -> (N, T, H, W, C)
        raise InputError(
            f"{path} has shape {tuple(array.shape)}: no axis of 1 or 3 channels",
            "use (N, T, H, W), (N, T, H, W, C) or (N, T, C, H, W) with C = 1 or 3",
        )
    raise InputError(
        f"{path} has {array.ndim} dimensions {tuple(array.shape)}, but sequences need 4 or 5",
        "use (N, T, H, W) for grey sequences or (N, T, H, W, C) for colour",
    )


def check_values(array: np.ndarray, path: Path) -> None:
    """uint8 is taken as [0, 255]; floats must lie in [0, 1]. Checks a sample, not every value."""
    if array.dtype == np.uint8:
        return
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{path} holds {array.dtype} values", "save sequences as uint8 or as floats in [0, 1]")
    sample = np.asarray(array[: min(len(array), 8)])
    lo, hi = float(np.nanmin(sample)), float(np.nanmax(sample))
    if np.isnan(sample).any():
        raise InputError(f"{path} holds NaN values", "clean the array before using it")
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise InputError(
            f"{path} holds floats in [{lo:g}, {hi:g}], but float frames must lie in [0, 1]",
            "divide by 255, or save the frames as uint8",
        )
