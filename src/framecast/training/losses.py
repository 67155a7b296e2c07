"""Training losses, combinable by a spec such as ``mse``, ``l1`` or ``mse+0.1*gdl``.

- ``mse``: mean squared error per pixel.
- ``l1``: mean absolute error per pixel (``mae`` is accepted as a name for it).
- ``bce``: binary cross-entropy of the prediction against the target, both in [0, 1]; suits Moving MNIST's
  nearly binary frames (the original Moving MNIST papers trained with cross-entropy).
- ``gdl``: the gradient difference loss of Mathieu et al. (2016), alpha = 1: the absolute difference between
  the absolute spatial gradients of prediction and target, which penalises blur.
- ``ssim``: 1 - SSIM, as framecast's metric defines SSIM but differentiable; ``mse+0.05*ssim`` kept a model trained
  for real clips from blurring the still ones.
- ``perceptual``: the feature reconstruction loss of Johnson et al. (2016): frames are run through a frozen,
  ImageNet-trained VGG16 and the mean squared error between the activations of prediction and target at relu1_2,
  relu2_2 and relu3_3 is averaged over those three layers (every frame weighs the same). Squared error rather than
  L1, as Johnson et al. define it: it weighs the large feature differences of a misplaced or blurred stroke more
  than the many small ones of pixel noise, which is what the term is for. Needs ``framecast download vgg16`` once
  (or FRAMECAST_VGG16 naming a weights file); the network is loaded on first use, onto the prediction's device,
  and its weights never reach the optimiser.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from framecast.errors import UsageError, unknown_name

if TYPE_CHECKING:
    from framecast.models.vgg import VGG16Features

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, target)


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(pred, target)


def bce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # autocast would run this in low precision; cross-entropy near 0 and 1 needs float32
    with torch.autocast(device_type=pred.device.type, enabled=False):
        return F.binary_cross_entropy(pred.float().clamp(1e-6, 1 - 1e-6), target.float())


def gdl(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gradient difference loss over the last two (spatial) dimensions."""
    dy_p = (pred[..., 1:, :] - pred[..., :-1, :]).abs()
    dy_t = (target[..., 1:, :] - target[..., :-1, :]).abs()
    dx_p = (pred[..., :, 1:] - pred[..., :, :-1]).abs()
    dx_t = (target[..., :, 1:] - target[..., :, :-1]).abs()
    return (dy_p - dy_t).abs().mean() + (dx_p - dx_t).abs().mean()


class PerceptualLoss:
    """The ``perceptual`` term: MSE between VGG16 activations of prediction and target (see the module notes).

    Deliberately not an ``nn.Module``: nothing that collects a model's parameters (optimiser, DDP, checkpoints)
    can find the VGG weights through it.
    """

    def __init__(self, weights: str | os.PathLike[str] | None = None) -> None:
        """Check now that the weights file exists (so training fails before its first step); load it on first use.

        Args:
            weights: a VGG16 weights file; default FRAMECAST_VGG16, else the file `framecast download vgg16` makes.

        Raises:
            CheckpointError: when the weights file does not exist, naming `framecast download vgg16`.
        """
        from framecast.models.vgg import check_weights_file

        self.weights = check_weights_file(weights)
        self.net: VGG16Features | None = None

    def _network(self, device: torch.device) -> VGG16Features:
        if self.net is None:
            from framecast.models.vgg import load_vgg16_features

            self.net = load_vgg16_features(self.weights, device=device)
        elif self.net.mean.device != device:
            self.net.to(device)
        return self.net

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        net = self._network(pred.device)
        with torch.no_grad():  # the target is a constant: no graph through its pass
            wanted = net(_frames(target))
        got = net(_frames(pred))
        return torch.stack([F.mse_loss(g.float(), w.float()) for g, w in zip(got, wanted, strict=True)]).mean()


def _frames(x: torch.Tensor) -> torch.Tensor:
    """(B, T, C, H, W) clips (or any leading dims) -> (B*T, C, H, W) float32 images, for the 2D network."""
    return x.reshape(-1, *x.shape[-3:]).float()


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - SSIM, differentiable: framecast's SSIM definition (7x7 uniform window, sample covariance, data range 1,
    K1 0.01, K2 0.03, valid positions only) as a loss. A little of it keeps a model from blurring still scenes."""
    x = pred.reshape(-1, *pred.shape[-3:]).float()
    y = target.reshape(-1, *target.shape[-3:]).float()
    if min(x.shape[-2:]) < 7:
        raise UsageError("the ssim loss needs frames of at least 7x7 pixels", "use another loss for tiny frames")
    with torch.autocast(device_type=x.device.type, enabled=False):
        pool = lambda t: F.avg_pool2d(t, 7, stride=1)  # noqa: E731
        mx, my = pool(x), pool(y)
        cov = 49 / 48  # sample covariance, as scikit-image
        sxx, syy, sxy = cov * (pool(x * x) - mx * mx), cov * (pool(y * y) - my * my), cov * (pool(x * y) - mx * my)
        c1, c2 = 0.01**2, 0.03**2
        s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return 1.0 - s.mean()


#: Stateless terms, shared by every Loss.
LOSSES: dict[str, LossFn] = {
    "mse": mse,
    "l1": l1,
    "mae": l1,
    "bce": bce,
    "gdl": gdl,
    "ssim": ssim,
}

#: Terms that hold state (a network loaded on first use): each Loss makes its own from these factories.
TERM_FACTORIES: dict[str, Callable[[], LossFn]] = {
    "perceptual": PerceptualLoss,
}

_TERM = re.compile(r"^\s*(?:(?P<weight>\d+(?:\.\d*)?(?:e-?\d+)?|\.\d+)\s*\*\s*)?(?P<name>[a-z0-9_]+)\s*$", re.I)


def parse_loss(spec: str) -> list[tuple[float, str]]:
    """`mse+0.1*gdl` -> [(1.0, 'mse'), (0.1, 'gdl')].

    Raises:
        UsageError: for an unknown loss name or a malformed term.
    """
    terms: list[tuple[float, str]] = []
    if not spec or not spec.strip():
        raise UsageError("--loss is empty", "for example --loss mse or --loss mse+0.1*gdl")
    for part in spec.split("+"):
        match = _TERM.match(part)
        if match is None:
            raise UsageError(f"cannot read '{part.strip()}' in --loss '{spec}'", "write terms as NAME or WEIGHT*NAME")
        name = match["name"].lower()
        if name not in LOSSES and name not in TERM_FACTORIES:
            raise unknown_name("loss", name, tuple(k for k in (*LOSSES, *TERM_FACTORIES) if k != "mae"))
        weight = float(match["weight"]) if match["weight"] else 1.0
        if weight <= 0:
            raise UsageError(f"the weight of '{name}' in --loss must be positive", "for example 0.1*gdl")
        terms.append((weight, name))
    return terms


class Loss:
    """A weighted sum of named losses, built from a spec; `parts` holds the last value of each term.

    Raises:
        UsageError: for a malformed spec or an unknown term.
        CheckpointError: when the spec has ``perceptual`` and the VGG16 weights file does not exist.
    """

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.terms = parse_loss(spec)
        self.parts: dict[str, float] = {}
        #: the function of each term; stateful ones (perceptual) are this Loss's own
        self.fns: dict[str, LossFn] = {
            name: TERM_FACTORIES[name]() if name in TERM_FACTORIES else LOSSES[name] for _, name in self.terms
        }

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = None
        for weight, name in self.terms:
            value = self.fns[name](pred, target)
            self.parts[name] = float(value.detach())
            total = weight * value if total is None else total + weight * value
        assert total is not None
        return total
