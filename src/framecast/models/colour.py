"""Grey weights for a colour model: the start `framecast train --init GREY --channels 3` makes.

A colour model of a family differs from its grey one only where frames go in and come out: the layers that read
a frame's patch pixels (C p² of them, colour-major, as `Patch` lays them out) and the head that writes a change
per pixel (then, with a warp, the flow). Everything between is the same shape. So grey weights start a colour
model well, rather than from nothing:

- a layer that reads a frame reads each colour channel with the grey weights times that channel's BT.601 luma
  weight, so on any frame it sees the frame's luma, which is what the grey model saw (the weights sum to 1);
- the head writes the grey change into every channel, and the flow as it was.

The colour model then predicts, from any colour clip, what the grey model predicts from its grey version: the
same motion moving the colour frame, the same change in each channel (exactly, before the clamp to [0, 1]).
Training on colour scenes goes on from there; it learns colour where grey already knows motion, in a fraction of
the time a colour model needs from scratch (results page).

A layer whose input holds frames among other channels (dmvfn's blocks read two frames, their warped versions, a
mask, frame differences, older frames and flows) is mapped by the model's own account of that input
(`frame_inputs`): each frame's channel becomes three by the luma weights, every other channel stays as it was.
Warps, differences and centring are linear in the frame, so such a model too reads the luma exactly and moves
each colour channel by the grey model's flow. Otherwise only a frame's own pixels are mapped: a model that also
reads other per-pixel channels (`differences`) with no such account, or whose shapes differ in another way, is
refused, rather than started from weights that mean something else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from framecast.clips import LUMA
from framecast.errors import UsageError

if TYPE_CHECKING:
    from framecast.models.layers import FramePredictor


def grey_to_colour(grey: dict[str, torch.Tensor], model: FramePredictor) -> dict[str, Any]:
    """The colour `model`'s state dict from a grey model's (`grey`) of the same family and options. Raises
    UsageError where the shapes are not the frame's alone."""
    colour, config, inputs = model.state_dict(), model.config, model.frame_inputs()
    if getattr(config, "differences", False) and not inputs:
        raise _refused("it reads frame differences beside the frames")
    pixels = int(getattr(config, "patch", 1)) ** 2  # a grey frame's share of a layer: one channel's p² pixels
    out: dict[str, torch.Tensor] = {}
    for name, target in colour.items():
        source = grey.get(name)
        if source is None:
            raise _refused(f"the grey weights have no '{name}'")
        if source.shape == target.shape:
            out[name] = source.clone()
        elif name in inputs:
            out[name] = _spread(name, source, target, inputs[name])
        else:
            out[name] = _inflate(name, source, target, pixels)
    return out


def _spread(
    name: str, source: torch.Tensor, target: torch.Tensor, segments: list[tuple[str, int]], pixels: int = 1
) -> torch.Tensor:
    """A weight reading (dim 1) frames among other channels, laid out as `segments` in the grey model: ("frames",
    n) for n grey frames of `pixels` channels each, ("other", n) for n channels that are no frame's; each frame
    reads its three colour channels by their luma weights."""
    blocks, at = [], 0
    for kind, n in segments:
        width = n * pixels if kind == "frames" else n
        part = source.narrow(1, at, width)
        at += width
        if kind == "frames":
            frames = (part.narrow(1, i * pixels, pixels) for i in range(n))
            blocks += [frame * float(luma) for frame in frames for luma in LUMA]
        else:
            blocks.append(part)
    grown = torch.cat(blocks, dim=1) if blocks else source
    if at != source.shape[1] or grown.shape != target.shape:
        raise _refused(f"'{name}' is {tuple(source.shape)} in grey and {tuple(target.shape)} in colour")
    return grown.to(target.dtype)


def _inflate(name: str, source: torch.Tensor, target: torch.Tensor, pixels: int) -> torch.Tensor:
    """One tensor: a frame-reading weight (its input dimension, 1, grew by two channels' pixels: the frame first,
    then what is no frame's) or a head's weight or bias (its output dimension, 0, did)."""
    grown = [d for d in range(source.dim()) if source.shape[d] != target.shape[d]]
    if len(grown) != 1 or grown[0] > 1 or target.shape[grown[0]] - source.shape[grown[0]] != 2 * pixels:
        raise _refused(f"'{name}' is {tuple(source.shape)} in grey and {tuple(target.shape)} in colour")
    if grown[0] == 1:  # reads a frame: each channel by its luma weight
        return _spread(name, source, target, [("frames", 1), ("other", source.shape[1] - pixels)], pixels)
    frame, rest = source.narrow(0, 0, pixels), source.narrow(0, pixels, source.shape[0] - pixels)
    return torch.cat([frame, frame, frame, rest]).to(target.dtype)  # writes a frame: the same change into each


def _refused(why: str) -> UsageError:
    return UsageError(
        f"cannot start a colour model from these grey weights: {why}",
        "start the colour model from colour weights, or without --init",
    )
