"""VGG16's convolutional feature stack, defined in framecast so that no torchvision is needed.

It serves the perceptual loss (:mod:`framecast.training.losses`): a frozen network whose activations compare
a prediction with its target. The layer indices are torchvision's ``vgg16().features`` indices, so the keys of
torchvision's release file (``features.<i>.weight`` and ``.bias``) load as they are::

     0 conv1_1   1 relu1_1   2 conv1_2   3 relu1_2   4 pool1
     5 conv2_1   6 relu2_1   7 conv2_2   8 relu2_2   9 pool2
    10 conv3_1  11 relu3_1  12 conv3_2  13 relu3_2  14 conv3_3  15 relu3_3  16 pool3
    17..23 block 4 (relu4_3 = 22)        24..30 block 5 (relu5_3 = 29)

A network built to stop at relu3_3 holds layers 0..15 and needs only the weights of convs 0..14.

Weights come from ``vgg16-features.safetensors``, which ``framecast download vgg16`` writes into the cache from
torchvision's ``vgg16-397923af.pth``; ``FRAMECAST_VGG16`` (or a `path` argument) names another file, either such
a ``.safetensors`` file or a torchvision ``.pth`` state dict. A ``.pth`` is read with ``weights_only=True``:
a file that carries more than tensors is refused, never unpickled.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from framecast import paths
from framecast.errors import CheckpointError, DataError, UsageError, unknown_name

#: Environment variable naming a VGG16 weights file to use instead of the one in the cache.
WEIGHTS_ENV = "FRAMECAST_VGG16"

#: The file ``framecast download vgg16`` writes beside the release file it converts.
FEATURES_FILE = "vgg16-features.safetensors"

#: The layers the perceptual loss compares (the "style" layers of Johnson et al., 2016, less relu4_3): edges and
#: blobs at full resolution, textures and strokes at a half and a quarter. Deeper layers see 1/8 of a 64x64 frame,
#: too coarse for small frames, and they cost most of VGG's compute.
PERCEPTUAL_LAYERS = ("relu1_2", "relu2_2", "relu3_3")

#: torchvision's VGG16 configuration "D": the output channels of each 3x3 conv, "M" for a 2x2 max-pool.
_CONFIG: tuple[int | str, ...] = (
    *(64, 64, "M"),
    *(128, 128, "M"),
    *(256, 256, 256, "M"),
    *(512, 512, 512, "M"),
    *(512, 512, 512, "M"),
)

# ImageNet statistics that torchvision's weights were trained with, for inputs in [0, 1]
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)

_HINT = "run `framecast download vgg16` (once, about 553 MB), or set FRAMECAST_VGG16 to a VGG16 weights file"


def _layer_table() -> tuple[dict[str, int], dict[int, tuple[int, int]]]:
    """Layer names -> indices, and conv indices -> (input channels, output channels)."""
    names: dict[str, int] = {}
    convs: dict[int, tuple[int, int]] = {}
    index, block, conv, channels = 0, 1, 1, 3
    for item in _CONFIG:
        if item == "M":
            names[f"pool{block}"] = index
            index, block, conv = index + 1, block + 1, 1
            continue
        assert isinstance(item, int)
        convs[index] = (channels, item)
        names[f"conv{block}_{conv}"] = index
        names[f"relu{block}_{conv}"] = index + 1
        index, conv, channels = index + 2, conv + 1, item
    return names, convs


#: Every layer's name (conv1_1, relu1_1, ..., pool5) and its index in ``features``.
LAYERS, _CONVS = _layer_table()
_POOLS = frozenset(index for name, index in LAYERS.items() if name.startswith("pool"))


def layer_index(layer: str | int) -> int:
    """The index in ``features`` of a layer given by name (``relu2_2``) or index.

    Raises:
        UsageError: for an unknown name or an index outside VGG16's 31 feature layers.
    """
    if isinstance(layer, int):
        if not 0 <= layer < len(LAYERS):
            raise UsageError(f"VGG16 has feature layers 0 to {len(LAYERS) - 1}, not {layer}", "use relu3_3 or 15")
        return layer
    if layer not in LAYERS:
        raise unknown_name("VGG16 layer", layer, tuple(LAYERS))
    return LAYERS[layer]


def expected_shapes(last: int) -> dict[str, tuple[int, ...]]:
    """The state-dict keys and shapes a network that stops at layer `last` needs (torchvision's key layout)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for index, (c_in, c_out) in _CONVS.items():
        if index <= last:
            shapes[f"features.{index}.weight"] = (c_out, c_in, 3, 3)
            shapes[f"features.{index}.bias"] = (c_out,)
    return shapes


class VGG16Features(nn.Module):
    """VGG16's feature layers up to the deepest of `outputs`, frozen; returns the activations at `outputs`.

    Input: ``(N, C, H, W)`` in [0, 1] with C = 1 (repeated to RGB) or 3; it is normalised with ImageNet's mean and
    standard deviation inside, as torchvision's weights expect.
    """

    def __init__(self, outputs: Sequence[str | int] = PERCEPTUAL_LAYERS) -> None:
        super().__init__()
        if not outputs:
            raise UsageError("VGG16Features needs at least one output layer", "for example relu2_2")
        self.outputs = tuple(sorted({layer_index(layer) for layer in outputs}))
        last = self.outputs[-1]
        layers: list[nn.Module] = []
        channels = 3
        for index in range(last + 1):
            if index in _CONVS:
                c_in, channels = _CONVS[index]
                layers.append(nn.Conv2d(c_in, channels, kernel_size=3, padding=1))
            elif index in _POOLS:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers.append(nn.ReLU(inplace=False))  # the activations are kept as outputs: never overwrite them
        self.features = nn.Sequential(*layers)
        self.pools = sum(isinstance(m, nn.MaxPool2d) for m in layers)
        # buffers, not parameters, and not in the state dict: the weights file holds only torchvision's keys
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGG16Features:
        """Always eval: the network is a fixed measure, whatever mode a caller sets around it."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise UsageError(
                f"VGG16 features need (N, 1 or 3, H, W) images, got shape {tuple(x.shape)}",
                "the perceptual loss works on grey or RGB frames only; use another --loss for other channel counts",
            )
        smallest = 2**self.pools
        if min(x.shape[-2:]) < smallest:
            raise UsageError(
                f"VGG16 features up to layer {self.outputs[-1]} need frames of at least {smallest}x{smallest} "
                f"pixels, got {x.shape[-2]}x{x.shape[-1]}",
                "use another --loss for frames this small",
            )
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        found: list[torch.Tensor] = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.outputs:
                found.append(x)
        return found


# ------------------------------------------------------------------------------------------------ weights


def default_weights_path() -> Path:
    """FRAMECAST_VGG16 when set, else the converted file in the cache (``<cache>/downloads/vgg16/``)."""
    value = os.environ.get(WEIGHTS_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    return paths.dataset_dir("vgg16") / FEATURES_FILE


def check_weights_file(path: str | os.PathLike[str] | None = None) -> Path:
    """The weights file to use (see :func:`default_weights_path`), checked to exist; nothing is read.

    Raises:
        CheckpointError: when it does not exist, naming `framecast download vgg16`.
    """
    chosen = Path(path).expanduser() if path is not None else default_weights_path()
    if not chosen.is_file():
        source = f" (from {WEIGHTS_ENV})" if path is None and os.environ.get(WEIGHTS_ENV, "").strip() else ""
        raise CheckpointError(f"the VGG16 weights file {chosen}{source} does not exist", _HINT)
    return chosen


def read_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: a ``.safetensors`` file, or a torchvision ``.pth`` state dict.

    A ``.pth`` is read with ``torch.load(weights_only=True)``: plain tensors and containers only.

    Raises:
        DataError: a ``.pth`` that carries pickled objects beyond tensors (refused, never unpickled).
        CheckpointError: a file that cannot be read, or that holds no dict of tensors.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for damaged headers
            raise CheckpointError(f"{path} is not a readable safetensors file ({type(exc).__name__})", _HINT) from None
    import pickle

    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        # the safe unpickler names the first object it refused as a "global"; anything else is a damaged stream.
        # Its own message advises turning the safety off: that advice is deliberately not passed on.
        if "global" in str(exc).lower():
            raise DataError(
                f"{path} carries pickled Python objects besides tensors, so framecast refuses to load it",
                "framecast reads only plain tensors from .pth files; delete this file and run "
                "`framecast download vgg16` to fetch torchvision's checked release file",
            ) from None
        raise CheckpointError(f"{path} is damaged: its pickle stream cannot be read", _HINT) from None
    except Exception as exc:  # torch raises RuntimeError for a truncated zip, OSError and others
        raise CheckpointError(f"{path} is not a readable torch weights file ({type(exc).__name__})", _HINT) from None
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state dict of tensors", _HINT)
    return {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def feature_state(state: Mapping[str, torch.Tensor], last: int, *, source: Path | str) -> dict[str, torch.Tensor]:
    """The float32 tensors of convs 0..`last` picked from a state dict in torchvision's layout, checked.

    Extra keys (deeper layers, the classifier) are left out.

    Raises:
        CheckpointError: when a tensor is missing or has the wrong shape, naming them.
    """
    wanted = expected_shapes(last)
    missing = [key for key in wanted if key not in state]
    wrong = [
        f"{key} {tuple(state[key].shape)} (expected {shape})"
        for key, shape in wanted.items()
        if key in state and tuple(state[key].shape) != shape
    ]
    if missing or wrong:
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing))
        if wrong:
            problems.append("misshapen " + ", ".join(wrong))
        raise CheckpointError(f"{source} does not hold VGG16's feature layers: " + "; ".join(problems), _HINT)
    return {key: state[key].detach().to(torch.float32).contiguous() for key in wanted}


def load_vgg16_features(
    path: str | os.PathLike[str] | None = None,
    *,
    layers: Sequence[str | int] = PERCEPTUAL_LAYERS,
    device: str | torch.device = "cpu",
) -> VGG16Features:
    """A frozen :class:`VGG16Features` with its weights loaded, on `device`.

    Args:
        path: a ``.safetensors`` file (as ``framecast download vgg16`` writes) or a torchvision ``.pth``; default
            FRAMECAST_VGG16, else ``vgg16-features.safetensors`` in the cache.
        layers: the layers whose activations the network returns (names such as ``relu2_2`` or indices).
        device: where the network goes.

    Raises:
        CheckpointError: the file is missing, unreadable, or lacks a tensor or has one of the wrong shape.
        DataError: a ``.pth`` that carries pickled objects beyond tensors.
    """
    chosen = check_weights_file(path)
    net = VGG16Features(layers)
    state = feature_state(read_state(chosen), net.outputs[-1], source=chosen)
    net.load_state_dict(state)
    return net.to(device)
