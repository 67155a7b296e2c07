"""PredRNN (Wang et al., 2017, "PredRNN: Recurrent Neural Networks for Predictive Learning using
Spatiotemporal LSTMs") and its V2 training options (Wang et al., 2022, "PredRNN: A Recurrent Neural Network
for Spatiotemporal Predictive Learning").

A stack of spatiotemporal LSTM cells on space-to-depth patches. Besides each layer's temporal state (h, c), a
spatiotemporal memory m climbs the stack at every step and zig-zags from the top layer back to the bottom one
at the next step. Same patching and 1x1 sigmoid head as ConvLSTM. `base` is the published Moving MNIST
configuration (4 layers x 128, 5x5 kernels, patch 4): 23,842,320 parameters (the paper's 23.8 M; the
published cell has no conv biases and adds the forget bias as a constant, here the gate convolutions carry
learnable biases initialised to it).

Two registry names share the class:

- `predrnn`: the original model, trained like any other.
- `predrnn-v2`: the same stack with PredRNN-V2's two training devices switched on in its config:

  * memory decoupling (`decouple_beta > 0`): a shared 1x1 `adapter` maps each cell's increments of c and m
    (i*g and i'*g'); their per-channel cosine similarity over positions, absolute and averaged over layers,
    steps and channels, is a loss that keeps the two memories apart. After every training-mode forward the
    model holds `decouple_beta * that` in `model.aux_loss`, a scalar the trainer must add to its loss
    (otherwise the adapter gets no gradient, and DDP would complain about an unused parameter); in eval mode
    or with gradients off it is None.
  * reverse scheduled sampling (`reverse_sampling = True` tells the trainer to use it): call the model with
    `context_teacher_forcing=p` (p rising from about 0.5 to 1 over training) and at each context step t >= 1
    the model reads the true frame with probability p, else its own prediction of it. Those predictions are
    left in `model.context_prediction`, (B, T-1, C, H, W), to be scored against `context[:, 1:]` and added
    to the loss, as the reference trains on every predicted frame. `predrnn` accepts the argument too.

A trainer step, then:

    pred = model(ctx, horizon, target=tgt, teacher_forcing=eta, context_teacher_forcing=r_eta)
    loss = mse(pred, tgt)
    core = model.module if is_ddp else model
    if core.context_prediction is not None:
        loss = loss + mse(core.context_prediction, ctx[:, 1:])
    if core.aux_loss is not None:
        loss = loss + core.aux_loss
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from framecast.errors import UsageError
from framecast.models.convlstm import check_recurrent_config
from framecast.models.layers import (
    RecurrentPredictor,
    SpaceToDepth,
    SpatioTemporalLSTMCell,
    head_channels,
    init_head,
    input_channels,
)
from framecast.models.registry import register_model


@dataclass
class PredRNNConfig:
    name: str = "predrnn"  # the registry name the model was built under
    channels: int = 1  # colour channels of a frame (1 grey, 3 RGB)
    height: int = 64  # frame height in pixels; a multiple of patch
    width: int = 64  # frame width in pixels; a multiple of patch
    patch: int = 4  # space-to-depth factor: the cells see (channels*patch², height/patch, width/patch) maps
    layers: int = 4  # stacked spatiotemporal LSTM cells
    hidden: int = 128  # channels of h, c and m in every layer (m passes between layers, so one width for all)
    kernel: int = 5  # side of the (odd) kernels
    layer_norm: bool = False  # normalise gate pre-activations (GroupNorm per gate, any frame size)
    forget_bias: float = 1.0  # initial bias of both forget gates
    decouple_beta: float = 0.0  # PredRNN-V2 memory decoupling: weight of the loss left in `aux_loss` (0 = off)
    reverse_sampling: bool = False  # PredRNN-V2: tells the trainer to anneal context_teacher_forcing up to 1
    head: str = "sigmoid"  # "sigmoid" paints the frame; "linear": the head's output is the frame (the reference's)
    residual: bool = False  # predict the change from the last frame seen (untrained: copy-last); video default
    warp: bool = False  # with residual: the change includes the last frame moved by a predicted flow
    differences: bool = False  # also feed each frame's change from the one before (layers.with_differences)


PRESETS = {
    "tiny": {"layers": 2, "hidden": 16, "kernel": 3},
    "small": {"layers": 3, "hidden": 32, "kernel": 3},
    "base": {},  # the dataclass defaults: the published configuration
}

V2 = {"decouple_beta": 0.1, "reverse_sampling": True}  # the reference's Moving MNIST settings
V2_PRESETS = {preset: {**values, **V2} for preset, values in PRESETS.items()}


@register_model(
    "predrnn-v2",
    config_cls=PredRNNConfig,
    presets=V2_PRESETS,
    summary="PredRNN-V2: PredRNN with memory decoupling (aux_loss) and reverse scheduled sampling",
)
@register_model(
    "predrnn",
    config_cls=PredRNNConfig,
    presets=PRESETS,
    summary="PredRNN (Wang et al. 2017): spatiotemporal LSTM cells with a zig-zag memory",
)
class PredRNN(RecurrentPredictor):
    """Stacked spatiotemporal LSTM cells on space-to-depth patches with a 1x1 convolutional head."""

    def __init__(self, config: PredRNNConfig) -> None:
        super().__init__(config)
        check_recurrent_config(config)
        if config.decouple_beta < 0:
            raise UsageError(f"option decouple_beta must be 0 or more, not {config.decouple_beta}")
        patched = config.channels * config.patch**2
        self.patch = SpaceToDepth(config.patch)
        self.cells = nn.ModuleList(
            SpatioTemporalLSTMCell(
                input_channels(config, patched) if i == 0 else config.hidden,
                config.hidden,
                kernel=config.kernel,
                layer_norm=config.layer_norm,
                forget_bias=config.forget_bias,
            )
            for i in range(config.layers)
        )
        self.head = nn.Conv2d(config.hidden, head_channels(config), 1)
        init_head(self.head, residual=config.residual, linear=config.head == "linear")
        # Only a model that computes the decoupling loss has the adapter, so no parameter sits outside the loss.
        self.adapter = nn.Conv2d(config.hidden, config.hidden, 1, bias=False) if config.decouple_beta > 0 else None
        self._deltas: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def begin(self) -> None:
        want = self.adapter is not None and self.training and torch.is_grad_enabled()
        self._deltas = [] if want else None
        for cell in self.cells:  # once per rollout, not once per step
            cell.rollout_weights = cell.split_weights()

    def step(self, x: torch.Tensor, state):
        """One time step up the stack; `state` is ([(h, c) per layer], m) or None at the start."""
        layer_states, m = (None, None) if state is None else state
        new_states = []
        for i, cell in enumerate(self.cells):
            h, c, m, delta_c, delta_m = cell(x, None if layer_states is None else layer_states[i], m)
            new_states.append((h, c))
            if self._deltas is not None:
                self._deltas.append((delta_c, delta_m))
            x = h
        return x, (new_states, m)  # m leaves the top layer for the bottom one at the next step: the zig-zag

    def finish(self) -> None:
        for cell in self.cells:
            cell.rollout_weights = None
        if not self._deltas:
            self._deltas = None
            return
        # One batched adapter call over every layer and step instead of two small convolutions per cell.
        dc = torch.cat([d[0] for d in self._deltas])  # (S*B, n, h, w), S = layers * steps
        dm = torch.cat([d[1] for d in self._deltas])
        self._deltas = None
        both = self.adapter(torch.cat([dc, dm])).flatten(2)  # (2*S*B, n, h*w)
        a, b = both.chunk(2)
        # Cosine similarity of each channel's two increment maps; the loss wants them orthogonal.
        cos = F.cosine_similarity(a.float(), b.float(), dim=2)  # (S*B, n)
        self.aux_loss = self.config.decouple_beta * cos.abs().mean()
