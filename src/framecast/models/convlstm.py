"""ConvLSTM (Shi et al., 2015, "Convolutional LSTM Network: A Machine Learning Approach for Precipitation
Nowcasting"): a stack of convolutional LSTM cells on space-to-depth patches, read out by a 1x1 convolution.

Frames are folded into patches (64x64x1 -> 16x16x16 at patch 4), every cell computes its four gates with one
fused convolution over [input, hidden], the top layer's hidden state goes through a 1x1 convolution and a
sigmoid to give the next frame's patches, and during prediction that output is fed back as the next input.
The `base` preset is the published Moving MNIST stack (4 layers x 128, 5x5 kernels): 11,677,712 parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from framecast.errors import UsageError
from framecast.models.layers import (
    ConvLSTMCell,
    RecurrentPredictor,
    SpaceToDepth,
    check_patch,
    head_channels,
    init_head,
    input_channels,
)
from framecast.models.registry import register_model


@dataclass
class ConvLSTMConfig:
    name: str = "convlstm"  # the registry name the model was built under
    channels: int = 1  # colour channels of a frame (1 grey, 3 RGB)
    height: int = 64  # frame height in pixels; a multiple of patch
    width: int = 64  # frame width in pixels; a multiple of patch
    patch: int = 4  # space-to-depth factor: the cells see (channels*patch², height/patch, width/patch) maps
    layers: int = 4  # stacked cells
    hidden: int = 128  # channels of each cell's hidden and cell state
    kernel: int = 5  # side of the (odd) gate kernels
    peephole: bool = False  # add the paper's peephole terms (per channel and position)
    layer_norm: bool = False  # normalise gate pre-activations and the cell state (GroupNorm, any batch size)
    forget_bias: float = 1.0  # initial forget-gate bias
    head: str = "sigmoid"  # "sigmoid" paints the frame; "linear": the head's output is the frame (the reference's)
    residual: bool = False  # predict the change from the last frame seen (untrained: copy-last); video default
    warp: bool = False  # with residual: the change includes the last frame moved by a predicted flow
    differences: bool = False  # also feed each frame's change from the one before (layers.with_differences)


PRESETS = {
    "tiny": {"layers": 2, "hidden": 16, "kernel": 3},
    "small": {"layers": 3, "hidden": 32, "kernel": 3},
    "base": {},  # the dataclass defaults: the published configuration
}


def check_recurrent_config(cfg) -> tuple[int, int]:
    """Shared checks of the recurrent families' configs; returns the patch grid (h, w)."""
    for field in ("channels", "height", "width", "patch", "layers", "hidden", "kernel"):
        if getattr(cfg, field) < 1:
            raise UsageError(f"option {field} of model '{cfg.name}' must be at least 1, not {getattr(cfg, field)}")
    if cfg.kernel % 2 == 0:
        raise UsageError(f"option kernel of model '{cfg.name}' must be odd (3, 5, 7), not {cfg.kernel}")
    return check_patch(cfg.height, cfg.width, cfg.patch)


@register_model(
    "convlstm",
    config_cls=ConvLSTMConfig,
    presets=PRESETS,
    summary="ConvLSTM (Shi et al. 2015): stacked convolutional LSTM cells on space-to-depth patches",
)
class ConvLSTM(RecurrentPredictor):
    """Stacked ConvLSTM cells on space-to-depth patches with a 1x1 convolutional head."""

    def __init__(self, config: ConvLSTMConfig) -> None:
        super().__init__(config)
        grid = check_recurrent_config(config)
        patched = config.channels * config.patch**2
        self.patch = SpaceToDepth(config.patch)
        self.cells = nn.ModuleList(
            ConvLSTMCell(
                input_channels(config, patched) if i == 0 else config.hidden,
                config.hidden,
                kernel=config.kernel,
                size=grid,
                peephole=config.peephole,
                layer_norm=config.layer_norm,
                forget_bias=config.forget_bias,
            )
            for i in range(config.layers)
        )
        self.head = nn.Conv2d(config.hidden, head_channels(config), 1)
        init_head(self.head, residual=config.residual, linear=config.head == "linear")

    def step(self, x: torch.Tensor, state: list[tuple[torch.Tensor, torch.Tensor]] | None):
        """One time step through the stack; `state` is one (h, c) per layer, or None at the start."""
        new_state = []
        for i, cell in enumerate(self.cells):
            h_c = cell(x, None if state is None else state[i])
            new_state.append(h_c)
            x = h_c[0]
        return x, new_state
