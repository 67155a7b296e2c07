"""The perceptual loss and the VGG16 feature network it runs, with a small weights file each test writes.

The weights are random (He-initialised) in torchvision's key layout, holding only the feature layers the loss uses
(convs 0..14, up to relu3_3); the real 553 MB release file is never needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import MNIST_NPZ, run_here, stray_temporaries
from framecast import paths
from framecast.data import download
from framecast.errors import CheckpointError, DataError, UsageError
from framecast.models.vgg import VGG16Features, load_vgg16_features
from framecast.training.losses import Loss, PerceptualLoss, parse_loss

#: VGG16's convs up to relu3_3, as torchvision numbers them: index -> (input channels, output channels)
CONVS = {0: (3, 64), 2: (64, 64), 5: (64, 128), 7: (128, 128), 10: (128, 256), 12: (256, 256), 14: (256, 256)}
RELEASE_NAME = "vgg16-397923af.pth"


def vgg16_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights for convs 0..14 in torchvision's layout, float16 to keep the file small (about 3.5 MB)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for index, (c_in, c_out) in CONVS.items():
        he = (2.0 / (c_in * 9)) ** 0.5  # keeps activations of a random ReLU stack near unit scale
        state[f"features.{index}.weight"] = (torch.randn(c_out, c_in, 3, 3, generator=g) * he).half()
        state[f"features.{index}.bias"] = (torch.randn(c_out, generator=g) * 0.01).half()
    return state


def write_vgg16_weights(path: Path, seed: int = 0) -> Path:
    """Save the random state as torchvision does: torch.save of a plain dict of tensors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(vgg16_state(seed), path)
    return path


PAYLOAD_RAN: list[bool] = []


def _payload() -> None:  # what a malicious pickle would call on load; it must never run
    PAYLOAD_RAN.append(True)


class Payload:
    def __reduce__(self):
        return (_payload, ())


@pytest.fixture(autouse=True)
def no_weights_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAMECAST_VGG16", raising=False)


@pytest.fixture
def pth(tmp_path: Path) -> Path:
    return write_vgg16_weights(tmp_path / RELEASE_NAME)


@pytest.fixture
def cached(isolated_home: Path) -> Path:
    """The release file in the cache, converted as `framecast download vgg16` does: the loss's default weights."""
    spec = download.DATASETS["vgg16"]
    write_vgg16_weights(paths.dataset_dir("vgg16") / RELEASE_NAME)
    target, made = download.convert_download(spec)
    assert made and target == paths.dataset_dir("vgg16") / "vgg16-features.safetensors"
    return target


def digit_frame(index: int = 0, size: int = 40, shift: int = 0) -> torch.Tensor:
    """A real MNIST digit on a dark (1, 1, size, size) canvas, moved right by `shift` pixels."""
    with np.load(MNIST_NPZ) as d:
        digit = torch.from_numpy(d["test"][index].astype(np.float32) / 255.0)
    canvas = torch.zeros(1, 1, size, size)
    top = (size - 28) // 2
    canvas[0, 0, top : top + 28, top + shift : top + 28 + shift] = digit
    return canvas


# ------------------------------------------------------------------------------------------------ the network


def test_layers_follow_torchvision_indices() -> None:
    net = VGG16Features(("relu1_2", "relu2_2", "relu3_3"))
    assert net.outputs == (3, 8, 15)
    expected = {f"features.{i}.{kind}" for i in CONVS for kind in ("weight", "bias")}
    assert set(net.state_dict()) == expected  # mean/std are not saved: the file holds torchvision's keys only
    deepest = VGG16Features(("relu5_3",))
    assert len(deepest.state_dict()) == 26 and deepest.state_dict()["features.28.weight"].shape == (512, 512, 3, 3)
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training  # stays a fixed measure


