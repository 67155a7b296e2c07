"""Blocks that two families share: the block predictor with its encoder, translator and decoder (SimVP and TAU),
and the bias-free gate convolutions and head of the reference's recurrent cells (PredRNN++ and MIM).

Block predictors (SimVP, TAU). A convolutional encoder maps every context frame on its own to a small latent map
(SimVP's spatial encoder: `spatial_layers` convolutions, every second one of stride 2, each with GroupNorm and
SiLU); the latents of the `context_frames` frames are laid side by side as the channels of one map, a translator
turns that map into the latents of the next `block_frames` frames at once, and the decoder (the encoder mirrored,
upsampling by a pixel shuffle, with the first encoder layer's features of a context frame added before its last
layer) paints each of them. A longer horizon chains blocks, as the ViT does.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from framecast.errors import UsageError
from framecast.models.layers import (
    ChainedPredictor,
    check_output_options,
    check_patch,
    flow_of,
    frame_from_head,
)


def frame_head_channels(config: Any) -> int:
    """Channels of a head that paints whole frames (no patches): C, plus with a warp 2 of flow (see head_channels)."""
    check_output_options(config)
    return config.channels + (2 if getattr(config, "warp", False) else 0)


def check_positive(config: Any, *fields: str) -> None:
    for field in fields:
        if getattr(config, field) < 1:
            raise UsageError(
                f"option {field} of model '{config.name}' must be at least 1, not {getattr(config, field)}"
            )


def check_odd(config: Any, *fields: str) -> None:
    for field in fields:
        if getattr(config, field) % 2 == 0:
            raise UsageError(
                f"option {field} of model '{config.name}' must be odd (3, 5, 7), not {getattr(config, field)}"
            )


# ----------------------------------------------------------------------------------- SimVP's encoder and decoder


class ConvNormAct(nn.Module):
    """A convolution (stride 2 to halve the map; or to 4x the channels and a pixel shuffle to double it), then
    GroupNorm of 2 groups and SiLU."""

    def __init__(self, cin: int, cout: int, kernel: int, *, down: bool = False, up: bool = False) -> None:
        super().__init__()
        stride = 2 if down else 1
        conv = nn.Conv2d(cin, cout * 4 if up else cout, kernel, stride, (kernel - stride + 1) // 2)
        nn.init.trunc_normal_(conv.weight, std=0.02)
        nn.init.zeros_(conv.bias)
        self.conv = nn.Sequential(conv, nn.PixelShuffle(2)) if up else conv
        self.norm = nn.GroupNorm(2, cout)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


def _resampling(layers: int) -> list[bool]:
    """Which of the encoder's layers halve the map: every second one, starting with the second."""
    return [i % 2 == 1 for i in range(layers)]


