"""Blocks shared by the model families: the predictor base class, patching, recurrent cells, the rollout.

Every model is a `FramePredictor`: it answers

    model(context, horizon, *, target=None, teacher_forcing=0.0, context_teacher_forcing=1.0)

with `(B, horizon, C, H, W)` frames in [0, 1] and, after a training forward, leaves two optional tensors
for the trainer on the module: `aux_loss` (a scalar to add to the loss, already weighted) and
`context_prediction` (the model's own predictions of context frames 1..T-1, to be scored against them).

Recurrent models (`RecurrentPredictor`) work in the space-to-depth domain: the frames are folded once into
(C p², H/p, W/p) maps, the cells run on those, and the 1x1 head's output is fed back as it is, so nothing is
unfolded and folded again inside the loop.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from framecast.errors import UsageError

#: Initial bias of every model's output head, a logit: sigmoid(-3) is about 0.05, a dark frame. Frames are mostly
#: dark (Moving MNIST is 96% black); a head that starts at 0.5 everywhere sends the optimiser on a dash to
#: all-black that saturates the sigmoid, where the digits' gradients vanish and training stalls (measured: tiny
#: models never beat copy-last from bias 0, and overfit a batch in ~100 steps from -3).
HEAD_BIAS = -3.0


def init_head(head: nn.Module, *, residual: bool, linear: bool = False) -> None:
    """Start an output head: at HEAD_BIAS for a head whose sigmoid paints the frame, at exactly zero for a
    residual head (its output is a change to the last frame), so that an untrained residual model is copy-last;
    a linear head (`head="linear"`, the frame itself) starts with a zero offset."""
    with torch.no_grad():
        if residual:
            head.weight.zero_()
            head.bias.zero_()
        elif linear:
            head.bias.zero_()
        else:
            head.bias.fill_(HEAD_BIAS)


#: The flow head's output is multiplied by this, in pixels: a zero-initialised head grows slowly, and motion of a
#: few pixels per frame is common, so a unit of output is worth a few pixels.
FLOW_SCALE = 4.0


def head_channels(config: Any) -> int:
    """Channels a patching model's head gives per patch: the frame's pixels (logits, or a change), C p², plus with a
    warp 2 of flow. The flow is one vector per patch, upsampled bilinearly to the pixels (see `upsample_flow`):
    motion is smooth, and a smooth flow field is far quicker to learn than one vector per pixel."""
    check_output_options(config)
    return config.channels * config.patch**2 + (2 if getattr(config, "warp", False) else 0)


def input_channels(config: Any, per_frame: int) -> int:
    """Channels a model's first layer reads per frame: the frame's own `per_frame` (C, or C p² in patches), twice
    that with the `differences` option (see `with_differences`)."""
    return per_frame * (2 if getattr(config, "differences", False) else 1)


def with_differences(frames: torch.Tensor, previous: torch.Tensor | None = None, *, dim: int = 2) -> torch.Tensor:
    """Frames with their change from the frame before joined on the channel axis `dim`: (..., 2 C, ...).

    `frames` holds consecutive frames on axis 1 (dim 2 is channels), or one frame (dim 1) whose predecessor is
    `previous`. The first frame's change is zero. Motion is what a predictor must find, and a frame's change from
    the last one is its signature at every pixel (brightness constancy: the change is minus the gradient dotted
    with the motion), so a first layer that sees the change finds sub-pixel motion locally; one that sees frames
    apart has to learn to subtract them first. Measured (docs/pages/results.md): it tripled a ViT's gain over
    copy-last on generated scenes in the same steps, but did not carry over to real clips.
    """
    if previous is None:  # consecutive frames on axis 1
        previous = torch.cat([frames[:, :1], frames[:, :-1]], 1)
    return torch.cat([frames, frames - previous], dim)


def upsample_flow(flow: torch.Tensor, patch: int) -> torch.Tensor:
    """A flow of one vector per patch, (B, 2, h, w), as one per pixel, (B, 2, h p, w p), bilinearly."""
    if patch == 1:
        return flow
    return F.interpolate(flow, scale_factor=patch, mode="bilinear", align_corners=False)


#: What a family's `head` option may be: "sigmoid" paints the frame through a sigmoid (framecast's default);
#: "linear" takes the head's output as the frame itself, fed back as it is and kept in [0, 1] only in what the
#: model returns (the reference library's heads, so that its released weights compute what they computed there).
HEADS = ("sigmoid", "linear")


def check_output_options(config: Any) -> None:
    head = getattr(config, "head", "sigmoid")
    if head not in HEADS:
        raise UsageError(f"option head of model '{config.name}' must be sigmoid or linear, not {head!r}")
    if head == "linear" and getattr(config, "residual", False):
        raise UsageError(f"option head=linear of model '{config.name}' paints frames: it excludes residual")
    if getattr(config, "warp", False) and not getattr(config, "residual", False):
        raise UsageError(
            f"option warp of model '{config.name}' needs residual (the warp moves the last frame)",
            "add --set residual=true, or drop warp",
        )


def warp(frames: torch.Tensor, flow: torch.Tensor, *, cubic: bool = False) -> torch.Tensor:
    """Backward warping: each output pixel reads `frames` at its own place plus `flow` (dx, dy in pixels),
    bilinearly (or bicubically), repeating the border outside the frame. frames (B, C, H, W), flow (B, 2, H, W).

    One layer for every model that moves pixels (the warp term of residual models, and warping families). The
    neighbours are gathered at integer places with fractional weights, so a zero flow gives the frames back
    exactly and an integer flow shifts them exactly (normalised grid coordinates would round both).

    Bilinear sampling blurs: a shift of a tenth of a pixel already keeps only 81% of the finest detail's energy
    per axis, and half a pixel none of it. `cubic` uses Keys' cubic convolution (a = -0.5; 97% at a tenth of a
    pixel), for models whose flows are mostly small: a bilinear warp term blurred still scenes with the small
    flows a trained model always predicts.
    """
    b, c, h, w = frames.shape
    ys = torch.arange(h, device=frames.device, dtype=flow.dtype).view(1, h, 1)
    xs = torch.arange(w, device=frames.device, dtype=flow.dtype).view(1, 1, w)
    x = (xs + flow[:, 0]).clamp(0, w - 1)  # border padding: outside the frame reads its edge
    y = (ys + flow[:, 1]).clamp(0, h - 1)
    x0, y0 = x.floor(), y.floor()
    fx, fy = x - x0, y - y0  # (B, H, W)
    x0, y0 = x0.long(), y0.long()
    flat = frames.reshape(b, c, h * w)

    def at(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        index = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).view(b, 1, h * w).expand(-1, c, -1)
        return flat.gather(2, index).view(b, c, h, w)

    # taps at offsets -1..2 from the floor (cubic) or 0..1 (bilinear), with their weights: (B, 1, H, W) each
    taps_x, taps_y = (
        cubic_weights(f.unsqueeze(1)) if cubic else [1 - f.unsqueeze(1), f.unsqueeze(1)] for f in (fx, fy)
    )
    first = -1 if cubic else 0
    out = None
    for j, wy in enumerate(taps_y):
        row = sum(wx * at(y0 + first + j, x0 + first + i) for i, wx in enumerate(taps_x))
        out = wy * row if out is None else out + wy * row
    return out


def cubic_weights(frac: torch.Tensor) -> list[torch.Tensor]:
    """Keys' cubic convolution weights of the four pixels at offsets -1, 0, 1, 2 from a point `frac` (in [0, 1],
    any shape) past a whole pixel: at 0 they are (0, 1, 0, 0), at 1 (0, 0, 1, 0), so whole pixels are exact.
    The warp term and the moving scenes' renderer both sample with them."""
    a = -0.5  # Keys (1981): the cubic that reproduces quadratics; its weights sum to 1
    near = lambda t: ((a + 2) * t - (a + 3)) * t * t + 1  # noqa: E731 - |t| <= 1
    far = lambda t: ((a * t - 5 * a) * t + 8 * a) * t - 4 * a  # noqa: E731 - 1 < |t| < 2
    return [far(1 + frac), near(frac), near(1 - frac), far(2 - frac)]


