"""DMVFN (Hu et al., 2023, "A Dynamic Multi-Scale Voxel Flow Network for Video Prediction", CVPR): the next
frame is the last two frames warped and blended, refined by a chain of blocks that a routing net switches on.

From the previous frame `a` and the last frame `b`, a chain of blocks (published: nine, at scales 4, 4, 4, 2, 2,
2, 1, 1, 1) refines two optical flows (one per frame, backward, in pixels) and a blend mask. Block i reads both
frames, both frames as warped by the flows so far, the mask and the flows, and adds its own correction:

    flows += gate_i * dflows_i,   mask += gate_i * dmask_i
    next   = sigmoid(mask) * warp(a, flows[:2]) + (1 - sigmoid(mask)) * warp(b, flows[2:]),  kept in [0, 1]

A block sees the frames shrunk by its scale through a strided encoder (two stride-2 3x3 convolutions with PReLU),
three refining convolutions with a skip, and a squeeze to a quarter of its width, upsampled back to half the frame;
beside it a full-resolution branch (one stride-2 and one plain convolution, 8 channels) keeps the fine detail; a
transposed convolution of both gives 4 flow channels and 1 mask channel at the frame's size. Warping is framecast's
one warping layer (`layers.warp`: bilinear, border padding).

Routing. A small net (two 3x3 convolutions over both frames, ReLU between, global average, a linear layer) scores
the blocks; the sigmoid scores are scaled so that they sum to `routing_budget` (4.5 of 9: half the blocks on
average) and clipped to [0, 1], giving each block's probability p_i of running for this input.

- While training, each block runs with probability p_i: a Bernoulli draw per sample and block whose gradient
  passes straight through to p_i (the draw is used forwards, p_i's gradient backwards), as published.
- At inference the choice is deterministic: **block i runs for a sample when p_i >= 1/2**, the outcome the
  published sampler makes more likely than not; if no block reaches 1/2, the single most probable one runs. The
  published code samples at inference too (and takes the first sample's draw for the whole batch); here the same
  input gives the same frames, whatever else is in its batch. A block none of the batch needs is skipped.
- Counted on the meta device (`framecast models`), where there are no frames to route, every block runs: the
  FLOPs shown are an upper bound.

Training loss. After a training forward given the target, `aux_loss` holds the paper's loss: the L1 distance of
Laplacian pyramids (5 levels) between the target and every block's output (block i < last as if it had run,
the last with the gates), weighted 0.8^(n-1-i), averaged over the predicted frames. The trainer adds it to the
loss given by `--loss`, which scores the final frame only: the paper adds 0.5 times a VGG perceptual term, which
is `--loss 0.5*perceptual`; without VGG weights, a small term such as `--loss 0.1*l1` leaves the paper's loss in
charge. `recurrent` is true: over a horizon the prediction is fed back as the last frame, and while training the
trainer's scheduled sampling may feed the true frame instead.

Any frame size. Frames are padded (edge pixels repeated, right and bottom) to a multiple of 4 x the largest
scale (16 for the published scales: the coarsest branch halves a frame shrunk by 4 twice, and is upsampled by 8
back to half the frame) and the prediction is cropped back, so a checkpoint runs at any size (`any_size`).
Grey or RGB: the published network is RGB (17 input channels per block: 4 frames of 3, the mask, 4 of flow).

Presets. `base` is the published configuration: widths 160, 160, 160, 80, 80, 80, 44, 44, 44; routing 6 -> 32 ->
32 convolutions and a 32 -> 9 linear layer; 3,559,930 parameters for RGB; loadable from the authors' checkpoints
(`framecast import dmvfn`). `small` is what a measured CPU probe needed to learn on real clips (widths 80/64/48,
every block runs): inputs centred on 0, two difference channels (last minus previous frame, and the difference of
the two warped frames), heads starting at zero and the mask at -3, so that the untrained model is about copy-last
(95% of the last frame, 5% of the previous). `tiny` is the same, smaller, for tests, with routing on (two of its
three blocks on average) and heads started at random, so that every parameter has a gradient from the first step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from framecast.errors import UsageError
from framecast.models.layers import FramePredictor, bernoulli_mask, warp
from framecast.models.registry import register_model


@dataclass
class DMVFNConfig:
    name: str = "dmvfn"  # the registry name the model was built under
    channels: int = 1  # colour channels of a frame (1 grey, 3 RGB)
    height: int = 64  # frame height it was built (or trained) for; with any_size, any height runs
    width: int = 64  # frame width it was built (or trained) for; with any_size, any width runs
    scales: tuple[int, ...] = (4, 4, 4, 2, 2, 2, 1, 1, 1)  # each block's scale: it sees the frames shrunk by this
    widths: tuple[int, ...] = (160, 160, 160, 80, 80, 80, 44, 44, 44)  # each block's width (at least 4)
    side_width: int = 8  # channels of each block's full-resolution branch
    routing: bool = True  # a routing net chooses the blocks per input; False: every block always runs
    routing_width: int = 32  # channels of the routing net's convolutions
    routing_budget: float = 4.5  # the routing probabilities are scaled to sum to this (blocks run on average)
    context_frames: int = 2  # frames read: the last two are warped; older ones are extra input channels
    centred: bool = False  # feed the network frames minus 0.5 (warping still moves the frames themselves)
    differences: bool = False  # add two input channels per colour: b - a, and warped b - warped a
    zero_head: bool = False  # start every block's output layer at zero (no flow, no mask change)
    mask_start: float = 0.0  # the blend mask before the first block; -3 blends 95% of the last frame
    any_size: bool = True  # accept frames of any size (padded to the network's multiple, cropped back)


PRESETS = {
    "tiny": {
        "scales": (4, 2, 1),
        "widths": (16, 12, 8),
        "routing_width": 8,
        "routing_budget": 2.0,
        "centred": True,
        "differences": True,
        "mask_start": -3.0,
    },
    "small": {
        "widths": (80, 80, 80, 64, 64, 64, 48, 48, 48),
        "routing": False,
        "centred": True,
        "differences": True,
        "zero_head": True,
        "mask_start": -3.0,
    },
    "base": {},  # the dataclass defaults: the published configuration
}


class ConvAct(nn.Module):
    """A 3x3 convolution and a PReLU with one slope per channel."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1)
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class FlowBlock(nn.Module):
    """One refinement: images (B, cin - 4, H, W) and flows (B, 4, H, W) -> flow change (B, 4, H, W), mask change
    (B, 1, H, W), the coarse branch at 1/scale of the frame and a full-resolution side branch."""

    def __init__(self, cin: int, width: int, scale: int, side: int) -> None:
        super().__init__()
        self.scale = scale
        self.down = nn.Sequential(ConvAct(cin, width // 2, 2), ConvAct(width // 2, width, 2))
        self.refine = nn.Sequential(*(ConvAct(width, width) for _ in range(3)))
        self.squeeze = ConvAct(width, width // 4)
        self.side = nn.Sequential(ConvAct(cin, side, 2), ConvAct(side, side))
        self.head = nn.ConvTranspose2d(width // 4 + side, 5, 4, 2, 1)

    def forward(self, images: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.scale
        small, small_flow = images, flow
        if s != 1:
            small = F.interpolate(images, scale_factor=1.0 / s, mode="bilinear", align_corners=False)
            small_flow = F.interpolate(flow, scale_factor=1.0 / s, mode="bilinear", align_corners=False) / s
        coarse = self.down(torch.cat([small, small_flow], 1))  # (B, width, H/4s, W/4s)
        coarse = self.squeeze(self.refine(coarse) + coarse)
        coarse = F.interpolate(coarse, scale_factor=2.0 * s, mode="bilinear", align_corners=False)  # (.., H/2, W/2)
        fine = self.side(torch.cat([images, flow], 1))  # (B, side, H/2, W/2)
        out = self.head(torch.cat([coarse, fine], 1))  # (B, 5, H, W)
        return out[:, :4], out[:, 4:5]


class Router(nn.Module):
    """Scores the blocks from the two frames: (B, 2C, H, W) -> per-block probabilities (B, n) in [0, 1]."""

    def __init__(self, cin: int, width: int, blocks: int, budget: float) -> None:
        super().__init__()
        self.budget = budget
        self.conv_in = nn.Conv2d(cin, width, 3, 1, 1)
        self.conv_out = nn.Conv2d(width, width, 3, 1, 1)
        self.score = nn.Linear(width, blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.conv_out(F.relu(self.conv_in(x))).mean(dim=(2, 3))  # (B, width)
        p = torch.sigmoid(self.score(features))
        return (p / (p.sum(1, keepdim=True) + 1e-6) * self.budget).clamp(0.0, 1.0)


def choose_blocks(p: torch.Tensor, *, sample: bool) -> torch.Tensor:
    """Gates (B, n) of 0/1 from probabilities `p`: sampled with a straight-through gradient while training, else
    the deterministic rule (p >= 1/2, else the most probable block alone)."""
    if sample:
        drawn = torch.bernoulli(p.detach())
        return drawn + p - p.detach()  # forwards the draw, backwards the gradient of p
    gates = (p >= 0.5).to(p.dtype)
    none = gates.sum(1) == 0
    best = F.one_hot(p.argmax(1), p.shape[1]).to(p.dtype)
    return torch.where(none[:, None], best, gates)


def blend(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sigmoid(mask) of `a` and the rest of `b`, kept in [0, 1]."""
    m = torch.sigmoid(mask)
    return (a * m + b * (1 - m)).clamp(0.0, 1.0)


def _gaussian(channels: int, like: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=like.device, dtype=like.dtype)
    k = torch.outer(k, k) / 256.0
    return k.expand(channels, 1, 5, 5)


def laplacian_l1(pred: torch.Tensor, target: torch.Tensor, levels: int = 5) -> torch.Tensor:
    """The paper's Laplacian-pyramid L1: the mean absolute difference of each band of the two images' pyramids
    (5x5 binomial blur, reflected edges), summed over `levels` bands (fewer for small frames). (B, C, H, W).

    The pyramid is linear, so the pyramid of the difference is the difference of the pyramids: one is built."""
    current = pred - target
    c = current.shape[1]
    kernel = _gaussian(c, current)
    total = current.new_zeros(())
    for _ in range(levels):
        h, w = current.shape[-2:]
        if min(h, w) < 4:
            break
        blurred = F.conv2d(F.pad(current, (2, 2, 2, 2), mode="reflect"), kernel, groups=c)
        down = blurred[..., ::2, ::2]
        up = down.new_zeros(*down.shape[:-2], 2 * down.shape[-2], 2 * down.shape[-1])
        up[..., ::2, ::2] = down  # zeros between the samples, then the blur (x4: a quarter of them are kept)
        up = F.conv2d(F.pad(up, (2, 2, 2, 2), mode="reflect"), 4 * kernel, groups=c)[..., :h, :w]
        total = total + (current - up).abs().mean()
        current = down
    return total


def _check_config(cfg: DMVFNConfig) -> None:
    cfg.scales = tuple(cfg.scales)
    cfg.widths = tuple(cfg.widths)
    for field in ("channels", "height", "width", "side_width", "routing_width", "context_frames"):
        if getattr(cfg, field) < 1:
            raise UsageError(f"option {field} of model '{cfg.name}' must be at least 1, not {getattr(cfg, field)}")
    if cfg.context_frames < 2:
        raise UsageError(f"option context_frames of model '{cfg.name}' must be at least 2 (two frames are warped)")
    if not cfg.scales or len(cfg.scales) != len(cfg.widths):
        raise UsageError(
            f"options scales and widths of model '{cfg.name}' must list one value per block, alike in length",
            "for example --set scales=[4,2,1] --set widths=[64,48,32]",
        )
    if any(not isinstance(s, int) or s < 1 for s in cfg.scales):
        raise UsageError(f"option scales of model '{cfg.name}' must be positive integers, not {list(cfg.scales)}")
    if any(not isinstance(w, int) or w < 4 for w in cfg.widths):
        raise UsageError(f"option widths of model '{cfg.name}' must be integers of at least 4, not {list(cfg.widths)}")
    if cfg.routing_budget <= 0:
        raise UsageError(f"option routing_budget of model '{cfg.name}' must be positive, not {cfg.routing_budget}")


@register_model(
    "dmvfn",
    config_cls=DMVFNConfig,
    presets=PRESETS,
    summary="DMVFN (Hu et al. 2023): routed multi-scale blocks refine two flows and a mask; warp and blend",
)
class DMVFN(FramePredictor):
    """Routed multi-scale voxel-flow blocks: the next frame is the last two frames warped and blended."""

    recurrent = True
    count_flops_on_meta = False  # warps and resizes: see FramePredictor

    def __init__(self, config: DMVFNConfig) -> None:
        super().__init__(config)
        _check_config(config)
        c = config.channels
        cin = sum(n * (c if kind == "frames" else 1) for kind, n in self._block_inputs())
        self.blocks = nn.ModuleList(
            FlowBlock(cin, w, s, config.side_width) for s, w in zip(config.scales, config.widths, strict=True)
        )
        n = len(config.scales)
        self.router = Router(2 * c, config.routing_width, n, config.routing_budget) if config.routing else None
        #: block i's loss weight, 0.8^(n-1-i): the last block weighs 1
        self.block_weights = [0.8 ** (n - 1 - i) for i in range(n)]
        self.multiple = 4 * max(config.scales)
        if config.zero_head:
            with torch.no_grad():
                for block in self.blocks:
                    block.head.weight.zero_()
                    block.head.bias.zero_()

    # ---------------------------------------------------------------------------------------------- checks

    def check_inputs(self, context, horizon, target, teacher_forcing, context_teacher_forcing) -> None:
        """As every model's, but any frame size passes when `any_size` (the frames are padded and cropped)."""
        cfg = self.config
        if not cfg.any_size:
            return super().check_inputs(context, horizon, target, teacher_forcing, context_teacher_forcing)
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise UsageError(f"horizon must be a positive integer, not {horizon!r}")
        if context.dim() != 5 or context.shape[1] < 1:
            raise UsageError(
                f"context must be (batch, frames, channels, height, width) with at least one frame, "
                f"got shape {tuple(context.shape)}"
            )
        if context.shape[2] != cfg.channels:
            raise UsageError(
                f"{cfg.name} was built for frames of {cfg.channels} channel(s), got {context.shape[2]}",
                "convert the frames (grey or RGB), or use a model built for them",
            )
        want = (context.shape[0], horizon, *context.shape[2:])
        if target is not None and tuple(target.shape) != want:
            raise UsageError(f"target must be {want} (batch, horizon, C, H, W), got {tuple(target.shape)}")
        if not 0.0 <= teacher_forcing <= 1.0 or context_teacher_forcing != 1.0:
            raise UsageError(
                "teacher_forcing is a probability in [0, 1]; dmvfn has no reverse scheduled sampling "
                "(context_teacher_forcing must be 1)"
            )
        if teacher_forcing > 0 and target is None and horizon > 1:
            raise UsageError("teacher_forcing > 0 needs the target frames")

    # ---------------------------------------------------------------------------------------------- one frame

    def _inputs(self, frames: torch.Tensor) -> torch.Tensor:
        return frames - 0.5 if self.config.centred else frames

    def _block_inputs(self) -> list[tuple[str, int]]:
        """A block's input, in order, as (kind, count): frames count `channels` each, the rest one. The blocks'
        width (`__init__`) and the colour mapping (`frame_inputs`) both read it, so they cannot drift apart."""
        k = self.config.context_frames
        block = [("frames", 4), ("other", 1), ("frames", 2 if self.config.differences else 0)]
        return [*block, ("frames", k - 2), ("other", 4)]  # a, b, warped a, warped b; mask; diffs; older; flows

    def frame_inputs(self) -> dict[str, list[tuple[str, int]]]:
        """What the frame-reading layers read, in order, for grey weights made colour (models/colour.py): each
        block two frames and their warped versions, the mask, the two differences, the older frames (see
        `next_frame`), then the flows (`FlowBlock.forward`); the router two frames."""
        block = self._block_inputs()
        layers = {
            f"blocks.{i}.{branch}.0.conv.weight": block for i in range(len(self.blocks)) for branch in ("down", "side")
        }
        return {**layers, "router.conv_in.weight": [("frames", 2)]}

    @property
    def moves_pixels(self) -> bool:
        """Always: each step's flow is the last frame's (from the frame before it, not from the context's end)."""
        return True

    def for_counting(self) -> DMVFN:
        """Every block runs, as on the meta device: the FLOPs shown are the upper bound, whatever the input."""
        self.router = None
        return self

    def gates(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(B, n) 0/1 gates of the blocks for frames `a`, `b`: routed (see the module notes) or all ones."""
        n = len(self.blocks)
        if self.router is None or a.is_meta:  # on the meta device (counting FLOPs) every block counts
            return a.new_ones(a.shape[0], n)
        p = self.router(self._inputs(torch.cat([a, b], 1))).to(a.dtype)
        return choose_blocks(p, sample=self.training)

    def next_frame(self, window: torch.Tensor, *, every_block: bool = False) -> tuple[torch.Tensor, list]:
        """The frame after `window` (B, K, C, H, W), K = context_frames, any H and W; with `every_block`, also each
        block's output (blocks before the last as if they ran, the last as the prediction), at the padded size."""
        h, w = window.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        if ph or pw:
            window = F.pad(window.flatten(0, 1), (0, pw, 0, ph), mode="replicate").unflatten(0, window.shape[:2])
        a, b = window[:, -2], window[:, -1]
        older = [self._inputs(window[:, k]) for k in range(window.shape[1] - 2)]
        gates = self.gates(a, b)
        batch, _, hp, wp = a.shape
        flow = a.new_zeros(batch, 4, hp, wp)
        mask = a.new_full((batch, 1, hp, wp), self.config.mask_start)
        warped_a, warped_b = a, b
        outputs = []
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            if not self.training and not a.is_meta and not bool(gates[:, i].any()):
                continue
            extra = [b - a, warped_b - warped_a] if self.config.differences else []
            images = [self._inputs(x) for x in (a, b, warped_a, warped_b)]
            d_flow, d_mask = block(torch.cat([*images, mask, *extra, *older], 1), flow)
            d_flow, d_mask = d_flow.to(a.dtype), d_mask.to(a.dtype)
            if every_block and i < last:  # the paper scores every block as if it had run
                f, m = flow + d_flow, mask + d_mask
                outputs.append(blend(warp(a, f[:, :2]), warp(b, f[:, 2:]), m))
            g = gates[:, i].view(batch, 1, 1, 1)
            flow, mask = flow + d_flow * g, mask + d_mask * g
            warped_a, warped_b = warp(a, flow[:, :2]), warp(b, flow[:, 2:])
        pred = blend(warped_a, warped_b, mask)
        if every_block:
            outputs.append(pred)
        if self._flows is not None:  # the last frame's flow, what --show-flow draws
            self._flows.append(flow[:, 2:, :h, :w].detach().float())
        return pred[..., :h, :w], outputs

    # ---------------------------------------------------------------------------------------------- rollout

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
        k = self.config.context_frames
        window = context[:, -k:]
        if window.shape[1] < k:  # a short context: its first frame stands in for the older ones
            fill = window[:, :1].expand(-1, k - window.shape[1], -1, -1, -1)
            window = torch.cat([fill, window], 1)
        scored = self.training and target is not None and torch.is_grad_enabled()
        use_target = target is not None and teacher_forcing > 0 and horizon > 1
        feed_truth = (
            bernoulli_mask(context.shape[0], horizon - 1, teacher_forcing, context.device) if use_target else None
        )
        outputs, losses = [], []
        for step in range(horizon):
            pred, blocks = self.next_frame(window, every_block=scored)
            outputs.append(pred)
            if scored:
                losses.append(self.pyramid_loss(blocks, target[:, step]))
            if step + 1 < horizon:
                feed = pred if not use_target else torch.where(feed_truth[:, step], target[:, step], pred)
                window = torch.cat([window[:, 1:], feed[:, None]], 1)
        if scored:
            self.aux_loss = torch.stack(losses).mean()
        self.end_forward()
        return torch.stack(outputs, 1)

    def pyramid_loss(self, blocks: list[torch.Tensor], truth: torch.Tensor) -> torch.Tensor:
        """The paper's loss of one predicted frame: Laplacian L1 of every block's output, weighted 0.8^(n-1-i)."""
        h, w = truth.shape[-2:]
        terms = [
            wt * laplacian_l1(out[..., :h, :w].float(), truth.float())
            for wt, out in zip(self.block_weights, blocks, strict=True)
        ]
        return torch.stack(terms).sum()
