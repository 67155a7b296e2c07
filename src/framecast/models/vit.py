"""A ViT frame predictor: space-time patch tokens through a transformer encoder, a block of frames at once.

Each frame is cut into patches (8x8 at 64x64: an 8x8 grid of 64 tokens per frame), each patch is embedded by
one linear layer, and every token gets a learned spatial embedding (its place in the grid) plus a learned
temporal embedding (its frame). The tokens of the last `context_frames` frames are joined by `block_frames`
query frames, which start as a copy of the last frame's tokens (so "nothing moves" is the easy first guess)
with the temporal embeddings of the future frames. A pre-norm transformer encoder attends over all of them
jointly in space and time; the query tokens are then decoded back to pixels by a linear layer to
(C p²) values and a pixel shuffle, through a sigmoid.

A horizon longer than one block chains blocks: the predicted block (or, while training with teacher forcing,
the ground truth with that probability per sample and frame) joins the context, and the next block is
predicted from the last `context_frames` frames. A shorter context than `context_frames` is fine (its
temporal embeddings are those of the most recent frames); a longer one is cut to its last `context_frames`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from framecast.errors import UsageError, unknown_name
from framecast.models.layers import (
    ChainedPredictor,
    SpaceToDepth,
    check_patch,
    flow_of,
    frame_from_head,
    head_channels,
    init_head,
    input_channels,
    upsample_flow,
    with_differences,
)
from framecast.models.registry import register_model


@dataclass
class ViTConfig:
    name: str = "vit"  # the registry name the model was built under
    channels: int = 1  # colour channels of a frame (1 grey, 3 RGB)
    height: int = 64  # frame height in pixels; a multiple of patch
    width: int = 64  # frame width in pixels; a multiple of patch
    patch: int = 8  # side of a square patch: one token per patch per frame
    dim: int = 256  # token width
    depth: int = 8  # transformer blocks
    heads: int = 8  # attention heads; must divide dim
    mlp_ratio: float = 4.0  # hidden width of each block's MLP, as a multiple of dim
    context_frames: int = 10  # the most recent frames attended to (and temporal embeddings for them)
    block_frames: int = 10  # frames predicted at once; longer horizons chain blocks
    dropout: float = 0.0  # dropout in attention and MLP, while training
    attention: str = "divided"  # "divided": time then space attention in each block (far cheaper); "joint": all
    residual: bool = False  # predict the change from the last frame seen (untrained: copy-last); video default
    warp: bool = False  # with residual: the change includes the last frame moved by a predicted flow
    differences: bool = False  # also feed each frame's change from the one before (layers.with_differences)


ATTENTION = ("divided", "joint")

PRESETS = {
    "tiny": {"dim": 32, "depth": 2, "heads": 2, "mlp_ratio": 2.0, "block_frames": 5},
    "small": {"dim": 128, "depth": 3, "heads": 4, "mlp_ratio": 2.0},
    "base": {},  # the dataclass defaults
}


class Attention(nn.Module):
    """Pre-norm multi-head self-attention with a residual, over one grouping of a (B, T, N, D) token grid.

    `axis` "time": each position attends to itself in every frame; "space": each frame's tokens attend to each
    other; "joint": every token attends to every token.
    """

    def __init__(self, dim: int, heads: int, dropout: float, axis: str) -> None:
        super().__init__()
        self.heads, self.dropout, self.axis = heads, dropout, axis
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, n, d = x.shape
        h = self.heads
        qkv = self.qkv(self.norm(x)).reshape(b, t, n, 3, h, d // h)  # (B, T, N, 3, heads, dh)
        if self.axis == "time":
            q, k, v = qkv.permute(3, 0, 2, 4, 1, 5).reshape(3, b * n, h, t, -1)  # (3, B*N, heads, T, dh)
        elif self.axis == "space":
            q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).reshape(3, b * t, h, n, -1)  # (3, B*T, heads, N, dh)
        else:
            q, k, v = qkv.reshape(b, t * n, 3, h, -1).permute(2, 0, 3, 1, 4)  # (3, B, heads, T*N, dh)
        # scaled_dot_product_attention picks a fused kernel on every device (flash/memory-efficient/CPU).
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        if self.axis == "time":
            a = a.reshape(b, n, h, t, -1).permute(0, 3, 1, 2, 4)  # (B*N, heads, T, dh) -> (B, T, N, heads, dh)
        elif self.axis == "space":
            a = a.reshape(b, t, h, n, -1).transpose(2, 3)  # (B*T, heads, N, dh) -> (B, T, N, heads, dh)
        else:
            a = a.transpose(1, 2)  # (B, heads, T*N, dh) -> (B, T*N, heads, dh)
        return x + self.proj(a.reshape(b, t, n, d))


class Block(nn.Module):
    """A transformer block on a (B, T, N, D) token grid: attention (divided: time then space), then an MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float, attention: str) -> None:
        super().__init__()
        axes = ("time", "space") if attention == "divided" else ("joint",)
        self.attention = nn.ModuleList(Attention(dim, heads, dropout, axis) for axis in axes)
        hidden = int(dim * mlp_ratio)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attention in self.attention:
            x = attention(x)
        return x + self.mlp(self.norm(x))