def flow_of(out: torch.Tensor, channels: int) -> torch.Tensor:
    """The flow in pixels (B, 2, H, W) that a warping head's full-resolution output (B, C + 2, H, W) moves by,
    detached: what `last_flow` shows (framecast predict --show-flow)."""
    return (out[:, channels:] * FLOW_SCALE).detach().float()


def frame_from_head(out: torch.Tensor, last: torch.Tensor, *, residual: bool, warp_term: bool = False) -> torch.Tensor:
    """The predicted frame from a head's full-resolution output (B, C [+ 2], H, W) and the last frame (B, C, H, W).

    - default: sigmoid(out), a frame painted from scratch;
    - residual: last + out, kept in [0, 1]. A residual model predicts the change from the frame it last saw,
      which is what real video mostly is: little changes from one frame to the next, and copying the last frame
      is a strong start that it only has to beat;
    - residual with a warp term: the last frame moved by a predicted flow (the 2 extra channels, in units of
      FLOW_SCALE pixels), plus the change. Moving pixels keeps them sharp where painting them blurs.
    With heads that start at zero (init_head), an untrained residual model is copy-last exactly.
    """
    if not residual:
        return torch.sigmoid(out)
    c = last.shape[1]
    # cubic: the small flows a trained model predicts on still content must not blur it (see warp)
    base = warp(last, out[:, c:] * FLOW_SCALE, cubic=True) if warp_term else last
    return (base + out[:, :c]).clamp(0.0, 1.0)


