"""PredRNN++ (Wang et al., 2018, "PredRNN++: Towards A Resolution of the Deep-in-Time Dilemma in Spatiotemporal
Predictive Learning", ICML): causal LSTM cells and a gradient highway unit, on space-to-depth patches.

A causal LSTM updates its temporal memory C first, then the spatiotemporal memory M from the new C (a cascade,
where the spatiotemporal LSTM of PredRNN updates them side by side):

    i, f, g    = (sigmoid, sigmoid, tanh)(W_x * X + W_h * H + W_c * C_prev)      C = f C_prev + i g
    i', f', g' = (sigmoid, sigmoid, tanh)(W_x' * X + W_m * M_below + W_c' * C)    M = f' tanh(W_m' * M_below) + i' g'
    o = tanh(W_xo * X + W_ho * H + W_co * C + W_mo * M + W_o * [C, M]),           H = o tanh(W_1x1 * [C, M])

with a constant forget bias (1) and no other biases, as the reference. M zig-zags: it climbs the stack at each step
and passes from the top layer to the bottom one at the next. Between the first and second layers a gradient
highway unit keeps a state Z that the first layer's output can skip through, for gradients over many steps:

    p, u = (tanh, sigmoid)(W_px * H_1 + W_pz * Z),     Z = u p + (1 - u) Z

Same patching, rollout, teacher forcing and reverse sampling as every recurrent family (`RecurrentPredictor`), and
a 1x1 head without a learned bias (its sigmoid starts from a dark frame's constant logit).

`base` is the reference's Moving MNIST configuration (4 layers x 128, 5x5 kernels, patch 4): 38,584,320 parameters
(grey), exactly the reference's count. About W_o: the reference's cell builds a convolution over [C, M] for the
output gate (the paper's o reads [X, C, M]) that its forward never uses, beside the separate C and M terms it does
use. Here it is used, added to them: the gate can express nothing more (the terms add up to one convolution over
[C, M]), every parameter learns, W_o starts at zero, so an untrained cell computes exactly what the reference's
does, and without layer norm W_o's halves are added to the weights of the C and M terms before convolving, so it
costs no FLOPs either.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from framecast.errors import UsageError
from framecast.models.blocks import FixedBiasHead, GateConv, add
from framecast.models.convlstm import check_recurrent_config
from framecast.models.layers import RecurrentPredictor, SpaceToDepth, head_channels, init_head, tanh
from framecast.models.registry import register_model


@dataclass
class PredRNNppConfig:
    name: str = "predrnn++"  # the registry name the model was built under
    channels: int = 1  # colour channels of a frame (1 grey, 3 RGB)
    height: int = 64  # frame height in pixels; a multiple of patch
    width: int = 64  # frame width in pixels; a multiple of patch
    patch: int = 4  # space-to-depth factor: the cells see (channels*patch², height/patch, width/patch) maps
    layers: int = 4  # stacked causal LSTM cells, at least 2 (the gradient highway sits between the first two)
    hidden: int = 128  # channels of H, C and M in every layer (M passes between layers, so one width for all)
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


class CausalLSTMCell(nn.Module):
    """A causal LSTM cell (PredRNN++): C, then M from the new C, then H from both (see the module's equations)."""

    def __init__(self, cin: int, hidden: int, *, kernel: int, layer_norm: bool, forget_bias: float) -> None:
        super().__init__()
        n, k, ln = hidden, kernel, layer_norm
        self.hidden, self.forget_bias = n, forget_bias
        self.conv_x = GateConv(cin, n, 7, k, layer_norm=ln)  # i, f, g, i', f', g', o
        self.conv_h = GateConv(n, n, 4, k, layer_norm=ln)  # i, f, g, o
        self.conv_c = GateConv(n, n, 3, k, layer_norm=ln)  # i, f, g from the previous C
        self.conv_m = GateConv(n, n, 3, k, layer_norm=ln)  # i', f', and M's own transition
        self.conv_c_new = GateConv(n, n, 4, k, layer_norm=ln)  # i', g', f', o from the new C
        self.conv_m_new = GateConv(n, n, 1, k, layer_norm=ln)  # o from the new M
        self.conv_cm = GateConv(2 * n, n, 1, k, layer_norm=ln)  # o from [C, M] (see the module's note)
        self.fuse = nn.Conv2d(2 * n, n, 1, bias=False)
        if not layer_norm:  # (a GroupNorm of an all-zero map would have a huge gradient)
            nn.init.zeros_(self.conv_cm.conv.weight)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None, m: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: x (B, Cin, h, w); state (H, C) and m (the memory from below) each (B, hidden, h, w), None for
        zeros. Returns the new H, C and M."""
        n, fb = self.hidden, self.forget_bias
        ix, fx, gx, ix_m, fx_m, gx_m, ox = self.conv_x(x).split(n, dim=1)
        ih = fh = gh = oh = ic = fc = gc = c = None
        if state is not None:
            h, c = state
            ih, fh, gh, oh = self.conv_h(h).split(n, dim=1)
            ic, fc, gc = self.conv_c(c).split(n, dim=1)
        i, f, g = torch.sigmoid(add(ix, ih, ic)), torch.sigmoid(add(fx, fh, fc) + fb), tanh(add(gx, gh, gc))
        c_new = i * g if c is None else torch.addcmul(i * g, f, c)

        folded = self.conv_cm.norm is None
        if folded:  # W_o * [C, M] is W_o's C half * C + its M half * M: added to W_co and W_mo, it costs nothing
            w_cm_c, w_cm_m = self.conv_cm.conv.weight.split(n, dim=1)
            w_c = self.conv_c_new.conv.weight
            w_c = torch.cat([w_c[: 3 * n], w_c[3 * n :] + w_cm_c])
            from_c = F.conv2d(c_new, w_c, padding=self.conv_c_new.conv.padding).to(x.dtype)
        else:
            from_c = self.conv_c_new(c_new)
        ic_new, gc_new, fc_new, oc_new = from_c.split(n, dim=1)
        im = fm = mm = None
        if m is not None:
            im, fm, mm = self.conv_m(m).split(n, dim=1)
        i_m, f_m = torch.sigmoid(add(ix_m, im, ic_new)), torch.sigmoid(add(fx_m, fm, fc_new) + fb)
        delta_m = i_m * tanh(gx_m + gc_new)
        m_new = delta_m if m is None else torch.addcmul(delta_m, f_m, tanh(mm))

        mem = torch.cat([c_new, m_new], dim=1)  # (B, 2n, h, w)
        if folded:
            w_m = self.conv_m_new.conv.weight + w_cm_m
            om_new = F.conv2d(m_new, w_m, padding=self.conv_m_new.conv.padding).to(x.dtype)
        else:
            om_new = add(self.conv_m_new(m_new), self.conv_cm(mem))
        o = tanh(add(ox, oh, oc_new, om_new))
        h_new = o * tanh(self.fuse(mem).to(x.dtype))
        return h_new, c_new, m_new


class GradientHighway(nn.Module):
    """The gradient highway unit: Z = u p + (1 - u) Z_prev, p and u gated from the input and Z_prev."""

    def __init__(self, hidden: int, *, kernel: int, layer_norm: bool) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv_x = GateConv(hidden, hidden, 2, kernel, layer_norm=layer_norm)  # p, u
        self.conv_z = GateConv(hidden, hidden, 2, kernel, layer_norm=layer_norm)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        p, u = add(self.conv_x(x), None if z is None else self.conv_z(z)).split(self.hidden, dim=1)
        p, u = tanh(p), torch.sigmoid(u)
        return u * p if z is None else torch.addcmul(u * p, 1 - u, z)


@register_model(
    "predrnn++",
    config_cls=PredRNNppConfig,
    presets=PRESETS,
    summary="PredRNN++ (Wang et al. 2018): causal LSTM cells and a gradient highway unit",
)
class PredRNNpp(RecurrentPredictor):
    """Stacked causal LSTM cells with a gradient highway after the first, on space-to-depth patches."""

    def __init__(self, config: PredRNNppConfig) -> None:
        super().__init__(config)
        check_recurrent_config(config)
        if config.layers < 2:
            raise UsageError(
                f"option layers of model '{config.name}' must be at least 2 (the gradient highway joins the first "
                f"two), not {config.layers}"
            )
        patched = config.channels * config.patch**2
        self.patch = SpaceToDepth(config.patch)
        self.cells = nn.ModuleList(
            CausalLSTMCell(
                patched if i == 0 else config.hidden,
                config.hidden,
                kernel=config.kernel,
                layer_norm=config.layer_norm,
                forget_bias=config.forget_bias,
            )
            for i in range(config.layers)
        )
        self.highway = GradientHighway(config.hidden, kernel=config.kernel, layer_norm=config.layer_norm)
        self.head = FixedBiasHead(config.hidden, head_channels(config))
        init_head(self.head, residual=config.residual, linear=config.head == "linear")

    def step(self, x: torch.Tensor, state):
        """One time step up the stack; `state` is ([(H, C) per layer], M, Z) or None at the start."""
        layer_states, m, z = (None, None, None) if state is None else state
        new_states = []
        for i, cell in enumerate(self.cells):
            h, c, m = cell(x, None if layer_states is None else layer_states[i], m)
            new_states.append((h, c))
            if i == 0:  # the second layer reads the highway, not the first layer directly
                z = self.highway(h, z)
                h = z
            x = h
        return x, (new_states, m, z)  # M leaves the top layer for the bottom one at the next step
