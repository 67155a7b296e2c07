"""How much do the moving scenes teach about real clips? A quick, fixed yardstick for changes to the generator.

Trains one small one-shot CNN for a few minutes on moving scenes and scores it on real clips against copy-last
(every non-overlapping 10 -> 10 window, grey 64x64, MSE as a per-frame sum, SSIM as scikit-image computes it).
The network reads the ten context frames stacked as channels (so motion is visible to its first layer), and
predicts each future frame as the last frame warped by a flow (at half resolution, upsampled) plus a change,
both heads starting at zero: untrained, it is copy-last. It is a measuring stick, not a framecast family: run it
before and after a change to `framecast.data.scenes` and compare.

    python scripts/probe_scenes.py --minutes 4 --clips ../shared/data/videos
    python scripts/probe_scenes.py --minutes 4 --set WANDER_SHARE=0 --set SPEED_RANGE=0.08,2.5

Prints steps done and, per clip and pooled, MSE / copy-last's, SSIM - copy-last's and the first step's ratio.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import framecast.data.scenes as scenes
from framecast.models.layers import warp
from framecast.training.losses import ssim as ssim_loss

CONTEXT = HORIZON = 10


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(width, width, 3, padding=1), nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.gelu(self.a(F.gelu(x))))


class StackedFrames(nn.Module):
    """10 grey frames as channels -> per future frame a flow (half resolution) and a change."""

    def __init__(self, width: int = 128) -> None:
        super().__init__()
        self.encode = nn.Sequential(
            nn.Conv2d(CONTEXT, width // 2, 3, padding=1), nn.GELU(), nn.Conv2d(width // 2, width, 3, 2, 1)
        )
        self.body = nn.Sequential(*(Block(width) for _ in range(3)))
        self.flow = nn.Conv2d(width, 2 * HORIZON, 3, padding=1)
        self.up = nn.ConvTranspose2d(width, width // 2, 2, stride=2)
        self.change = nn.Conv2d(width // 2 + CONTEXT, HORIZON, 3, padding=1)
        for head in (self.flow, self.change):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 10, H, W) -> (B, 10, H, W)
        z = self.body(self.encode(x - 0.5))
        flow = F.interpolate(self.flow(z), scale_factor=2, mode="bilinear", align_corners=False) * 4
        change = self.change(torch.cat([F.gelu(self.up(z)), x], 1))
        last = x[:, -1:]
        frames = [warp(last, flow[:, 2 * t : 2 * t + 2]) + change[:, t : t + 1] for t in range(HORIZON)]
        return torch.cat(frames, 1).clamp(0, 1)


def train(minutes: float, ssim_weight: float, seed: int) -> tuple[StackedFrames, int]:
    torch.manual_seed(seed)
    net = StackedFrames()
    source = scenes.MovingScenesGenerator("train", frames=CONTEXT + HORIZON, seed=seed)
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    start, steps, budget = time.monotonic(), 0, minutes * 60
    while (elapsed := time.monotonic() - start) < budget:
        for group in optimiser.param_groups:  # cosine decay over the time budget
            group["lr"] = 1e-3 * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        batch = np.stack([source[steps * 16 + i] for i in range(16)])[..., 0]
        x = torch.from_numpy(batch).float() / 255
        pred, target = net(x[:, :CONTEXT]), x[:, CONTEXT:]
        loss = F.mse_loss(pred, target) + ssim_weight * ssim_loss(pred.unsqueeze(2), target.unsqueeze(2))
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()
        steps += 1
    return net.eval(), steps


def score(net: StackedFrames, clips: list[Path]) -> None:
    from skimage.metrics import structural_similarity

    from framecast.clips import read_clip

    total, windows = np.zeros(4), 0
    for clip in clips:
        frames = read_clip(clip, channels=1, size=(64, 64)).frames[..., 0]
        sums, first = np.zeros(4), np.zeros(2)
        n = len(frames) // (CONTEXT + HORIZON)
        for w in range(n):
            window = frames[w * 20 : w * 20 + 20]
            context, truth = window[:CONTEXT], window[CONTEXT:]
            with torch.no_grad():
                pred = net(torch.from_numpy(context)[None])[0].numpy()
            err, copy_err = ((pred - truth) ** 2).sum((1, 2)), ((context[-1] - truth) ** 2).sum((1, 2))
            first += [err[0], copy_err[0]]
            ssim = [structural_similarity(p, t, data_range=1) for p, t in zip(pred, truth, strict=True)]
            ssim_copy = [structural_similarity(context[-1], t, data_range=1) for t in truth]
            sums += [err.mean(), copy_err.mean(), np.mean(ssim), np.mean(ssim_copy)]
        total, windows = total + sums, windows + n
        print(
            f"{clip.name[:24]:24} {n:3d} windows  MSE/copy-last {sums[0] / sums[1]:.3f}  "
            f"SSIM-copy-last {(sums[2] - sums[3]) / n:+.4f}  first step {first[0] / first[1]:.3f}"
        )
    print(f"{'pooled':24} {windows:3d} windows  MSE/copy-last {total[0] / total[1]:.3f}  "
          f"SSIM-copy-last {(total[2] - total[3]) / windows:+.4f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--clips", type=Path, default=Path("../shared/data/videos"))
    parser.add_argument("--ssim-weight", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="NAME=VALUE: a generator constant, for a trial")
    args = parser.parse_args()
    for item in args.set:
        name, value = item.split("=", 1)
        parsed = tuple(float(v) for v in value.split(",")) if "," in value else float(value)
        setattr(scenes, name, parsed)
    torch.set_num_threads(args.threads)
    net, steps = train(args.minutes, args.ssim_weight, args.seed)
    print(f"{steps} steps in {args.minutes:g} min")
    score(net, sorted(p for p in args.clips.iterdir() if p.is_file()))


if __name__ == "__main__":
    main()