def check_patch(height: int, width: int, patch: int, *, option: str = "patch") -> tuple[int, int]:
    """The grid a frame of `height` x `width` makes at `patch`, or a UsageError when it does not divide."""
    if patch < 1:
        raise UsageError(f"{option} must be a positive integer, not {patch}")
    if height % patch or width % patch:
        raise UsageError(
            f"a {height}x{width} frame cannot be cut into {patch}x{patch} patches",
            f"use a frame size that is a multiple of {patch} (resize the data), or another {option}",
        )
    return height // patch, width // patch


class SpaceToDepth(nn.Module):
    """Fold each `patch` x `patch` block of pixels into channels: (*, C, H, W) -> (*, C p², H/p, W/p).

    At patch 4 a 64x64 grey frame becomes a 16x16 map of 16 channels, so the recurrent cells convolve 16x
    fewer positions while the receptive field of a 5x5 kernel covers 20x20 pixels. `inverse` undoes it.
    """

    def __init__(self, patch: int) -> None:
        super().__init__()
        self.patch = patch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.patch == 1:
            return x
        return F.pixel_unshuffle(x, self.patch)  # (*, C p², H/p, W/p), channel order (c, dy, dx)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """(*, C p², H/p, W/p) -> (*, C, H, W)."""
        if self.patch == 1:
            return x
        return F.pixel_shuffle(x, self.patch)

    def extra_repr(self) -> str:
        return f"patch={self.patch}"


