"""SimVP (Gao et al., 2022, "SimVP: Simpler yet Better Video Prediction"; Tan et al., 2022, "SimVP: Towards Simple
yet Powerful Spatiotemporal Predictive Learning"): a convolutional encoder, a translator and a decoder, with no
recurrence: the next `block_frames` frames come out of one pass.

Each context frame is encoded on its own (four 3x3 convolutions, two of stride 2: a 64x64 frame becomes a 16x16
map of 64 channels), the ten frames' maps are stacked as the 640 channels of one map, the translator turns it
into the stacked maps of the ten frames to come, and the decoder paints each of them (with the features of the
first encoder layer added before its last layer), through a 1x1 head. See `blocks.BlockPredictor` for how a
shorter context is padded and a longer horizon chained.

Two translators (`translator`):

- `gsta` (SimVP v2, the default): `translator_depth` gated spatiotemporal attention blocks, MetaFormer-style:
  BatchNorm, a 1x1 convolution, GELU, a large-kernel gate (a 21x21 depth-wise kernel decomposed into 5x5 and
  7x7 dilated by 3, then a 1x1 convolution to a value and a sigmoid gate, multiplied), a 1x1 convolution and a
  shortcut; then an MLP of 1x1, depth-wise 3x3 and 1x1 convolutions (8x wider); both branches scaled per channel.
  The first block reduces 640 channels to `translator_width` (512), the last widens back to 640.
- `incepu` (SimVP v1): a U-Net of `translator_depth` Inception blocks down and as many up, each a 1x1 reduction
  to half the width and four grouped convolutions (3, 5, 7, 11; 8 groups) with GroupNorm and LeakyReLU, summed;
  the up path reads the down path's outputs as skips.

`base` is the reference's Moving MNIST configuration (hid_S 64, hid_T 512, N_S 4, N_T 8, 3x3 spatial kernels,
10 -> 10 frames): 46,769,665 parameters with gsta, 57,946,113 with incepu (grey), exactly the reference's count.
The reference's output is linear; here, as in every framecast family, a sigmoid head paints the frame (or, with
`residual`, the head changes the last frame seen, optionally moving it by a predicted flow with `warp`);
`head="linear"` gives the reference's (what `framecast import openstl` sets), kept in [0, 1] on the way out. The
reference's stochastic depth is left out (its Moving MNIST configuration asks for none).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from framecast.errors import UsageError, unknown_name
from framecast.models.blocks import BlockPredictor, GatedTranslator, LargeKernel, check_positive
from framecast.models.layers import init_head
from framecast.models.registry import register_model


@dataclass
class SimVPConfig:
    name: str = "simvp"  # the registry name the model was built under
    channels: int = 1  # colour channels of a frame (1 grey, 3 RGB)
    height: int = 64  # frame height in pixels; a multiple of 2^(spatial_layers // 2)
    width: int = 64  # frame width in pixels; a multiple of 2^(spatial_layers // 2)
    context_frames: int = 10  # frames the translator reads (a shorter context is padded, a longer one cut)
    block_frames: int = 10  # frames predicted at once; longer horizons chain blocks
    translator: str = "gsta"  # "gsta": gated spatiotemporal attention (SimVP v2); "incepu": Inception U-Net (v1)
    spatial_width: int = 64  # channels of each frame's latent map (hid_S); even
    spatial_layers: int = 4  # encoder (and decoder) layers (N_S); every second one halves (doubles) the map
    encoder_kernel: int = 3  # side of the encoder's kernels (odd)
    decoder_kernel: int = 3  # side of the decoder's kernels (odd)
    translator_width: int = 512  # channels inside the translator (hid_T)
    translator_depth: int = 8  # translator blocks (N_T; incepu: this many down and this many up), at least 2
    mlp_ratio: float = 8.0  # gsta: width of each block's MLP, as a multiple of its channels
    head: str = "sigmoid"  # "sigmoid" paints the frame; "linear": the head's output is the frame (the reference's)
    residual: bool = False  # predict the change from the last frame seen (untrained: copy-last); video default
    warp: bool = False  # with residual: the change includes the last frame moved by a predicted flow


TRANSLATORS = ("gsta", "incepu")

PRESETS = {
    "tiny": {
        "context_frames": 4,
        "block_frames": 4,
        "spatial_width": 8,
        "spatial_layers": 2,
        "translator_width": 32,
        "translator_depth": 2,
        "mlp_ratio": 2.0,
    },
    "small": {"spatial_width": 16, "translator_width": 96, "translator_depth": 4, "mlp_ratio": 4.0},
    "base": {},  # the dataclass defaults: the reference's Moving MNIST configuration
}


class SpatialGate(nn.Module):
    """gSTA's gate: the large kernel, then a 1x1 convolution to a value and a gate; sigmoid(gate) * value."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.spread = LargeKernel(dim)
        self.split = nn.Conv2d(dim, 2 * dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.split(self.spread(x)).chunk(2, dim=1)
        return torch.sigmoid(gate) * value


#: The Inception blocks' kernels and groups (SimVP v1).
INCEPTION_KERNELS = (3, 5, 7, 11)
INCEPTION_GROUPS = 8


class InceptionBlock(nn.Module):
    """A 1x1 reduction to `hidden`, then grouped convolutions of several sizes to `out`, each with GroupNorm and
    LeakyReLU(0.2), summed."""

    def __init__(self, cin: int, hidden: int, out: int) -> None:
        super().__init__()
        groups = INCEPTION_GROUPS if hidden % INCEPTION_GROUPS == 0 and out % INCEPTION_GROUPS == 0 else 1
        self.reduce = nn.Conv2d(cin, hidden, 1)
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(hidden, out, k, padding=k // 2, groups=groups),
                nn.GroupNorm(groups, out),
                nn.LeakyReLU(0.2),
            )
            for k in INCEPTION_KERNELS
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        out = self.branches[0](x)
        for branch in self.branches[1:]:
            out = out + branch(x)
        return out


class InceptionUNet(nn.Module):
    """SimVP v1's translator: `depth` Inception blocks down (cin -> hidden) and `depth` up (hidden -> cout); each up
    block but the first reads the previous one's output beside the matching down block's."""

    def __init__(self, cin: int, hidden: int, cout: int, depth: int) -> None:
        super().__init__()
        half = hidden // 2
        self.down = nn.ModuleList(InceptionBlock(cin if i == 0 else hidden, half, hidden) for i in range(depth))
        self.up = nn.ModuleList(
            InceptionBlock(hidden if i == 0 else 2 * hidden, half, cout if i == depth - 1 else hidden)
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []  # the outputs of every down block but the last, read back in reverse order
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
        x = self.up[0](x)
        for block in self.up[1:]:
            x = block(torch.cat([x, skips.pop()], dim=1))
        return x


def check_translator(config) -> None:
    check_positive(config, "translator_width")
    if config.translator_depth < 2:
        raise UsageError(
            f"option translator_depth of model '{config.name}' must be at least 2, not {config.translator_depth}"
        )
    if config.mlp_ratio <= 0:
        raise UsageError(f"option mlp_ratio of model '{config.name}' must be positive, not {config.mlp_ratio}")


@register_model(
    "simvp",
    config_cls=SimVPConfig,
    presets=PRESETS,
    summary="SimVP (Gao et al. 2022): CNN encoder, gSTA or Inception translator, decoder; a block of frames at once",
)
class SimVP(BlockPredictor):
    """Encoder, translator (gSTA or Inception U-Net) and decoder, `block_frames` frames per pass."""

    def __init__(self, config: SimVPConfig) -> None:
        super().__init__(config)
        check_translator(config)
        if config.translator not in TRANSLATORS:
            raise unknown_name("translator", config.translator, TRANSLATORS)
        cin = config.context_frames * config.spatial_width
        cout = config.block_frames * config.spatial_width
        depth, hidden = config.translator_depth, config.translator_width
        if config.translator == "incepu":
            self.translator = InceptionUNet(cin, hidden, cout, depth)
        else:
            self.translator = GatedTranslator(cin, hidden, cout, depth, SpatialGate, config.mlp_ratio)
        init_head(self.head, residual=config.residual, linear=config.head == "linear")
