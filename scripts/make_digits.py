"""Build the compact digit set that framecast carries, so generated Moving MNIST works offline.

The digits are MNIST's (LeCun, Cortes and Burges; CC BY-SA 3.0). From a `.npz` holding `train`, `test`,
`train_labels` and `test_labels` (the layout of the MNIST copy beside the project, or one made from the idx
files that `framecast download mnist` fetches) this keeps:

- train: the first 10,000 training digits (training sequences are drawn only from these);
- val:   1,000 training digits from the held-out tail (55,000 onward), never used for training;
- test:  1,500 test digits;

as uint8 (N, 28, 28) with their labels, in an uncompressed `.npz` compressed with LZMA (which packs MNIST about
20% tighter than zlib), to stay under 2 MB.

Usage:
    python scripts/make_digits.py PATH/TO/mnist_digits.npz [-o src/framecast/data/assets/digits.npz.xz]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import lzma
from pathlib import Path

import numpy as np

TRAIN, VAL_START, VAL, TEST = 10_000, 55_000, 1_000, 1_500


def build(source: Path) -> bytes:
    with np.load(source) as d:
        arrays = {
            "train": d["train"][:TRAIN],
            "train_labels": d["train_labels"][:TRAIN],
            "val": d["train"][VAL_START : VAL_START + VAL],
            "val_labels": d["train_labels"][VAL_START : VAL_START + VAL],
            "test": d["test"][:TEST],
            "test_labels": d["test_labels"][:TEST],
        }
    for name, arr in arrays.items():
        assert arr.dtype == np.uint8, name
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="an .npz with train, test, train_labels, test_labels")
    default_out = Path(__file__).resolve().parents[1] / "src" / "framecast" / "data" / "assets" / "digits.npz.xz"
    parser.add_argument("-o", "--out", type=Path, default=default_out)
    args = parser.parse_args()
    blob = build(args.source)
    args.out.write_bytes(blob)
    print(f"{args.out}: {len(blob):,} bytes, sha256 {hashlib.sha256(blob).hexdigest()}")


if __name__ == "__main__":
    main()
