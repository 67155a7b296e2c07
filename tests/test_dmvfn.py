"""DMVFN: the family (count, blend, routing, horizons, colour) and importing the authors' checkpoints.

The import is checked against a reference forward written here from the paper (Hu et al., CVPR 2023) in the
authors' tensor layout, which is what their released files hold; no released file is needed.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import assert_clean_error, run_here, stray_temporaries
from framecast.errors import UsageError
from framecast.models import create_model
from framecast.models.dmvfn import choose_blocks, laplacian_l1

SCALES = (4, 4, 4, 2, 2, 2, 1, 1, 1)
WIDTHS = (160, 160, 160, 80, 80, 80, 44, 44, 44)


def frames(batch: int, t: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth moving patterns in [0, 1], (B, T, C, H, W)."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(batch, 1, c, 1, 1, generator=g) * 6
    yy = torch.arange(h).view(1, 1, 1, h, 1).float()
    xx = torch.arange(w).view(1, 1, 1, 1, w).float()
    tt = torch.arange(t).view(1, t, 1, 1, 1).float()
    return 0.5 + 0.4 * torch.sin(xx / 5 + yy / 7 + phase + 0.6 * tt) * torch.cos(yy / 9 - phase)


# ------------------------------------------------------------------------------------------------- the family


def test_base_is_the_published_network_for_rgb(capsys) -> None:
    model = create_model("dmvfn", "base", channels=3)
    assert sum(p.numel() for p in model.parameters()) == 3_559_930
    assert model.config.scales == SCALES and model.config.widths == WIDTHS
    result = run_here(capsys, "models", "--model", "dmvfn", "--preset", "base", "--channels", "3", "--json")
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)["models"]
    assert row["params"] == 3_559_930 and row["config"]["channels"] == 3


def _still_model(mask_start: float, **overrides):
    """A tiny model whose blocks do nothing (zero heads, every block runs): the blend of the two frames."""
    return create_model("dmvfn", "tiny", routing=False, zero_head=True, mask_start=mask_start, **overrides).eval()


def test_the_mask_blends_the_two_warped_frames() -> None:
    ctx = frames(2, 2, 1, 16, 32)
    a, b = ctx[:, 0], ctx[:, 1]
    model = _still_model(0.7)
    with torch.no_grad():
        model.blocks[-1].head.bias.copy_(torch.tensor([1.0, 0.0, 0.0, -2.0, 0.5]))  # a moved 1 px, b 2 px; mask +0.5
        pred = model(ctx, 1)[:, 0]
    m = 1 / (1 + math.exp(-1.2))
    shifted_a = torch.cat([a[..., 1:], a[..., -1:]], -1)  # each pixel reads its right neighbour; the edge repeats
    shifted_b = torch.cat([b[..., :1, :], b[..., :1, :], b[..., :-2, :]], -2)  # reads 2 rows up; the edge repeats
    torch.testing.assert_close(pred, m * shifted_a + (1 - m) * shifted_b, atol=1e-6, rtol=0)
    with torch.no_grad():  # a large mask takes the earlier frame, a very negative one the last
        torch.testing.assert_close(_still_model(40.0)(ctx, 1)[:, 0], a, atol=1e-6, rtol=0)
        torch.testing.assert_close(_still_model(-40.0)(ctx, 1)[:, 0], b, atol=1e-6, rtol=0)


def test_untrained_small_is_about_copy_last() -> None:
    ctx = frames(1, 2, 1, 32, 32)
    model = create_model("dmvfn", "small").eval()
    with torch.no_grad():
        pred = model(ctx, 1)[:, 0]
    m = 1 / (1 + math.exp(3.0))
    torch.testing.assert_close(pred, m * ctx[:, 0] + (1 - m) * ctx[:, 1], atol=1e-6, rtol=0)


def test_the_inference_rule_is_deterministic() -> None:
    p = torch.tensor([[0.6, 0.4, 0.5, 0.9], [0.3, 0.45, 0.2, 0.1]])
    assert choose_blocks(p, sample=False).tolist() == [[1, 0, 1, 1], [0, 1, 0, 0]]  # none >= 1/2: the likeliest
    torch.manual_seed(0)
    model = create_model("dmvfn", "tiny", channels=3).eval()
    ctx = frames(3, 2, 3, 32, 48, seed=1)
    with torch.no_grad():
        first, again = model(ctx, 2), model(ctx, 2)
        alone = model(ctx[1:2], 2)
    assert torch.equal(first, again)
    torch.testing.assert_close(alone, first[1:2], atol=1e-6, rtol=0)  # whatever else is in the batch


def test_training_samples_the_blocks_with_a_straight_through_gradient() -> None:
    p = torch.tensor([[0.3, 0.7, 0.5]], requires_grad=True)
    gates = choose_blocks(p, sample=True)
    assert set(gates.detach().flatten().tolist()) <= {0.0, 1.0}
    (gates * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert p.grad.tolist() == [[1.0, 2.0, 3.0]]


def test_training_forward_leaves_the_papers_loss_and_reaches_every_part() -> None:
    torch.manual_seed(0)
    model = create_model("dmvfn", "tiny", channels=1).train()
    ctx, target = frames(2, 2, 1, 32, 32), frames(2, 5, 1, 32, 32)[:, 2:]
    pred = model(ctx, 3, target=target, teacher_forcing=0.5)
    assert pred.shape == target.shape and model.aux_loss is not None and torch.isfinite(model.aux_loss)
    (F.mse_loss(pred, target) + model.extra_loss(ctx, F.mse_loss)).backward()
    for name, p in model.named_parameters():  # the router through the straight-through draw, every block
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    model.eval()
    with torch.no_grad():
        model(ctx, 1)
    assert model.aux_loss is None


def test_laplacian_l1_is_zero_for_equal_frames_and_positive_otherwise() -> None:
    x = frames(1, 1, 3, 32, 32)[:, 0]
    assert float(laplacian_l1(x, x)) == 0.0
    assert float(laplacian_l1(x, x.flip(-1))) > 0.0
    assert float(laplacian_l1(x[..., :5, :7], x[..., :5, :7] * 0.5)) > 0.0  # small, odd frames


@pytest.mark.parametrize("horizon", [1, 3, 7])
def test_any_horizon_at_any_size(horizon: int) -> None:
    torch.manual_seed(0)
    model = create_model("dmvfn", "tiny", channels=1, height=32, width=32).eval()
    ctx = frames(2, 4, 1, 37, 45)
    with torch.no_grad():
        pred = model(ctx, horizon)
        first = model(ctx, 1)
    assert pred.shape == (2, horizon, 1, 37, 45)
    assert float(pred.min()) >= 0.0 and float(pred.max()) <= 1.0
    torch.testing.assert_close(pred[:, :1], first, atol=1e-6, rtol=0)


@pytest.mark.parametrize("channels", [1, 3])
def test_grey_and_rgb(channels: int) -> None:
    model = create_model("dmvfn", "tiny", channels=channels, context_frames=3).eval()
    with torch.no_grad():
        assert model(frames(1, 1, channels, 16, 16), 2).shape == (1, 2, channels, 16, 16)  # a short context
        assert model(frames(1, 5, channels, 16, 16), 2).shape == (1, 2, channels, 16, 16)
    with pytest.raises(UsageError, match="channel"):
        model(frames(1, 2, 4 - channels, 16, 16), 1)


# ------------------------------------------------------------------------------ the paper, in the authors' layout


def conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.PReLU(cout))


class PaperBlock(nn.Module):
    """A multi-scale voxel-flow block as the paper describes it, its tensors named as the released files name them."""

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(conv(cin, width // 2, 2), conv(width // 2, width, 2))
        self.convblock = nn.Sequential(conv(width, width), conv(width, width), conv(width, width))
        self.conv_sq = conv(width, width // 4)
        self.conv1 = nn.Sequential(conv(cin, 8, 2))
        self.convblock1 = nn.Sequential(conv(8, 8))
        self.lastconv = nn.ConvTranspose2d(width // 4 + 8, 5, 4, 2, 1)

    def forward(self, x: torch.Tensor, flow: torch.Tensor, scale: int):
        small, small_flow = x, flow
        if scale != 1:
            small = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
            small_flow = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False) / scale
        y = self.conv0(torch.cat([small, small_flow], 1))
        y = self.conv_sq(self.convblock(y) + y)
        y = F.interpolate(y, scale_factor=scale * 2, mode="bilinear", align_corners=False)
        z = self.convblock1(self.conv1(torch.cat([x, flow], 1)))
        out = self.lastconv(torch.cat([y, z], 1))
        return out[:, :4], out[:, 4:5]


class PaperDMVFN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for i, w in enumerate(WIDTHS):
            setattr(self, f"block{i}", PaperBlock(17, w))
        self.routing = nn.Sequential(
            nn.Conv2d(6, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 32, 3, 1, 1), nn.AdaptiveAvgPool2d(1)
        )
        self.l1 = nn.Linear(32, 9)


def paper_warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp in normalised coordinates, bilinear, border padding (the paper's sampling)."""
    b, _, h, w = img.shape
    gx = torch.linspace(-1.0, 1.0, w).view(1, 1, 1, w).expand(b, 1, h, w)
    gy = torch.linspace(-1.0, 1.0, h).view(1, 1, h, 1).expand(b, 1, h, w)
    grid = torch.cat([gx + flow[:, :1] / ((w - 1) / 2), gy + flow[:, 1:2] / ((h - 1) / 2)], 1).permute(0, 2, 3, 1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def paper_next(net: PaperDMVFN, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
    """One predicted frame, with framecast's documented inference rule for the routing (p >= 1/2)."""
    b, _, h, w = img0.shape
    p = torch.sigmoid(net.l1(net.routing(torch.cat([img0, img1], 1)).flatten(1)))
    p = (p / (p.sum(1, keepdim=True) + 1e-6) * 4.5).clamp(0, 1)
    gates = (p >= 0.5).float()
    assert bool((gates.sum(1) > 0).all())
    flow, mask = torch.zeros(b, 4, h, w), torch.zeros(b, 1, h, w)
    w0, w1 = img0, img1
    for i, scale in enumerate(SCALES):
        d_flow, d_mask = getattr(net, f"block{i}")(torch.cat([img0, img1, w0, w1, mask], 1), flow, scale)
        g = gates[:, i].view(b, 1, 1, 1)
        flow, mask = flow + d_flow * g, mask + d_mask * g
        w0, w1 = paper_warp(img0, flow[:, :2]), paper_warp(img1, flow[:, 2:4])
    m = torch.sigmoid(mask)
    return (w0 * m + w1 * (1 - m)).clamp(0, 1)


@pytest.fixture(scope="module")
def paper() -> PaperDMVFN:
    torch.manual_seed(7)
    net = PaperDMVFN().eval()
    with torch.no_grad():  # a routing that clearly runs some blocks and skips others
        net.l1.bias.copy_(torch.tensor([2.0, -2.0, 1.0, -1.0, 0.5, 3.0, -3.0, 1.5, -0.5]))
    return net


def save_released(state: dict, path: Path) -> Path:
    """Write a state dict as the authors' training script does: torch.save of a DDP model's, keys `module.`."""
    torch.save({f"module.{k}": v for k, v in state.items()}, path)
    return path


@pytest.fixture
def released(tmp_path: Path, paper: PaperDMVFN) -> Path:
    return save_released(paper.state_dict(), tmp_path / "dmvfn_city.pkl")


def test_import_equals_the_papers_forward(capsys, released: Path, paper: PaperDMVFN, isolated_home: Path) -> None:
    from framecast.checkpoints import load_checkpoint, resolve

    result = run_here(capsys, "import", "dmvfn", released, "--name", "city", "--trained-on", "cityscapes", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["run"] == "dmvfn/city" and report["parameters"] == 3_559_930
    run = Path(report["path"])
    config = json.loads((run / "config.json").read_text())
    assert config["status"] == "finished" and config["channel_order"] == "rgb"
    assert config["data"]["name"] == "cityscapes" and config["data"]["source"] == "dmvfn_city.pkl"
    assert len(config["data"]["sha256"]) == 64
    model = load_checkpoint(run / "best.safetensors").model
    assert resolve(model="dmvfn").checkpoint.path == run / "best.safetensors"

    rgb = frames(2, 2, 3, 32, 48, seed=3)
    bgr = rgb.flip(2)  # the authors' network reads BGR
    with torch.no_grad():
        ours = model(rgb, 2)
        first = paper_next(paper, bgr[:, 0], bgr[:, 1])
        second = paper_next(paper, bgr[:, 1], first)
    torch.testing.assert_close(ours[:, 0], first.flip(1), atol=1e-5, rtol=0)
    torch.testing.assert_close(ours[:, 1], second.flip(1), atol=1e-5, rtol=0)
    assert (ours[:, 0] - rgb[:, 1]).abs().max() > 1e-3  # the test means something: the frame moved
    with torch.no_grad():  # and any size runs, padded and cropped back
        assert model(frames(1, 2, 3, 37, 50), 1).shape == (1, 1, 3, 37, 50)

    runs = run_here(capsys, "runs", "--json")
    assert any(r["run"] == "dmvfn/city" and r["status"] == "finished" for r in json.loads(runs.stdout)["runs"])
    again = run_here(capsys, "import", "dmvfn", released, "--name", "city")
    assert_clean_error(again, 2, "exists")


class Payload:
    """Unpickling this would create a file: proof of code run by loading."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _damaged(kind: str, tmp_path: Path, paper: PaperDMVFN) -> Path:
    state = dict(paper.state_dict())
    path = tmp_path / f"{kind}.pkl"
    if kind == "missing":
        del state["block4.conv_sq.0.weight"]
    elif kind == "extra":
        state["block9.lastconv.weight"] = torch.zeros(3)
    elif kind == "misshapen":
        state["l1.weight"] = torch.zeros(10, 32)
    elif kind == "payload":
        Payload.marker = str(tmp_path / "ran")
        state["block0.lastconv.bias"] = Payload()
    elif kind == "list":
        torch.save(list(state.values()), path)
        return path
    save_released(state, path)
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.mark.parametrize(
    ("kind", "code", "fragments"),
    [
        ("missing", 2, ("missing 1: block4.conv_sq.0.weight",)),
        ("extra", 2, ("unexpected 1: block9.lastconv.weight",)),
        ("misshapen", 2, ("misshapen 1: l1.weight (10, 32) (expected (9, 32))",)),
        ("truncated", 1, ("truncated or damaged",)),
        ("payload", 2, ("pickle payload", "io.open")),
        ("list", 2, ("not a state dict",)),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(
    capsys, tmp_path: Path, paper: PaperDMVFN, isolated_home: Path, kind: str, code: int, fragments: tuple
) -> None:
    path = _damaged(kind, tmp_path, paper)
    result = run_here(capsys, "import", "dmvfn", path, "--name", "bad")
    assert_clean_error(result, code, *fragments)
    assert result.stderr.count("Error:") == 1
    assert "weights_only=False" not in result.stderr and "weights_only` set to `False" not in result.stderr
    assert not (isolated_home / "data" / "runs" / "dmvfn" / "bad").exists()
    assert not (tmp_path / "ran").exists()
    assert stray_temporaries(isolated_home) == []


def test_bad_usage_of_import(capsys, released: Path) -> None:
    assert_clean_error(run_here(capsys, "import", "simvp", released, "--name", "x"), 2, "dmvfn")
    assert_clean_error(run_here(capsys, "import", "dmvfn", released, "--name", "x", "--trained-on", "mars"), 2, "kitti")
    assert_clean_error(run_here(capsys, "import", "dmvfn", "/no/such.pkl", "--name", "x"), 2, "does not exist")


def test_the_state_dict_reads_from_bytes_like_torch_saves_it(tmp_path: Path, paper: PaperDMVFN) -> None:
    from framecast.importing import read_state_dict

    buffer = io.BytesIO()
    torch.save({"module.l1.bias": paper.l1.bias.detach()}, buffer)
    (tmp_path / "one.pkl").write_bytes(buffer.getvalue())
    state, sha = read_state_dict(tmp_path / "one.pkl")
    assert list(state) == ["l1.bias"] and len(sha) == 64


def test_target_counts_only_through_teacher_forcing_and_bf16_autocast_runs() -> None:
    torch.manual_seed(0)
    model = create_model("dmvfn", "tiny")
    ctx, target, other = frames(2, 2, 1, 32, 32), frames(2, 4, 1, 32, 32, seed=1), frames(2, 4, 1, 32, 32, seed=2)
    model.eval()
    with torch.no_grad():
        free = model(ctx, 4)
        assert torch.equal(model(ctx, 4, target=target, teacher_forcing=0.0), free)
        assert not torch.equal(model(ctx, 4, target=target, teacher_forcing=1.0), free)
        assert not torch.equal(
            model(ctx, 4, target=other, teacher_forcing=1.0), model(ctx, 4, target=target, teacher_forcing=1.0)
        )
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred = model(ctx, 2, target=target[:, :2], teacher_forcing=0.5)
    assert pred.dtype == torch.float32 and float(pred.detach().min()) >= 0.0 and float(pred.detach().max()) <= 1.0
    (pred.mean() + model.aux_loss).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
