"""MIM (Wang et al., 2019, "Memory In Memory: A Predictive Neural Network for Learning Higher-Order
Non-Stationarity from Spatiotemporal Dynamics", CVPR): a spatiotemporal LSTM under a stack of MIM blocks, on
space-to-depth patches.

The first layer is a spatiotemporal LSTM (PredRNN's cell: a temporal memory C and a spatiotemporal memory M that
zig-zags through the stack). Every layer above is a MIM block, a spatiotemporal LSTM whose forget gate on C is
replaced by two cascaded recurrent modules, each an LSTM with Hadamard peepholes (per channel and position):

- MIM-N, the non-stationary module of level l, reads the difference of the layer below between two steps (for
  the first MIM block: H of the first layer now minus before; higher up: the D of the MIM-N below) and keeps its
  own memory N; its output D describes how the motion changes.
- MIM-S, the stationary module inside the block, reads D, with the block's previous C as its hidden input, keeps
  its own memory S, and gives T, which takes the place of f * C_prev:

    C = T + i g,    M = f' M_below + i' g',    H = o tanh(W_1x1 * [C, M])

The MIM-N modules first run at the second step (there is no difference before it); until then D is zero. All
gates are convolutions without biases, the forget gates get a constant bias (1), and the head is a 1x1
convolution without a learned bias, as the reference. Same patching, rollout, teacher forcing and reverse sampling
as every recurrent family (`RecurrentPredictor`).

`base` is the reference's Moving MNIST configuration (4 layers x 128, 5x5 kernels, patch 4): 38,043,648 parameters
(grey), exactly the reference's count. Two differences from the reference code:

- its MIM-N modules build a 1x1 convolution over two memories' width that their forward never uses. Here it is
  used: D = o tanh(W_1x1 * [N, input]), with W_1x1 starting as [identity, 0], so an untrained MIM-N gives the
  paper's D = o tanh(N) and may learn to pass its input difference straight on; every parameter learns.
- its MIM-S memory S lives on the module, detached at every step and kept from one batch to the next; here S is
  part of the rolled state, zero at the start of each sequence, with its gradient, as the paper's equations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from framecast.errors import UsageError
from framecast.models.blocks import FixedBiasHead, GateConv, add
from framecast.models.convlstm import check_recurrent_config
from framecast.models.layers import RecurrentPredictor, SpaceToDepth, head_channels, init_head, tanh
from framecast.models.registry import register_model


@dataclass
class MIMConfig:
    name: str = "mim"  # the registry name the model was built under
    channels: int = 1  # colour channels of a frame (1 grey, 3 RGB)
    height: int = 64  # frame height in pixels; a multiple of patch (the peepholes are sized to the patch grid)
    width: int = 64  # frame width in pixels; a multiple of patch
    patch: int = 4  # space-to-depth factor: the cells see (channels*patch², height/patch, width/patch) maps
    layers: int = 4  # a spatiotemporal LSTM, then layers - 1 MIM blocks (so at least 2)
    hidden: int = 128  # channels of every state in every layer (M passes between layers, so one width for all)
    kernel: int = 5  # side of the (odd) kernels
    layer_norm: bool = False  # normalise each convolution's gate pre-activations (GroupNorm per gate)
    forget_bias: float = 1.0  # constant added to the forget gates' pre-activations (the cells have no biases)
    head: str = "sigmoid"  # "sigmoid" paints the frame; "linear": the head's output is the frame (the reference's)
    residual: bool = False  # predict the change from the last frame seen (untrained: copy-last); video default
    warp: bool = False  # with residual: the change includes the last frame moved by a predicted flow


PRESETS = {
    "tiny": {"layers": 2, "hidden": 8, "kernel": 3},
    "small": {"layers": 3, "hidden": 32, "kernel": 3},
    "base": {},  # the dataclass defaults: the reference's Moving MNIST configuration
}


class SpatioTemporalCell(nn.Module):
    """PredRNN's spatiotemporal LSTM as the reference builds it for MIM: convolutions of X (7 gates), H (4) and M
    (3) without biases, a constant forget bias, the output gate also reading [C, M]."""

    def __init__(self, cin: int, hidden: int, *, kernel: int, layer_norm: bool, forget_bias: float) -> None:
        super().__init__()
        n, k, ln = hidden, kernel, layer_norm
        self.hidden, self.forget_bias = n, forget_bias
        self.conv_x = GateConv(cin, n, 7, k, layer_norm=ln)  # i, f, g, i', f', g', o
        self.conv_h = GateConv(n, n, 4, k, layer_norm=ln)  # i, f, g, o
        self.conv_m = GateConv(n, n, 3, k, layer_norm=ln)  # i', f', g'
        self.conv_cm = GateConv(2 * n, n, 1, k, layer_norm=ln)  # o from [C, M]
        self.fuse = nn.Conv2d(2 * n, n, 1, bias=False)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None, m: torch.Tensor | None):
        """x (B, Cin, h, w); state (H, C) and m each (B, hidden, h, w), None for zeros -> the new H, C, M."""
        n, fb = self.hidden, self.forget_bias
        ix, fx, gx, ix_m, fx_m, gx_m, ox = self.conv_x(x).split(n, dim=1)
        ih = fh = gh = oh = c = None
        if state is not None:
            h, c = state
            ih, fh, gh, oh = self.conv_h(h).split(n, dim=1)
        im = fm = gm = None
        if m is not None:
            im, fm, gm = self.conv_m(m).split(n, dim=1)
        i, f, g = torch.sigmoid(add(ix, ih)), torch.sigmoid(add(fx, fh) + fb), tanh(add(gx, gh))
        c_new = i * g if c is None else torch.addcmul(i * g, f, c)
        i_m, f_m, g_m = torch.sigmoid(add(ix_m, im)), torch.sigmoid(add(fx_m, fm) + fb), tanh(add(gx_m, gm))
        m_new = i_m * g_m if m is None else torch.addcmul(i_m * g_m, f_m, m)
        mem = torch.cat([c_new, m_new], dim=1)
        o = torch.sigmoid(add(ox, oh, self.conv_cm(mem)))
        return o * tanh(self.fuse(mem).to(x.dtype)), c_new, m_new


class PeepholeLSTM(nn.Module):
    """MIM's recurrent module (MIM-N and MIM-S): an LSTM whose gates are convolutions of its input x and of its
    hidden input h, with Hadamard peepholes from its cell (on i and f from the previous cell, on o from the new).

    With `mix` (MIM-N, whose input is always given) the output reads the cell beside the input through a 1x1
    convolution that starts as the identity on the cell: o tanh(W [cell, x]); without (MIM-S), o tanh(cell).
    """

    def __init__(
        self, hidden: int, grid: tuple[int, int], *, kernel: int, layer_norm: bool, forget_bias: float, mix: bool
    ) -> None:
        super().__init__()
        n = hidden
        self.hidden, self.forget_bias = n, forget_bias
        self.conv_x = GateConv(n, n, 4, kernel, layer_norm=layer_norm)  # i, g, f, o
        self.conv_h = GateConv(n, n, 4, kernel, layer_norm=layer_norm)
        self.peephole_if = nn.Parameter(torch.zeros(2, n, *grid))
        self.peephole_o = nn.Parameter(torch.zeros(n, *grid))
        self.mix = nn.Conv2d(2 * n, n, 1, bias=False) if mix else None
        if self.mix is not None:
            with torch.no_grad():
                self.mix.weight.zero_()
                self.mix.weight[:, :n, 0, 0].copy_(torch.eye(n))

    def forward(
        self, x: torch.Tensor | None, h: torch.Tensor | None, c: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """x, h, c (B, hidden, h, w), None for zeros -> (output, new cell); (None, None) while all are zeros."""
        if x is None and h is None and c is None:
            return None, None  # every gate at its rest: the cell stays zero, and so does the output
        n = self.hidden
        ix = gx = fx = ox = ih = gh = fh = oh = pi = pf = None
        if x is not None:
            ix, gx, fx, ox = self.conv_x(x).split(n, dim=1)
        if h is not None:
            ih, gh, fh, oh = self.conv_h(h).split(n, dim=1)
        if c is not None:
            pi, pf = (self.peephole_if * c.unsqueeze(1)).unbind(1)  # (B, 2, n, h, w) -> two (B, n, h, w)
        pre_g = add(gx, gh)
        delta = None if isinstance(pre_g, int) else torch.sigmoid(add(ix, ih, pi)) * tanh(pre_g)  # None: i g = 0
        if c is None:
            c_new = delta
        else:
            f = torch.sigmoid(add(fx, fh, pf) + self.forget_bias)
            c_new = f * c if delta is None else torch.addcmul(delta, f, c)
        o = torch.sigmoid(add(ox, oh) + self.peephole_o * c_new)
        out = c_new if self.mix is None else self.mix(torch.cat([c_new, x], dim=1)).to(c_new.dtype)
        return o * tanh(out), c_new


class MIMBlock(nn.Module):
    """A MIM block: a spatiotemporal LSTM whose f * C_prev is MIM-S's output T (see the module's equations)."""

    def __init__(
        self, hidden: int, grid: tuple[int, int], *, kernel: int, layer_norm: bool, forget_bias: float
    ) -> None:
        super().__init__()
        n, k, ln = hidden, kernel, layer_norm
        self.hidden, self.forget_bias = n, forget_bias
        self.conv_x = GateConv(n, n, 4, k, layer_norm=ln)  # i (shared by i and i'), g (by g and g'), f', o
        self.conv_h = GateConv(n, n, 3, k, layer_norm=ln)  # i, g, o
        self.conv_m = GateConv(n, n, 4, k, layer_norm=ln)  # i', g', f', o
        self.stationary = PeepholeLSTM(n, grid, kernel=k, layer_norm=ln, forget_bias=forget_bias, mix=False)
        self.fuse = nn.Conv2d(2 * n, n, 1, bias=False)

    def forward(self, x, d, state, m, s):
        """x: H of the layer below; d: MIM-N's output (None: zeros); state (H, C), m, s: this block's states and
        the memory from below (None: zeros). Returns the new H, C, M and MIM-S's memory S."""
        n, fb = self.hidden, self.forget_bias
        ix, gx, fx, ox = self.conv_x(x).split(n, dim=1)
        ih = gh = oh = c = None
        if state is not None:
            h, c = state
            ih, gh, oh = self.conv_h(h).split(n, dim=1)
        im = gm = fm = om = None
        if m is not None:
            im, gm, fm, om = self.conv_m(m).split(n, dim=1)
        i, g = torch.sigmoid(add(ix, ih)), tanh(add(gx, gh))
        i_m, g_m = torch.sigmoid(add(ix, im)), tanh(add(gx, gm))
        m_new = i_m * g_m if m is None else torch.addcmul(i_m * g_m, torch.sigmoid(add(fx, fm) + fb), m)
        t, s_new = self.stationary(d, c, s)  # what the block keeps of its previous C
        c_new = add(t, i * g)
        o = torch.sigmoid(add(ox, oh, om))
        h_new = o * tanh(self.fuse(torch.cat([c_new, m_new], dim=1)).to(x.dtype))
        return h_new, c_new, m_new, s_new


