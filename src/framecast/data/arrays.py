"""Sequences stored as numpy arrays: `.npy` and `.npz` files.

Values are uint8 in [0, 255], or floats in [0, 1]; the layouts of the arrays (frames or sequences) are read by
:func:`framecast.clips.as_sequences`.

`.npy` files are memory-mapped, so a 10,000-sequence file costs no memory until its frames are read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from framecast.errors import DataError, InputError

#: Keys tried, in order, in an .npz holding several arrays.
NPZ_KEYS = ("sequences", "clips", "videos", "frames", "data", "x", "arr_0")


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


def check_values(array: np.ndarray, path: Path) -> None:
    """uint8 is taken as [0, 255]; floats must lie in [0, 1]. Checks a sample, not every value."""
    if array.dtype == np.uint8:
        return
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{path} holds {array.dtype} values", "save sequences as uint8 or as floats in [0, 1]")
    sample = np.asarray(array[: min(len(array), 8)])
    if not np.isfinite(sample).all():  # before min and max, which would only warn
        raise InputError(f"{path} holds NaN or infinite values", "clean the array before using it")
    lo, hi = float(sample.min()), float(sample.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise InputError(
            f"{path} holds floats in [{lo:g}, {hi:g}], but float frames must lie in [0, 1]",
            "divide by 255, or save the frames as uint8",
        )