@register_model(
    "vit",
    config_cls=ViTConfig,
    presets=PRESETS,
    summary="ViT predictor: space-time patch tokens, a transformer encoder, a block of frames at once",
)
class ViTPredictor(ChainedPredictor):
    """Transformer over space-time patch tokens that predicts `block_frames` frames per pass."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__(config)
        for field in ("channels", "height", "width", "patch", "dim", "depth", "heads", "context_frames"):
            if getattr(config, field) < 1:
                raise UsageError(f"option {field} of model 'vit' must be at least 1, not {getattr(config, field)}")
        if config.block_frames < 1:
            raise UsageError(f"option block_frames of model 'vit' must be at least 1, not {config.block_frames}")
        if config.dim % config.heads:
            raise UsageError(f"option heads ({config.heads}) must divide dim ({config.dim})")
        if config.attention not in ATTENTION:
            raise unknown_name("attention", config.attention, ATTENTION)
        if not 0.0 <= config.dropout < 1.0:
            raise UsageError(f"option dropout must be in [0, 1), not {config.dropout}")
        self.grid = check_patch(config.height, config.width, config.patch)
        tokens = self.grid[0] * self.grid[1]
        patched = config.channels * config.patch**2
        self.patch = SpaceToDepth(config.patch)
        self.embed = nn.Linear(input_channels(config, patched), config.dim)
        self.space_pos = nn.Parameter(torch.zeros(1, 1, tokens, config.dim))
        self.time_pos = nn.Parameter(torch.zeros(1, config.context_frames + config.block_frames, 1, config.dim))
        self.blocks = nn.ModuleList(
            Block(config.dim, config.heads, config.mlp_ratio, config.dropout, config.attention)
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(config.dim)
        self.head = nn.Linear(config.dim, head_channels(config))
        self.apply(_init_weights)
        nn.init.trunc_normal_(self.space_pos, std=0.02)
        nn.init.trunc_normal_(self.time_pos, std=0.02)
        init_head(self.head, residual=config.residual)

    def predict_block(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) context, T <= context_frames -> the next (B, block_frames, C, H, W)."""
        cfg = self.config
        b, t = frames.shape[:2]
        gh, gw = self.grid
        f = cfg.block_frames
        x = self.patch(frames)  # (B, T, C p², gh, gw)
        if cfg.differences:
            x = with_differences(x)  # (B, T, 2 C p², gh, gw)
        x = self.embed(x.flatten(3).transpose(2, 3))  # (B, T, C p², N) -> (B, T, N, C p²) -> (B, T, N, D)
        x = x + self.space_pos
        context = x + self.time_pos[:, cfg.context_frames - t : cfg.context_frames]  # (B, T, N, D)
        query = x[:, -1:] + self.time_pos[:, cfg.context_frames :]  # (B, F, N, D): the last frame, moved in time
        x = torch.cat([context, query], 1)  # (B, T+F, N, D)
        for block in self.blocks:
            x = block(x)
        x = self.head(self.norm(x[:, t:]))  # (B, F, N, C p²): only the queries are decoded
        x = x.reshape(b, f, gh, gw, -1).permute(0, 1, 4, 2, 3)  # (B, F, gh, gw, C p²) -> (B, F, C p², gh, gw)
        # Under autocast the head ran in bf16/fp16; the frames come out in the input's dtype, like the context.
        pixels = cfg.channels * cfg.patch**2
        out = self.patch.inverse(x[:, :, :pixels]).to(frames.dtype)  # (B, F, C, H, W)
        if self.warp:  # one flow vector per token, upsampled to the pixels: (B, F, C + 2, H, W)
            flow = upsample_flow(x[:, :, pixels:].flatten(0, 1).to(frames.dtype), cfg.patch)
            out = torch.cat([out, flow.view(b, f, 2, *out.shape[-2:])], dim=2)
        if not self.residual:
            return torch.sigmoid(out)
        # every frame of the block is the last seen frame, changed (and moved, with a warp) by its own amount
        last = frames[:, -1:].expand(-1, f, -1, -1, -1).flatten(0, 1)
        if self.warp and self._flows is not None:
            flows = flow_of(out.flatten(0, 1), self.config.channels).view(b, f, 2, *out.shape[-2:])
            self._flows.extend(flows.unbind(1))
        pred = frame_from_head(out.flatten(0, 1), last, residual=True, warp_term=self.warp)
        return pred.view(b, f, *pred.shape[1:])


def _init_weights(module: nn.Module) -> None:
    # Small normal weights and zero biases, as ViTs are usually started; PyTorch's default is too wide here.
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