def _conv_input_only(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """`conv` over [x, 0, ...]: the first step of a sequence, when the recurrent state is still all zeros.

    Slicing the weight skips the multiplications by zero that a fused convolution over [x, h=0] would do.
    """
    return F.conv2d(x, conv.weight[:, : x.shape[1]], conv.bias, padding=conv.padding)


def _tanh_cpu(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) as 2 sigmoid(2x) - 1, in one buffer. On a CPU, torch's float32 tanh is several times slower than
    its sigmoid (measured 760 against 59 us on a (16, 32, 16, 16) map), and this identity is within 2e-7 of it."""
    t = x * 2
    torch.sigmoid(t, out=t)
    return t.mul_(2).sub_(1)


class _Tanh(torch.autograd.Function):
    """tanh through `_tanh_cpu`, keeping its output for the backward, as torch's own tanh does."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = _tanh_cpu(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


def _tanh_any(x: torch.Tensor) -> torch.Tensor:
    """tanh with no graph: torch's own off the CPU, the faster identity on it (also inside autograd functions)."""
    return _tanh_cpu(x) if x.device.type == "cpu" else torch.tanh(x)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """The recurrent cells' tanh (see `_tanh_cpu`), differentiable."""
    if x.device.type == "cpu" and x.requires_grad and torch.is_grad_enabled():
        return _Tanh.apply(x)
    return _tanh_any(x)


class _LSTMPointwise(torch.autograd.Function):
    """The LSTM cell's element-wise part, (gates, c) -> (h', c'), with a hand-written backward.

    Composed of separate torch operations, autograd keeps the three sigmoid gates, tanh(g), the previous cell
    state and tanh(c') for the backward. This keeps the activated gates and c' only: the previous cell state is
    the c' that the previous step kept already (the same tensor), and tanh(c') is recomputed, one cheap pass.
    That is one state-sized tensor fewer per layer and step, about a tenth of a training step's peak memory, at
    no cost in time (measured in benchmarks/bench_peer.py).

    gates: (B, 4n, h, w) pre-activations in the order (i, f, o, g); c: (B, n, h, w), or None for zeros.
    """

    @staticmethod
    def forward(ctx, gates: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        n = gates.shape[1] // 4
        pre_ifo, pre_g = gates.split([3 * n, n], dim=1)
        ifo = torch.sigmoid(pre_ifo)
        g = _tanh_any(pre_g)
        i, f, o = ifo.chunk(3, dim=1)
        c_new = i * g if c is None else torch.addcmul(f * c, i, g)
        h_new = o * _tanh_any(c_new)
        ctx.save_for_backward(ifo, g, c_new, c)
        return h_new, c_new

    @staticmethod
    def backward(ctx, dh: torch.Tensor | None, dc: torch.Tensor | None):
        ifo, g, c_new, c = ctx.saved_tensors
        i, f, o = ifo.chunk(3, dim=1)
        tc = _tanh_any(c_new)
        dh = torch.zeros_like(c_new) if dh is None else dh
        # dL/dc' gathers what reaches c' through h' = o tanh(c') and what comes from the next step directly
        dc_total = torch.ops.aten.tanh_backward(dh * o, tc)
        if dc is not None:
            dc_total = dc_total + dc
        df = dc_total * c if c is not None else torch.zeros_like(c_new)
        d_ifo = torch.ops.aten.sigmoid_backward(torch.cat([dc_total * g, df, dh * tc], dim=1), ifo)
        d_g = torch.ops.aten.tanh_backward(dc_total * i, g)
        d_c = dc_total * f if c is not None and ctx.needs_input_grad[1] else None
        return torch.cat([d_ifo, d_g], dim=1), d_c


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM cell (Shi et al., 2015).

    The four gates come from one fused convolution over [input, hidden], in the order (i, f, o, g) so that
    the three sigmoid gates are one contiguous slice. Optional: peephole terms (Hadamard weights, one per
    channel and position as in the paper) and layer norm (per gate over channels and positions, then on the
    cell state before its tanh).

    Args:
        in_channels: channels of the input map.
        hidden: channels of the hidden and cell states.
        kernel: side of the square gate kernel (odd, so that "same" padding is symmetric).
        size: (height, width) of the maps; only the peephole weights need it.
        peephole: add the peephole terms W_ci∘c, W_cf∘c, W_co∘c'.
        layer_norm: normalise the gate pre-activations and the cell state the output reads.
        forget_bias: initial bias of the forget gate; 1 lets gradients flow through c early in training.
    """

    def __init__(
        self,
        in_channels: int,
        hidden: int,
        *,
        kernel: int,
        size: tuple[int, int],
        peephole: bool = False,
        layer_norm: bool = False,
        forget_bias: float = 1.0,
    ) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, padding=kernel // 2)
        self.peephole = nn.Parameter(torch.zeros(3, hidden, *size)) if peephole else None
        self.gate_norm = nn.GroupNorm(4, 4 * hidden) if layer_norm else None
        self.cell_norm = nn.GroupNorm(1, hidden) if layer_norm else None
        with torch.no_grad():
            # With layer norm the conv bias is mostly normalised away, so the forget bias lives in the norm.
            bias = self.gate_norm.bias if layer_norm else self.gates.bias
            bias[hidden : 2 * hidden].fill_(forget_bias)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: x (B, Cin, h, w) and state (h, c) each (B, hidden, h, w), or None for zeros.

        Returns:
            The new (h, c).
        """
        n = self.hidden
        if state is None:
            gates = _conv_input_only(self.gates, x)  # (B, 4n, h, w)
        else:
            h, c = state
            gates = self.gates(torch.cat([x, h], dim=1))  # (B, 4n, h, w)
        # Under autocast the convolution runs in bf16/fp16; the gates and states stay in x's dtype (fp32).
        gates = gates.to(x.dtype)
        if self.gate_norm is not None:
            gates = self.gate_norm(gates)
        if self.peephole is None and self.cell_norm is None:
            return _LSTMPointwise.apply(gates, None if state is None else c)
        # split/chunk rather than slicing: their backward is one cat, where each slice's backward would fill a
        # zero tensor of the full gate size.
        pre_ifo, pre_g = gates.split([3 * n, n], dim=1)
        g = tanh(pre_g)
        if self.peephole is None:
            i, f, o = torch.sigmoid(pre_ifo).chunk(3, dim=1)  # one call for the three sigmoid gates
            c_new = i * g if state is None else torch.addcmul(f * c, i, g)
        else:
            pre_if, pre_o = pre_ifo.split([2 * n, n], dim=1)
            if state is not None:  # i and f look at the previous cell state (all zeros on the first step)
                pre_if = pre_if + (self.peephole[:2] * c.unsqueeze(1)).flatten(1, 2)  # (B, 2, n, h, w) -> (B, 2n, ..)
            i, f = torch.sigmoid(pre_if).chunk(2, dim=1)
            c_new = i * g if state is None else torch.addcmul(f * c, i, g)
            o = torch.sigmoid(pre_o + self.peephole[2] * c_new)  # o looks at the new cell state
        # Layer norm (Ba et al.) normalises what the output reads, while the cell carries c itself on.
        h_new = o * tanh(c_new if self.cell_norm is None else self.cell_norm(c_new))
        return h_new, c_new


class SpatioTemporalLSTMCell(nn.Module):
    """A spatiotemporal LSTM cell (PredRNN, Wang et al., 2017), with PredRNN-V2's decoupling increments.

    Besides the temporal state (h, c) it updates a spatiotemporal memory m that the stack passes upward and
    then, zig-zagging, from the top layer to the bottom one at the next step. The published cell has seven
    gate convolutions of x, four of h and three of m, with separate weights and no biases, summed per gate.
    Here the weights are stored as two convolutions, over [x, h] for (i, f, g, o) and over [x, m] for
    (i', f', g'), with a bias per gate: the same weight count. They run as three: x once for all seven
    gates, h and m for their own, so that no concatenated copy of x, h or m is kept for the backward.

    Args:
        in_channels: channels of the input map.
        hidden: channels of h, c and m (m's channels must match between layers, so every layer has the same).
        kernel: side of the square kernels.
        layer_norm: normalise the gate pre-activations (per gate over channels and positions).
        forget_bias: initial bias of both forget gates.
    """

    def __init__(
        self, in_channels: int, hidden: int, *, kernel: int, layer_norm: bool = False, forget_bias: float = 1.0
    ) -> None:
        super().__init__()
        self.hidden = hidden
        pad = kernel // 2
        self.conv_xh = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, padding=pad)  # i, f, g, o
        self.conv_xm = nn.Conv2d(in_channels + hidden, 3 * hidden, kernel, padding=pad)  # i', f', g'
        # Their biases would duplicate those of the gates they feed, so they have none (as published).
        self.conv_o = nn.Conv2d(2 * hidden, hidden, kernel, padding=pad, bias=False)
        self.conv_last = nn.Conv2d(2 * hidden, hidden, 1, bias=False)
        self.norm_xh = nn.GroupNorm(4, 4 * hidden) if layer_norm else None
        self.norm_xm = nn.GroupNorm(3, 3 * hidden) if layer_norm else None
        self.norm_o = nn.GroupNorm(1, hidden) if layer_norm else None
        self.rollout_weights: tuple[torch.Tensor, ...] | None = None
        with torch.no_grad():
            for conv, norm in ((self.conv_xh, self.norm_xh), (self.conv_xm, self.norm_xm)):
                bias = norm.bias if norm is not None else conv.bias
                bias[hidden : 2 * hidden].fill_(forget_bias)

    def split_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The stored weights as the three convolutions use them: x's for all seven gates and its bias, h's, m's.

        A rollout makes them once for all its steps (one concatenation, and one gradient for it), not per step.
        """
        cin = self.conv_xh.weight.shape[1] - self.hidden
        wx = torch.cat([self.conv_xh.weight[:, :cin], self.conv_xm.weight[:, :cin]])  # (7n, Cin, k, k)
        bx = torch.cat([self.conv_xh.bias, self.conv_xm.bias])
        return wx, bx, self.conv_xh.weight[:, cin:], self.conv_xm.weight[:, cin:]

    def forward(
        self,
        x: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None,
        m: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: x (B, Cin, h, w); state (h, c) and m each (B, hidden, h, w), None for zeros.

        Returns:
            h, c, m: the new states; delta_c, delta_m: the increments i*g and i'*g' (PredRNN-V2's decoupling
            loss pushes them apart).
        """
        n, pad = self.hidden, self.conv_xh.padding
        # x feeds both gate sets: one convolution over it gives all seven, and h and m get their own. Unlike a
        # convolution over torch.cat([x, h]) and one over [x, m], this keeps no concatenated copies of x, h and m
        # for the backward (their own tensors are kept anyway), which is a tenth of a training step's memory.
        # A rollout sets `rollout_weights` to split_weights() once for all its steps (an attribute, not an
        # argument: module hooks, such as FLOP counting's, take every tensor argument for an activation).
        wx, bx, wh, wm = self.rollout_weights if self.rollout_weights is not None else self.split_weights()
        xh, xm = F.conv2d(x, wx, bx, padding=pad).split([4 * n, 3 * n], dim=1)  # (B, 4n, ..), (B, 3n, ..)
        if state is not None:
            h, c = state
            xh = xh + F.conv2d(h, wh, padding=pad)  # (B, 4n, h, w)
        if m is not None:
            xm = xm + F.conv2d(m, wm, padding=pad)  # (B, 3n, h, w)
        # Under autocast the convolutions run in bf16/fp16; the gates and states stay in x's dtype (fp32).
        xh, xm = xh.to(x.dtype), xm.to(x.dtype)
        if self.norm_xh is not None:
            xh, xm = self.norm_xh(xh), self.norm_xm(xm)

        pre_if, pre_g, pre_o = xh.split([2 * n, n, n], dim=1)  # split, not slices: a cheaper backward
        i, f = torch.sigmoid(pre_if).chunk(2, dim=1)
        delta_c = i * tanh(pre_g)
        c_new = delta_c if state is None else torch.addcmul(delta_c, f, c)

        pre_if_m, pre_g_m = xm.split([2 * n, n], dim=1)
        i_m, f_m = torch.sigmoid(pre_if_m).chunk(2, dim=1)
        delta_m = i_m * tanh(pre_g_m)
        m_new = delta_m if m is None else torch.addcmul(delta_m, f_m, m)

        mem = torch.cat([c_new, m_new], dim=1)  # (B, 2n, h, w)
        o_mem = self.conv_o(mem).to(x.dtype)
        if self.norm_o is not None:
            o_mem = self.norm_o(o_mem)
        o = torch.sigmoid(pre_o + o_mem)
        h_new = o * tanh(self.conv_last(mem).to(x.dtype))
        return h_new, c_new, m_new, delta_c, delta_m


class FramePredictor(nn.Module):
    """Base of every framecast model: the call signature, input checks and what a forward leaves behind.

    Attributes:
        config: the model's dataclass config; `dataclasses.asdict(config)` rebuilds it.
        aux_loss: after a training forward, a scalar the trainer adds to its loss (already weighted), or None.
        context_prediction: after a forward with `context_teacher_forcing < 1`, the model's predictions of
            context frames 1..T-1, (B, T-1, C, H, W), for the trainer to score against them; else None.
    """

    #: Whether the model rolls forward frame by frame (and so the trainer feeds it teacher forcing).
    recurrent: bool = False
    #: Whether `context_teacher_forcing < 1` (reverse scheduled sampling on the context) is understood.
    supports_reverse_sampling: bool = False
    #: Whether FLOPs are best counted on the meta device (no memory, no compute). A family whose forward is
    #: mostly warps and resizes sets False: on meta those run as Python decompositions, ten times slower than the
    #: real kernels on a small CPU input.
    count_flops_on_meta: bool = True

    def for_counting(self) -> FramePredictor:
        """The model as FLOPs are counted on a real input: the worst case of any input-dependent choice."""
        return self

    @property
    def residual(self) -> bool:
        """Whether the model predicts the change from the last frame it saw (an untrained one is copy-last)."""
        return bool(getattr(self.config, "residual", False))

    @property
    def linear(self) -> bool:
        """Whether the head's output is the frame itself (`head="linear"`), not a sigmoid's logit."""
        return getattr(self.config, "head", "sigmoid") == "linear"

    @property
    def warp(self) -> bool:
        """Whether the residual includes the last frame moved by a predicted flow."""
        return bool(getattr(self.config, "warp", False))

    @property
    def moves_pixels(self) -> bool:
        """Whether forwards leave the flow they moved pixels by in `last_flow` (for --show-flow)."""
        return self.warp

    def frame_inputs(self) -> dict[str, list[tuple[str, int]]]:
        """Weights that read frames among other input channels, by name, with that input's layout as
        (("frames" or "other"), count) segments in the grey model: how grey weights are made colour
        (models/colour.py). None here: every frame-reading layer reads the frame's own pixels first."""
        return {}

    @property
    def uses_reverse_sampling(self) -> bool:
        """Whether the trainer should anneal `context_teacher_forcing` up to 1 (PredRNN-V2 asks for it in its
        config); the trainer asks this, never which family a model is."""
        return bool(getattr(self.config, "reverse_sampling", False)) and self.supports_reverse_sampling

    def extra_loss(self, context: torch.Tensor, loss_fn: Any) -> torch.Tensor | None:
        """What the last training forward adds to the loss: the model's predictions of context frames scored
        against them (the reference trains on every predicted frame), plus its own auxiliary loss; None if nothing."""
        total = None
        if self.context_prediction is not None:
            total = loss_fn(self.context_prediction.float(), context[:, 1:])
        if self.aux_loss is not None:
            total = self.aux_loss.float() if total is None else total + self.aux_loss.float()
        return total

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.aux_loss: torch.Tensor | None = None
        self.context_prediction: torch.Tensor | None = None
        #: after a forward of a model that moves pixels: the flow of each predicted frame, (B, horizon, 2, H, W) in
        #: pixels, from the last context frame (a warp term), or from the frame before it (dmvfn); else None
        self.last_flow: torch.Tensor | None = None
        self._flows: list[torch.Tensor] | None = None
        #: a check of itself on the context, applied to every prediction outside training (models/self_check.py)
        self.self_check: Any = None
        #: after a self-checked call: how far each sequence's predicted change was trusted, (B,) in [0, 1]
        self.last_trust: torch.Tensor | None = None
        #: mirrored views of the input whose predictions are averaged outside training (models/views.py); 1: off
        self.views = 1

    def __call__(self, context: torch.Tensor, horizon: int, **kwargs: Any) -> torch.Tensor:
        """The prediction: outside training averaged over the model's views of the input, each self-checked."""
        if self.views > 1 and not self.training:
            from framecast.models.views import averaged

            return averaged(self, context, horizon, kwargs)
        return self.checked_call(context, horizon, **kwargs)

    def checked_call(self, context: torch.Tensor, horizon: int, **kwargs: Any) -> torch.Tensor:
        """The forward (through torch's hooks), then the self-check where one is set and the model is not training."""
        prediction = super().__call__(context, horizon, **kwargs)
        if self.self_check is None or self.training:
            return prediction
        from framecast.models.self_check import checked

        return checked(self, self.self_check, context, prediction)

    def forward(
        self,
        context: torch.Tensor,
        horizon: int,
        *,
        target: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
        context_teacher_forcing: float = 1.0,
    ) -> torch.Tensor:
        """Predict `horizon` frames after `context`.

        Args:
            context: (B, T, C, H, W) frames in [0, 1].
            horizon: how many frames to predict, any positive int.
            target: (B, horizon, C, H, W) ground truth, only while training.
            teacher_forcing: probability, per sample and step, of feeding the ground-truth frame instead of
                the model's own prediction. At 0 the target has no influence at all.
            context_teacher_forcing: probability, per sample and step, of feeding context frame t (t >= 1)
                rather than the model's prediction of it: reverse scheduled sampling (PredRNN-V2). 1 is
                ordinary encoding.

        Returns:
            (B, horizon, C, H, W) predictions in [0, 1].
        """
        raise NotImplementedError

    def begin_forward(
        self,
        context: torch.Tensor,
        horizon: int,
        target: torch.Tensor | None,
        teacher_forcing: float,
        context_teacher_forcing: float,
    ) -> None:
        """What every forward does first: check its inputs, and clear what the last forward left behind."""
        self.check_inputs(context, horizon, target, teacher_forcing, context_teacher_forcing)
        self.aux_loss = None
        self.context_prediction = None
        self.last_flow = None
        self._flows = [] if self.moves_pixels else None

    def end_forward(self, keep: slice = slice(None)) -> None:
        """What every forward does last: the flows collected while predicting become `last_flow`, (B, horizon, 2,
        H, W). `keep` picks the future's among them: a rollout may also have predicted context frames (before
        them), and a block predictor frames past the horizon (after them)."""
        if self._flows:
            self.last_flow = torch.stack(self._flows[keep], 1)
        self._flows = None

    def check_inputs(
        self,
        context: torch.Tensor,
        horizon: int,
        target: torch.Tensor | None,
        teacher_forcing: float,
        context_teacher_forcing: float,
    ) -> None:
        """Raise a UsageError naming what does not match the model's config."""
        cfg = self.config
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise UsageError(f"horizon must be a positive integer, not {horizon!r}")
        if context.dim() != 5 or context.shape[1] < 1:
            raise UsageError(
                f"context must be (batch, frames, channels, height, width) with at least one frame, "
                f"got shape {tuple(context.shape)}"
            )
        frame = (cfg.channels, cfg.height, cfg.width)
        if tuple(context.shape[2:]) != frame:
            raise UsageError(
                f"{cfg.name} was built for {cfg.channels}x{cfg.height}x{cfg.width} frames (channels x height x "
                f"width), got {'x'.join(map(str, context.shape[2:]))}",
                "resize or convert the frames, or build the model with matching channels/height/width",
            )
        if target is not None and tuple(target.shape) != (context.shape[0], horizon, *frame):
            raise UsageError(
                f"target must be {(context.shape[0], horizon, *frame)} (batch, horizon, C, H, W), "
                f"got {tuple(target.shape)}"
            )
        if not 0.0 <= teacher_forcing <= 1.0 or not 0.0 <= context_teacher_forcing <= 1.0:
            raise UsageError("teacher_forcing and context_teacher_forcing are probabilities in [0, 1]")
        if teacher_forcing > 0 and target is None and horizon > 1:
            raise UsageError("teacher_forcing > 0 needs the target frames")
        if context_teacher_forcing < 1 and not self.supports_reverse_sampling:
            raise UsageError(f"{cfg.name} has no reverse scheduled sampling (context_teacher_forcing must be 1)")


class ChainedPredictor(FramePredictor):
    """A model that predicts a block of `config.block_frames` frames at once from its last `config.context_frames`
    (the ViT, SimVP, TAU). A horizon longer than one block chains blocks: the predicted block (or, while training
    with teacher forcing, the ground truth with that probability per sample and frame) joins the context, and the
    next block is predicted from the most recent frames. Subclasses implement `predict_block`, and may override
    `fit_context` (which frames a block sees) and `block_loss` (the family's own loss on a training forward)."""

    def fit_context(self, context: torch.Tensor) -> torch.Tensor:
        """The frames the first block sees: the last `context_frames` (a shorter context as it is)."""
        return context[:, -self.config.context_frames :]

    def predict_block(self, frames: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def block_loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        """The family's own loss on a training forward given the target (weighted), or None."""
        return None

    def forward(
        self,
        context: torch.Tensor,
        horizon: int,
        *,
        target: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
        context_teacher_forcing: float = 1.0,
    ) -> torch.Tensor:
        self.begin_forward(context, horizon, target, teacher_forcing, context_teacher_forcing)
        cfg = self.config
        frames = self.fit_context(context)
        f = cfg.block_frames
        blocks = -(-horizon // f)  # ceil
        # Ground truth enters only through the frames of a block that a later block reads.
        use_target = target is not None and teacher_forcing > 0 and blocks > 1
        mask = (
            bernoulli_mask(context.shape[0], (blocks - 1) * f, teacher_forcing, context.device) if use_target else None
        )
        outputs = []
        for i in range(blocks):
            block = self.predict_block(frames)  # (B, F, C, H, W)
            outputs.append(block)
            if i + 1 < blocks:
                feed = block
                if use_target:
                    truth = target[:, i * f : (i + 1) * f]
                    feed = truth if teacher_forcing >= 1 else torch.where(mask[:, i * f : (i + 1) * f], truth, block)
                frames = torch.cat([frames, feed], 1)[:, -cfg.context_frames :]
        prediction = (outputs[0] if blocks == 1 else torch.cat(outputs, 1))[:, :horizon]
        if self.linear:  # a linear head's blocks chain as they are; what is returned is a frame
            prediction = prediction.clamp(0.0, 1.0)
        self.end_forward(slice(horizon))  # blocks may reach past the horizon
        if target is not None and self.training and torch.is_grad_enabled():
            self.aux_loss = self.block_loss(prediction, target)
        return prediction


def bernoulli_mask(batch: int, steps: int, p: float, device: torch.device) -> torch.Tensor:
    """(batch, steps, 1, 1, 1) booleans, True with probability p: one draw per sample and step, made once."""
    return torch.rand(batch, steps, 1, 1, 1, device=device) < p


class RecurrentPredictor(FramePredictor):
    """A recurrent model rolled forward frame by frame in the space-to-depth domain.

    Subclasses set `self.patch` (a SpaceToDepth), `self.head` (hidden -> C p² logits) and implement
    `step(x, state) -> (top hidden, state)` with `state=None` meaning all zeros, and may override
    `begin()` / `finish()` to collect per-step extras (PredRNN-V2's decoupling loss).
    """

    recurrent = True
    supports_reverse_sampling = True

    def output(self, out: torch.Tensor, x: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
        """The next frame, in the patch domain, from the head's output.

        A residual step changes the frame it has just read (`x`). With a warp the frame moved is instead always the
        last frame of the context (`anchor`), by the whole motion since then: moving the previous prediction again
        at every step would resample it ten times over, and every bilinear resampling blurs.
        """
        if not self.residual:  # painted: no need to leave the patch domain
            return out if self.linear else torch.sigmoid(out)
        base = anchor if self.warp else x
        pixels = self.config.channels * self.patch.patch**2
        out_full = self.patch.inverse(out[:, :pixels])
        if self.warp:  # the change, then the flow: what frame_from_head reads
            out_full = torch.cat([out_full, upsample_flow(out[:, pixels:], self.patch.patch)], dim=1)
        if self.warp and self._flows is not None:
            self._flows.append(flow_of(out_full, self.config.channels))
        full = frame_from_head(out_full, self.patch.inverse(base), residual=True, warp_term=self.warp)
        return self.patch(full)

    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def begin(self) -> None:
        """Called before a rollout."""

    def finish(self) -> None:
        """Called after a rollout; sets `self.aux_loss` where the model has one."""

    def forward(
        self,
        context: torch.Tensor,
        horizon: int,
        *,
        target: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
        context_teacher_forcing: float = 1.0,
    ) -> torch.Tensor:
        self.begin_forward(context, horizon, target, teacher_forcing, context_teacher_forcing)
        batch, frames_in = context.shape[:2]
        device = context.device

        x_ctx = self.patch(context)  # (B, T, C p², h, w)
        # Ground truth is touched only when it can be fed: with teacher_forcing 0 it has no path to the output.
        use_target = target is not None and teacher_forcing > 0 and horizon > 1
        x_tgt = self.patch(target[:, : horizon - 1]) if use_target else None  # (B, horizon-1, C p², h, w)
        tgt_mask = bernoulli_mask(batch, horizon - 1, teacher_forcing, device) if use_target else None
        reverse = context_teacher_forcing < 1 and frames_in > 1
        ctx_mask = bernoulli_mask(batch, frames_in - 1, context_teacher_forcing, device) if reverse else None

        self.begin()
        state = None
        differences = bool(getattr(self.config, "differences", False))
        prev = x_ctx[:, 0]  # the first frame's change is zero
        pred = None  # the model's prediction of the frame the next step reads
        outputs: list[torch.Tensor] = []
        context_outputs: list[torch.Tensor] = []
        for t in range(frames_in + horizon - 1):
            if t < frames_in:
                x = x_ctx[:, t]
                if reverse and t > 0:
                    x = torch.where(ctx_mask[:, t - 1], x, pred)
            else:
                k = t - frames_in  # the step reads future frame k, predicted at the previous step
                if not use_target:
                    x = pred
                elif teacher_forcing >= 1:
                    x = x_tgt[:, k]
                else:
                    x = torch.where(tgt_mask[:, k], x_tgt[:, k], pred)
            # the step reads the frame, and with `differences` its change from the frame read before
            top, state = self.step(with_differences(x, prev, dim=1) if differences else x, state)
            prev = x
            # The head runs only where a prediction is used: the future, and the context under reverse sampling.
            if t >= frames_in - 1 or reverse:
                # (B, C p², h, w), fed back in x's dtype; the future is anchored at the last context frame
                anchor = x_ctx[:, frames_in - 1] if t >= frames_in - 1 else x
                pred = self.output(self.head(top).to(x_ctx.dtype), x, anchor)
                (outputs if t >= frames_in - 1 else context_outputs).append(pred)
        self.finish()
        self.end_forward(slice(-horizon, None))  # the future's flows (reverse sampling adds the context's first)
        if context_outputs:
            self.context_prediction = self.patch.inverse(torch.stack(context_outputs, 1))  # (B, T-1, C, H, W)
        frames = self.patch.inverse(torch.stack(outputs, 1))  # (B, horizon, C p², h, w) -> (B, horizon, C, H, W)
        return frames.clamp(0.0, 1.0) if self.linear else frames  # a linear head fed its output back as it is