class SpatialEncoder(nn.Module):
    """Frames (N, C, H, W) -> latents (N, S, H/2^d, W/2^d) and the first layer's features (N, S, H, W), d =
    layers // 2."""

    def __init__(self, channels: int, width: int, layers: int, kernel: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            ConvNormAct(channels if i == 0 else width, width, kernel, down=down)
            for i, down in enumerate(_resampling(layers))
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = self.layers[0](x)
        x = first
        for layer in self.layers[1:]:
            x = layer(x)
        return x, first


class SpatialDecoder(nn.Module):
    """The encoder mirrored: latents (N, S, h, w) and the encoder's first features (N, S, H, W) -> features
    (N, S, H, W) for a head. The first features join before the last layer (a skip across the whole network)."""

    def __init__(self, width: int, layers: int, kernel: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ConvNormAct(width, width, kernel, up=up) for up in reversed(_resampling(layers)))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = layer(x)
        return self.layers[-1](x + skip)


# ------------------------------------------------------------------------------------ the translators' blocks

#: The large kernel of the translators' attention (gSTA, TAU), 21x21, made of a depth-wise 5x5 convolution and a
#: depth-wise 7x7 one dilated by 3 (together they see 5 + 3 * 6 = 23 pixels across): the published decomposition.
LARGE_KERNEL = 21
DILATION = 3


class LargeKernel(nn.Module):
    """The decomposed large-kernel depth-wise convolution, (B, d, h, w) -> (B, d, h, w)."""

    def __init__(self, dim: int, kernel: int = LARGE_KERNEL, dilation: int = DILATION) -> None:
        super().__init__()
        local = 2 * dilation - 1
        wide = kernel // dilation + ((kernel // dilation) % 2 - 1)  # odd
        self.local = nn.Conv2d(dim, dim, local, padding=local // 2, groups=dim)
        self.wide = nn.Conv2d(dim, dim, wide, padding=dilation * (wide - 1) // 2, groups=dim, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wide(self.local(x))


class ConvMlp(nn.Module):
    """The blocks' feed-forward part: 1x1 up to `hidden`, a depth-wise 3x3, GELU, 1x1 back."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.up = nn.Conv2d(dim, hidden, 1)
        self.mix = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.down = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.mix(self.up(x))))


class GatedBlock(nn.Module):
    """A MetaFormer-style block of the translators, (B, dim, h, w) -> (B, out, h, w). The attention is
    a = proj_out(gate(GELU(proj_in(BN(x))))) + BN(x), `gate` its core (gSTA's or TAU's); then x = x + s1 a and
    x = x + s2 mlp(BN(x)), with s1 and s2 per-channel layer scales starting at 0.01; then a 1x1 convolution to
    `out` channels when out differs from dim."""

    def __init__(self, dim: int, out: int, gate: nn.Module, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.act = nn.GELU()
        self.gate = gate
        self.proj_out = nn.Conv2d(dim, dim, 1)
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio))
        self.scale1 = nn.Parameter(torch.full((dim,), 0.01))
        self.scale2 = nn.Parameter(torch.full((dim,), 0.01))
        self.apply(_init_translator)
        self.reduce = nn.Conv2d(dim, out, 1) if out != dim else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        a = self.proj_out(self.gate(self.act(self.proj_in(y)))) + y
        x = x + self.scale1.view(1, -1, 1, 1) * a
        x = x + self.scale2.view(1, -1, 1, 1) * self.mlp(self.norm2(x))
        return x if self.reduce is None else self.reduce(x)


def _init_translator(m: nn.Module) -> None:
    # The published start of these blocks: convolutions He-normal over their fan-out, linear layers narrow.
    if isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class GatedTranslator(nn.Module):
    """`depth` gated blocks from `cin` to `cout` channels through `hidden`: the first block works at cin and
    reduces to hidden, the last works at hidden and widens to cout. `make_gate(dim)` builds each block's gate."""

    def __init__(self, cin: int, hidden: int, cout: int, depth: int, make_gate, mlp_ratio: float) -> None:
        super().__init__()
        dims = [cin] + [hidden] * (depth - 1)
        outs = [hidden] * (depth - 1) + [cout]
        self.blocks = nn.Sequential(
            *(GatedBlock(d, o, make_gate(d), mlp_ratio) for d, o in zip(dims, outs, strict=True))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


# ------------------------------------------------------------------------------------------ the block predictor


class BlockPredictor(ChainedPredictor):
    """Encoder, translator and decoder, `block_frames` frames at a time (SimVP, TAU).

    A subclass builds `self.translator`, a module from (B, context_frames * S, h, w) to (B, block_frames * S, h, w),
    S = `spatial_width`, and may override `block_loss`. The config needs context_frames, block_frames,
    spatial_width, spatial_layers, encoder_kernel, decoder_kernel, residual and warp.
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        check_positive(config, "channels", "height", "width", "context_frames", "block_frames")
        check_positive(config, "spatial_width", "spatial_layers", "encoder_kernel", "decoder_kernel")
        check_odd(config, "encoder_kernel", "decoder_kernel")
        if config.spatial_width % 2:
            raise UsageError(f"option spatial_width of model '{config.name}' must be even (GroupNorm of 2 groups)")
        check_patch(config.height, config.width, 2 ** (config.spatial_layers // 2), option="spatial_layers")
        width = config.spatial_width
        self.encoder = SpatialEncoder(config.channels, width, config.spatial_layers, config.encoder_kernel)
        self.decoder = SpatialDecoder(width, config.spatial_layers, config.decoder_kernel)
        self.head = nn.Conv2d(width, frame_head_channels(config), 1)
        # Frame j of a block gets the first encoder features of context frame T - F + j (the reference decodes frame
        # j with context frame j's, F = T); with more block frames than context ones the first is repeated.
        t, f = config.context_frames, config.block_frames
        self.skip_from = [max(0, t - f + j) for j in range(f)]

    def fit_context(self, context: torch.Tensor) -> torch.Tensor:
        """The last `context_frames` frames. The translator's input is a fixed number of frames, so a shorter context
        is padded at the front by repeating its first frame (as if the scene had stood still before it)."""
        t = self.config.context_frames
        if context.shape[1] >= t:
            return context[:, -t:]
        first = context[:, :1].expand(-1, t - context.shape[1], -1, -1, -1)
        return torch.cat([first, context], 1)

    def predict_block(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, context_frames, C, H, W) -> the next (B, block_frames, C, H, W)."""
        b, t, c, h, w = frames.shape
        f, s = self.config.block_frames, self.config.spatial_width
        latent, skip = self.encoder(frames.flatten(0, 1))  # (B*T, S, h', w'), (B*T, S, H, W)
        z = self.translator(latent.reshape(b, t * s, *latent.shape[-2:]))  # the frames' latents side by side
        z = z.reshape(b * f, s, *latent.shape[-2:])  # (B*F, S, h', w')
        if self.skip_from != list(range(t)):
            skip = skip.reshape(b, t, *skip.shape[1:])[:, self.skip_from].flatten(0, 1)
        # Under autocast the network ran in bf16/fp16; the frames come out in the input's dtype.
        out = self.head(self.decoder(z, skip)).to(frames.dtype)  # (B*F, C [+ 2], H, W)
        if not self.residual:  # a linear head's frames are kept in [0, 1] once the blocks are chained
            return (out if self.linear else torch.sigmoid(out)).view(b, f, c, h, w)
        if self.warp and self._flows is not None:
            self._flows.extend(flow_of(out, c).view(b, f, 2, h, w).unbind(1))
        last = frames[:, -1:].expand(-1, f, -1, -1, -1).flatten(0, 1)  # every frame changes the last one seen
        return frame_from_head(out, last, residual=True, warp_term=self.warp).view(b, f, c, h, w)


# ------------------------------------------------------------------------- the reference's recurrent cells' parts


class GateConv(nn.Module):
    """One source's contribution to a cell's gates: a convolution without bias to `gates` x `hidden` channels (the
    reference's cells have none: their forget gates get a constant bias instead), and with layer norm a GroupNorm
    per gate over its channels and positions. Returns the pre-activations in the input's dtype."""

    def __init__(self, cin: int, hidden: int, gates: int, kernel: int, *, layer_norm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, gates * hidden, kernel, padding=kernel // 2, bias=False)
        self.norm = nn.GroupNorm(gates, gates * hidden) if layer_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).to(x.dtype)  # under autocast the convolution ran in bf16/fp16
        return y if self.norm is None else self.norm(y)


def add(*terms: torch.Tensor | None) -> torch.Tensor | int:
    """The sum of the terms that are not None (a state that is still all zeros contributes None); 0 if none."""
    total: torch.Tensor | int = 0
    for term in terms:
        if term is not None:
            total = term if isinstance(total, int) else total + term
    return total


class FixedBiasHead(nn.Module):
    """A 1x1 convolution whose offset is not learned (the reference's heads have no bias): `bias` is a constant
    buffer that `init_head` sets (HEAD_BIAS, a dark frame's logit, for a painting head; 0 for a residual one)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.weight = conv.weight
        self.register_buffer("bias", torch.zeros(cout), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias)