@register_model(
    "mim",
    config_cls=MIMConfig,
    presets=PRESETS,
    summary="MIM (Wang et al. 2019): memory in memory blocks for non-stationary motion",
)
class MIM(RecurrentPredictor):
    """A spatiotemporal LSTM and MIM blocks with their non-stationary modules, on space-to-depth patches."""

    def __init__(self, config: MIMConfig) -> None:
        super().__init__(config)
        grid = check_recurrent_config(config)
        if config.layers < 2:
            raise UsageError(
                f"option layers of model '{config.name}' must be at least 2 (a spatiotemporal LSTM under MIM "
                f"blocks), not {config.layers}"
            )
        n, k, ln, fb = config.hidden, config.kernel, config.layer_norm, config.forget_bias
        self.patch = SpaceToDepth(config.patch)
        self.first = SpatioTemporalCell(config.channels * config.patch**2, n, kernel=k, layer_norm=ln, forget_bias=fb)
        above = range(config.layers - 1)
        self.blocks = nn.ModuleList(MIMBlock(n, grid, kernel=k, layer_norm=ln, forget_bias=fb) for _ in above)
        self.nonstationary = nn.ModuleList(
            PeepholeLSTM(n, grid, kernel=k, layer_norm=ln, forget_bias=fb, mix=True) for _ in above
        )
        self.head = FixedBiasHead(n, head_channels(config))
        init_head(self.head, residual=config.residual, linear=config.head == "linear")

    def step(self, x: torch.Tensor, state):
        """One time step up the stack. `state` is None at the start, else ([(H, C) per layer], M, [(D, N) per
        MIM-N], [S per block])."""
        if state is None:
            above = len(self.blocks)
            layer_states, m, diffs, memories = [None] * (above + 1), None, [(None, None)] * above, [None] * above
        else:
            layer_states, m, diffs, memories = state
        h, c, m = self.first(x, layer_states[0], m)
        new_states, new_diffs, new_memories = [(h, c)], [], []
        # the difference that climbs the MIM-N modules: none before the second step
        d = None if layer_states[0] is None else h - layer_states[0][0]
        for i, (block, nonstationary) in enumerate(zip(self.blocks, self.nonstationary, strict=True)):
            if d is not None:
                d, n_mem = nonstationary(d, *diffs[i])
                new_diffs.append((d, n_mem))
            else:
                new_diffs.append((None, None))
            h, c, m, s = block(h, d, layer_states[i + 1], m, memories[i])
            new_states.append((h, c))
            new_memories.append(s)
        return h, (new_states, m, new_diffs, new_memories)
