"""SimVP (gSTA and IncepU), TAU, PredRNN++ and MIM: the reference's parameter counts, the call contract, teacher
forcing, learning, the residual and warp outputs, TAU's differential divergence loss, FLOPs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from framecast.errors import UsageError
from framecast.models import create_model, model_from_config
from framecast.models.costs import count_flops

DIGITS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist_digits.npz"

#: (registry name, overrides): every new family, SimVP with both translators
FAMILIES = [("simvp", {}), ("simvp", {"translator": "incepu"}), ("tau", {}), ("predrnn++", {}), ("mim", {})]
IDS = ["simvp-gsta", "simvp-incepu", "tau", "predrnn++", "mim"]
RECURRENT = ("predrnn++", "mim")
#: tests/test_models.py runs its registry walk (shapes, gradients, overfitting) over every registered name, these
#: families' defaults included; here those tests cover only what it cannot see: the second SimVP translator
VARIANTS = [("simvp", {"translator": "incepu"})]


@pytest.fixture(autouse=True)
def one_thread():
    # On two shared cores, one thread is steady (see test_models); restored afterwards for the other test files.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def frames(batch: int, t: int, channels: int = 1, size: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, t, channels, size, size, generator=g)


def n_params(name: str, preset: str = "base", **overrides) -> int:
    with torch.device("meta"):  # counts without allocating or initialising the weights
        return sum(p.numel() for p in create_model(name, preset, **overrides).parameters())


def assert_every_parameter_learns(model: nn.Module) -> None:
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} takes no part in the loss"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def test_base_parameter_counts_match_the_reference_exactly():
    # OpenSTL's models at their Moving MNIST configs (1 channel, 64x64, 10 -> 10 frames), counted with its code.
    assert n_params("simvp") == 46_769_665  # gSTA: hid_S 64, hid_T 512, N_S 4, N_T 8
    assert n_params("simvp", translator="incepu") == 57_946_113
    assert n_params("tau") == 44_656_001
    assert n_params("predrnn++") == 38_584_320  # 4 x 128, 5x5, patch 4
    assert n_params("mim") == 38_043_648
    base = create_model("simvp", "base").config
    assert (base.context_frames, base.block_frames, base.spatial_width, base.translator_width) == (10, 10, 64, 512)


@pytest.mark.parametrize(("name", "overrides"), FAMILIES, ids=IDS)
def test_presets_grow_from_tiny_to_base(name, overrides):
    tiny, small, base = (n_params(name, p, **overrides) for p in ("tiny", "small", "base"))
    assert 1_000 < tiny < 100_000 < small < 1_500_000 < base


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(("name", "overrides"), VARIANTS, ids=["simvp-incepu"])
def test_tiny_model_shapes_range_and_gradients(name, overrides, channels):
    torch.manual_seed(0)
    model = create_model(name, "tiny", channels=channels, **overrides)
    context = frames(2, 4, channels)
    for horizon in (1, 10, 15):
        model.zero_grad(set_to_none=True)
        target = frames(2, horizon, channels, seed=1)
        pred = model(context, horizon, target=target, teacher_forcing=0.5)
        assert pred.shape == (2, horizon, channels, 64, 64)
        assert pred.dtype == torch.float32
        assert pred.min() >= 0.0 and pred.max() <= 1.0
        loss = F.mse_loss(pred, target)
        if model.aux_loss is not None:
            loss = loss + model.aux_loss
        loss.backward()
        assert_every_parameter_learns(model)
        assert (model.aux_loss is not None) == (name == "tau" and horizon >= 3)
    assert model.recurrent == (name in RECURRENT)


@pytest.mark.parametrize(("name", "overrides"), FAMILIES, ids=IDS)
def test_teacher_forcing_feeds_the_target_and_nothing_without_it(name, overrides):
    torch.manual_seed(0)
    model = create_model(name, "tiny", **overrides).eval()
    context, target, other = frames(2, 4), frames(2, 12, seed=1), frames(2, 12, seed=2)
    with torch.no_grad():
        free = model(context, 12)
        assert torch.equal(model(context, 12, target=target, teacher_forcing=0.0), free)
        assert torch.equal(model(context, 12, target=other, teacher_forcing=0.0), free)
        # recurrent: from the second frame on; block models: in the blocks after the first (tiny: 4 frames each)
        forced = model(context, 12, target=target, teacher_forcing=1.0)
        assert not torch.equal(forced, free)
        assert not torch.equal(forced, model(context, 12, target=other, teacher_forcing=1.0))
        first = 1 if name in RECURRENT else model.config.block_frames
        torch.testing.assert_close(forced[:, :first], free[:, :first], rtol=0, atol=0)


@pytest.mark.parametrize("name", ["simvp", "tau"])
def test_block_models_pad_a_short_context_and_cut_a_long_one(name):
    torch.manual_seed(0)
    model = create_model(name, "tiny").eval()  # context_frames 4
    short, long = frames(2, 2), frames(2, 7, seed=1)
    padded = torch.cat([short[:, :1], short[:, :1], short], 1)  # the first frame repeated at the front
    with torch.no_grad():
        torch.testing.assert_close(model(short, 5), model(padded, 5), rtol=0, atol=0)
        torch.testing.assert_close(model(long, 5), model(long[:, -4:], 5), rtol=0, atol=0)


@pytest.mark.parametrize(("context_frames", "block_frames"), [(5, 3), (2, 6)])
def test_block_frames_may_differ_from_context_frames(context_frames, block_frames):
    torch.manual_seed(0)
    model = create_model("simvp", "tiny", context_frames=context_frames, block_frames=block_frames)
    pred = model(frames(2, 4), 7, target=frames(2, 7, seed=1), teacher_forcing=0.5)
    assert pred.shape == (2, 7, 1, 64, 64)
    pred.mean().backward()
    assert_every_parameter_learns(model)


def moving_mnist_batch(n: int, length: int) -> torch.Tensor:
    """`n` sequences of two real MNIST digits bouncing on a 64x64 canvas, (n, length, 1, 64, 64) in [0, 1]."""
    from framecast.data.moving_mnist import generate

    digits = np.load(DIGITS)["train"][:1000]
    seqs = generate(digits, n, frames=length, size=64, rng=np.random.default_rng(0))  # uint8 (n, T, 64, 64)
    return torch.from_numpy(seqs).float().div(255).unsqueeze(2)


@pytest.mark.parametrize(("name", "overrides"), VARIANTS, ids=["simvp-incepu"])
def test_tiny_model_overfits_a_moving_mnist_batch(name, overrides):
    torch.manual_seed(0)
    seqs = moving_mnist_batch(4, 8)
    context, target = seqs[:, :4], seqs[:, 4:]
    copy_last = F.mse_loss(context[:, -1:].expand_as(target), target).item()
    model = create_model(name, "tiny", **overrides)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(400):  # measured: about 25 steps for simvp/tau, 70 for predrnn++/mim
        mse = F.mse_loss(model(context, 4, target=target), target)
        if mse.item() < copy_last / 4:
            break
        loss = mse + (model.aux_loss if model.aux_loss is not None else 0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    assert mse.item() < copy_last / 4, f"{name}: MSE {mse.item():.5f} vs copy-last {copy_last:.5f}"


@pytest.mark.parametrize("warp", [False, True])
@pytest.mark.parametrize(("name", "overrides"), FAMILIES, ids=IDS)
def test_untrained_residual_model_is_copy_last(name, overrides, warp):
    torch.manual_seed(0)
    model = create_model(name, "tiny", channels=3, residual=True, warp=warp, **overrides)
    context = frames(2, 4, 3)
    pred = model(context, 6, target=frames(2, 6, 3, seed=1))  # (with teacher forcing it would copy true frames)
    assert torch.equal(pred, context[:, -1:].expand_as(pred))
    assert model.moves_pixels == warp
    if warp:
        assert model.last_flow.shape == (2, 6, 2, 64, 64)
        assert not model.last_flow.any()  # the flow head starts at zero too
    else:
        assert model.last_flow is None
    (pred.mean() + (model.aux_loss if model.aux_loss is not None else 0)).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    with pytest.raises(UsageError, match="needs residual"):
        create_model(name, "tiny", warp=True, **overrides)


def test_tau_leaves_its_differential_divergence_loss_after_a_training_forward():
    from framecast.models.tau import differential_divergence

    torch.manual_seed(0)
    model = create_model("tau", "tiny")
    assert model.config.ddr_weight == 0.1  # the reference's alpha
    context, target = frames(2, 4), frames(2, 6, seed=1)
    pred = model(context, 6, target=target)
    assert model.aux_loss is not None and model.aux_loss.dim() == 0 and model.aux_loss > 0
    torch.testing.assert_close(model.aux_loss, 0.1 * differential_divergence(pred, target, 0.1))
    torch.testing.assert_close(model.extra_loss(context, F.mse_loss), model.aux_loss)  # what the trainer adds
    model(context, 6)  # no target: nothing to compare with
    assert model.aux_loss is None
    with torch.no_grad():
        model(context, 6, target=target)
    assert model.aux_loss is None
    model.eval()
    model(context, 6, target=target)
    assert model.aux_loss is None
    model.train()
    model(context, 2, target=target[:, :2])  # like the reference, at least three predicted frames
    assert model.aux_loss is None
    off = create_model("tau", "tiny", ddr_weight=0.0)
    off(context, 6, target=target)
    assert off.aux_loss is None
    # the divergence of the frame differences: zero for the truth itself, positive otherwise
    assert differential_divergence(target, target, 0.1) == 0
    assert differential_divergence(frames(2, 6, seed=3), target, 0.1) > 0


def test_predrnnpp_folds_its_output_gate_weights_without_changing_the_cell():
    # Without layer norm, the [C, M] term of the output gate is added to the C and M terms' weights before
    # convolving; computed as three convolutions (norm=Identity forces that path) the cell gives the same.
    torch.manual_seed(0)
    cell = create_model("predrnn++", "tiny").cells[1]
    nn.init.normal_(cell.conv_cm.conv.weight, std=0.1)
    x, h, c, m = (torch.rand(2, 8, 16, 16) for _ in range(4))
    folded = cell(x, (h, c), m)
    cell.conv_cm.norm = nn.Identity()
    for a, b in zip(folded, cell(x, (h, c), m), strict=True):
        torch.testing.assert_close(a, b)


def test_mim_nonstationary_module_starts_as_the_paper():
    from framecast.models.mim import PeepholeLSTM

    torch.manual_seed(0)
    mixed = PeepholeLSTM(8, (16, 16), kernel=3, layer_norm=False, forget_bias=1.0, mix=True)
    plain = PeepholeLSTM(8, (16, 16), kernel=3, layer_norm=False, forget_bias=1.0, mix=False)
    plain.load_state_dict({k: v for k, v in mixed.state_dict().items() if not k.startswith("mix.")})
    nn.init.normal_(plain.peephole_if, std=0.1)
    mixed.peephole_if.data.copy_(plain.peephole_if)
    x, h, c = (torch.rand(2, 8, 16, 16) for _ in range(3))
    for a, b in zip(mixed(x, h, c), plain(x, h, c), strict=True):  # D = o tanh(N) until the mix learns
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", RECURRENT)
def test_layer_norm_variants_learn(name):
    torch.manual_seed(0)
    model = create_model(name, "tiny", layer_norm=True)
    pred = model(frames(2, 4), 3, target=frames(2, 3, seed=1), teacher_forcing=0.5)
    pred.mean().backward()
    assert_every_parameter_learns(model)


@pytest.mark.parametrize(("name", "overrides"), FAMILIES, ids=IDS)
def test_flops_are_counted_on_the_meta_device(name, overrides):
    config = dataclasses.asdict(create_model(name, "base", **overrides).config)
    assert count_flops(name, config, context=10, horizon=10) > 0
    tiny = dataclasses.asdict(create_model(name, "tiny", **overrides).config)
    assert 0 < count_flops(name, tiny, context=10, horizon=10) < count_flops(name, config, context=10, horizon=10)


@pytest.mark.parametrize(("name", "overrides"), FAMILIES, ids=IDS)
def test_config_rebuilds_the_model_at_another_frame_format(name, overrides):
    model = create_model(name, "tiny", channels=3, height=32, width=48, **overrides)
    saved = json.loads(json.dumps(dataclasses.asdict(model.config)))
    again = model_from_config(name, saved)
    assert again.config == model.config
    again.load_state_dict(model.state_dict())
    assert again(frames(1, 3, 3)[..., :32, :48], 5).shape == (1, 5, 3, 32, 48)


def test_bad_options_are_refused():
    with pytest.raises(UsageError, match="translator"):
        create_model("simvp", "tiny", translator="swin")
    with pytest.raises(UsageError, match="translator_depth"):
        create_model("tau", "tiny", translator_depth=1)
    with pytest.raises(UsageError, match="spatial_width"):
        create_model("simvp", "tiny", spatial_width=7)
    with pytest.raises(UsageError, match="cannot be cut"):
        create_model("simvp", "base", height=62)
    with pytest.raises(UsageError, match="ddr_weight"):
        create_model("tau", "tiny", ddr_weight=-1.0)
    for name in RECURRENT:
        with pytest.raises(UsageError, match="at least 2"):
            create_model(name, "tiny", layers=1)
        with pytest.raises(UsageError, match="4x4 patches"):
            create_model(name, "tiny", height=62)
