"""TAU (Tan et al., 2023, "Temporal Attention Unit: Towards Efficient Spatiotemporal Predictive Learning", CVPR):
SimVP's encoder and decoder around a translator of temporal attention units, trained with a differential
divergence regularisation.

The translator is SimVP's gSTA translator with another gate in each block: the attention is split into a
*statical* part, the large kernel within the frames' stacked maps (21x21 as a depth-wise 5x5 and a 7x7 dilated by
3, then a 1x1 convolution), and a *dynamical* part, a squeeze-and-excitation over the channels (the stacked
frames' features: global average, a linear layer down to `dim // max(dim // 16, 4)` channels, ReLU, a linear
layer back, sigmoid); the block's input is multiplied by both. See `simvp` for the rest and
`blocks.BlockPredictor` for padding and chaining.

Differential divergence regularisation. After a training forward given the target (the trainer passes it), the
model leaves in `aux_loss` `ddr_weight` (the reference's alpha, 0.1) times the KL divergence between the softmaxed
(temperature 0.1, over each frame's pixels) differences of consecutive predicted frames and those of the target,
averaged over every element, as the reference: it asks the prediction to change where and as much as the truth
does, which plain MSE does not. Like the reference it needs at least three predicted frames; in eval mode, with
gradients off or without the target it is None.

`base` is the reference's Moving MNIST configuration (hid_S 64, hid_T 512, N_S 4, N_T 8, 10 -> 10 frames):
44,656,001 parameters (grey), exactly the reference's count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from framecast.errors import UsageError
from framecast.models.blocks import BlockPredictor, GatedTranslator, LargeKernel
from framecast.models.layers import init_head
from framecast.models.registry import register_model
from framecast.models.simvp import check_translator


@dataclass
class TAUConfig:
    name: str = "tau"  # the registry name the model was built under
    channels: int = 1  # colour channels of a frame (1 grey, 3 RGB)
    height: int = 64  # frame height in pixels; a multiple of 2^(spatial_layers // 2)
    width: int = 64  # frame width in pixels; a multiple of 2^(spatial_layers // 2)
    context_frames: int = 10  # frames the translator reads (a shorter context is padded, a longer one cut)
    block_frames: int = 10  # frames predicted at once; longer horizons chain blocks
    spatial_width: int = 64  # channels of each frame's latent map (hid_S); even
    spatial_layers: int = 4  # encoder (and decoder) layers (N_S); every second one halves (doubles) the map
    encoder_kernel: int = 3  # side of the encoder's kernels (odd)
    decoder_kernel: int = 3  # side of the decoder's kernels (odd)
    translator_width: int = 512  # channels inside the translator (hid_T)
    translator_depth: int = 8  # temporal attention units (N_T), at least 2
    mlp_ratio: float = 8.0  # width of each unit's MLP, as a multiple of its channels
    ddr_weight: float = 0.1  # weight of the differential divergence regularisation in aux_loss (alpha); 0 = off
    ddr_temperature: float = 0.1  # softmax temperature of the frame differences (tau)
    head: str = "sigmoid"  # "sigmoid" paints the frame; "linear": the head's output is the frame (the reference's)
    residual: bool = False  # predict the change from the last frame seen (untrained: copy-last); video default
    warp: bool = False  # with residual: the change includes the last frame moved by a predicted flow


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


class TemporalGate(nn.Module):
    """TAU's gate: statical attention (the large kernel, a 1x1 convolution) times dynamical attention (a
    squeeze-and-excitation of the channels), times the input."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.spread = LargeKernel(dim)
        self.mix = nn.Conv2d(dim, dim, 1)
        squeezed = dim // max(dim // 16, 4)  # the reference's reduction: 16 channels from 64 up, a quarter below
        self.excite = nn.Sequential(
            nn.Linear(dim, squeezed, bias=False), nn.ReLU(), nn.Linear(squeezed, dim, bias=False), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.excite(x.mean(dim=(2, 3)))[:, :, None, None]  # (B, dim, 1, 1)
        return weights * self.mix(self.spread(x)) * x


def differential_divergence(prediction: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(dP / t) || softmax(dY / t)) of consecutive frame differences dP of the prediction and dY of the
    target (B, T, C, H, W), each softmax over a difference's pixels, averaged over batch, differences and pixels."""
    b, t = prediction.shape[:2]
    dp = (prediction[:, 1:] - prediction[:, :-1]).reshape(b, t - 1, -1).float() / temperature
    dy = (target[:, 1:] - target[:, :-1]).reshape(b, t - 1, -1).float() / temperature
    log_p, log_q = F.log_softmax(dp, dim=-1), F.log_softmax(dy, dim=-1)
    return F.kl_div(log_q, log_p, reduction="none", log_target=True).mean()  # p (log p - log q), elementwise


@register_model(
    "tau",
    config_cls=TAUConfig,
    presets=PRESETS,
    summary="TAU (Tan et al. 2023): SimVP with temporal attention units and a differential divergence loss",
)
class TAU(BlockPredictor):
    """SimVP's encoder and decoder around temporal attention units, with the differential divergence loss."""

    def __init__(self, config: TAUConfig) -> None:
        super().__init__(config)
        check_translator(config)
        if config.ddr_weight < 0 or config.ddr_temperature <= 0:
            raise UsageError(
                f"options of model '{config.name}': ddr_weight must be 0 or more and ddr_temperature positive"
            )
        cin = config.context_frames * config.spatial_width
        cout = config.block_frames * config.spatial_width
        self.translator = GatedTranslator(
            cin, config.translator_width, cout, config.translator_depth, TemporalGate, config.mlp_ratio
        )
        init_head(self.head, residual=config.residual, linear=config.head == "linear")

    def block_loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        if self.config.ddr_weight == 0 or prediction.shape[1] < 3:
            return None
        return self.config.ddr_weight * differential_divergence(prediction, target, self.config.ddr_temperature)