def test_features_have_the_right_shapes_and_grey_equals_repeated_rgb(pth: Path) -> None:
    net = load_vgg16_features(pth)
    grey = torch.rand(2, 1, 32, 24)
    feats = net(grey)
    assert [tuple(f.shape) for f in feats] == [(2, 64, 32, 24), (2, 128, 16, 12), (2, 256, 8, 6)]
    for a, b in zip(feats, net(grey.expand(-1, 3, -1, -1)), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(UsageError, match="1 or 3"):
        net(torch.rand(1, 2, 32, 32))
    with pytest.raises(UsageError, match="at least 4x4"):
        net(torch.rand(1, 1, 2, 8))


def test_pth_and_converted_file_give_the_same_network(pth: Path, cached: Path) -> None:
    x = torch.rand(1, 3, 16, 16)
    for a, b in zip(load_vgg16_features(pth)(x), load_vgg16_features()(x), strict=True):
        torch.testing.assert_close(a, b)


# ------------------------------------------------------------------------------------------------ the loss


def test_loss_forward_and_backward_reach_the_prediction_not_the_vgg(cached: Path) -> None:
    assert parse_loss("mse+0.05*perceptual") == [(1.0, "mse"), (0.05, "perceptual")]
    torch.manual_seed(0)
    target = torch.rand(2, 3, 1, 32, 32)
    pred = torch.rand(2, 3, 1, 32, 32, requires_grad=True)
    loss = Loss("mse+0.05*perceptual")
    term = loss.fns["perceptual"]
    assert isinstance(term, PerceptualLoss) and term.net is None  # nothing loaded until the first call
    assert not isinstance(term, torch.nn.Module)  # so no optimiser or DDP wrapper can collect its weights
    value = loss(pred, target)
    value.backward()
    assert value.ndim == 0 and torch.isfinite(value)
    assert value.item() == pytest.approx(loss.parts["mse"] + 0.05 * loss.parts["perceptual"], rel=1e-5)
    assert loss.parts["perceptual"] > 0
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert term.net is not None
    assert all(p.grad is None and not p.requires_grad for p in term.net.parameters())


def test_identical_frames_cost_nothing_and_grey_matches_rgb(pth: Path) -> None:
    term = PerceptualLoss(pth)
    clip = torch.rand(1, 2, 1, 32, 32)
    assert term(clip, clip).item() == 0.0
    other = torch.rand(1, 2, 1, 32, 32)
    grey = term(clip, other)
    rgb = term(clip.expand(-1, -1, 3, -1, -1), other.expand(-1, -1, 3, -1, -1))
    assert grey.item() == pytest.approx(rgb.item(), rel=1e-5)


def test_a_moved_digit_costs_more_than_a_noisy_one(pth: Path) -> None:
    term = PerceptualLoss(pth)
    digit = digit_frame()
    moved = digit_frame(shift=3)
    noisy = (digit + 0.03 * torch.randn(digit.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert term(moved, digit).item() > 5 * term(noisy, digit).item()
    # and it grows with the distance the digit moved
    assert term(digit_frame(shift=1), digit).item() < term(moved, digit).item()


def test_existing_terms_need_no_weights() -> None:
    pred, target = torch.full((1, 1, 1, 4, 4), 0.5), torch.zeros(1, 1, 1, 4, 4)
    loss = Loss("mse+0.1*gdl")
    assert loss(pred, target).item() == pytest.approx(F.mse_loss(pred, target).item())


# ------------------------------------------------------------------------------------------------ errors


def test_missing_weights_name_the_download_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as info:
        Loss("mse+0.05*perceptual")  # at construction: training stops before its first step
    assert "vgg16-features.safetensors" in str(info.value) and "framecast download vgg16" in info.value.hint
    monkeypatch.setenv("FRAMECAST_VGG16", str(tmp_path / "nowhere.safetensors"))
    with pytest.raises(CheckpointError, match="FRAMECAST_VGG16") as info:
        load_vgg16_features()
    assert "framecast download vgg16" in info.value.hint


def test_variable_points_the_loss_at_another_file(pth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMECAST_VGG16", str(pth))
    loss = Loss("perceptual")
    assert loss.fns["perceptual"].weights == pth
    assert loss(torch.rand(1, 1, 1, 8, 8), torch.rand(1, 1, 1, 8, 8)).item() > 0


def test_train_with_missing_weights_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "convlstm", "--preset", "tiny", "--train-size", "2", "--val-size", "2", "--epochs", "1"]
    result = run_here(capsys, "train", *args, "--loss", "mse+0.05*perceptual")
    assert result.code == 1, result.stderr
    assert "Error:" in result.stderr and "Traceback" not in result.stderr
    assert "framecast download vgg16" in result.stderr


def test_file_with_a_pickle_payload_is_refused(tmp_path: Path, isolated_home: Path) -> None:
    evil = tmp_path / "evil.pth"
    torch.save({**vgg16_state(), "extra": Payload()}, evil)
    with pytest.raises(DataError) as info:
        load_vgg16_features(evil)
    text = f"{info.value} {info.value.hint}"
    assert "pickled Python objects" in text and "framecast download vgg16" in text
    assert "weights_only" not in text and not PAYLOAD_RAN
    # the conversion refuses it alike, and leaves nothing behind
    folder = paths.ensure(paths.dataset_dir("vgg16"))
    (folder / RELEASE_NAME).write_bytes(evil.read_bytes())
    with pytest.raises(DataError, match="pickled Python objects"):
        download.convert_download(download.DATASETS["vgg16"])
    assert sorted(p.name for p in folder.iterdir()) == [RELEASE_NAME] and not stray_temporaries(folder)
    assert not PAYLOAD_RAN


def test_missing_or_misshapen_tensors_are_named(tmp_path: Path) -> None:
    state = vgg16_state()
    del state["features.12.bias"]
    state["features.5.weight"] = torch.zeros(128, 32, 3, 3)
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(CheckpointError) as info:
        load_vgg16_features(bad)
    assert "missing features.12.bias" in str(info.value)
    assert "features.5.weight (128, 32, 3, 3)" in str(info.value) and "(128, 64, 3, 3)" in str(info.value)
    assert "framecast download vgg16" in info.value.hint
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x10\x00\x00\x00not a header")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_vgg16_features(damaged)
