"""What a model costs: parameters and forward FLOPs, counted without allocating or computing anything.

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` on a model rebuilt on the meta device, so
each operation is counted from its shapes (attention included, which a CPU's fused kernel would hide from it). A
multiply-add counts as 2 FLOPs; only matrix products, convolutions and attention are counted, which is where
nearly all of the work is. `framecast models` and `framecast compare` both count here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

#: The sequence `framecast models` counts FLOPs on: the Moving MNIST set-up of the published tables.
FLOPS_FOR = {"batch": 1, "context": 10, "horizon": 10, "channels": 1, "height": 64, "width": 64}


def count_params(model: torch.nn.Module | None) -> int:
    """Elements of the model's parameters (0 for None: a baseline)."""
    return 0 if model is None else sum(p.numel() for p in model.parameters())


def count_flops(name: str, config: dict[str, Any], *, context: int, horizon: int, batch: int = 1) -> int:
    """FLOPs of one forward of `batch` sequences of `context` frames predicting `horizon`, at the config's frame
    format, for model `name` rebuilt from `config` on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    from framecast.models.registry import model_from_config

    with torch.device("meta"):
        model = model_from_config(name, config).eval()
    device = "meta" if model.count_flops_on_meta else "cpu"
    if device == "cpu":
        model = model_from_config(name, config).eval().for_counting()  # a small, quick forward on zeros
    sample = torch.zeros(batch, context, config["channels"], config["height"], config["width"], device=device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(sample, horizon)
    return int(counter.get_total_flops())


def _preset_costs(name: str, preset: str, channels: int = 1) -> dict[str, Any]:
    from framecast.models.registry import model_from_config, preset_config

    f = FLOPS_FOR
    built = preset_config(name, preset, channels=channels, height=f["height"], width=f["width"])
    config = dataclasses.asdict(built)
    with torch.device("meta"):
        params = count_params(model_from_config(name, config))
    flops = count_flops(name, config, context=f["context"], horizon=f["horizon"], batch=f["batch"])
    return {"model": name, "preset": preset, "params": params, "flops": flops, "config": config}


def catalogue(model: str | None = None, preset: str | None = None, channels: int = 1) -> dict[str, Any]:
    """Every model (or `model`) at every preset (or `preset`), with parameters and FLOPs, for frames of `channels`
    (1 grey, 3 RGB): `framecast models`.

    Raises:
        UsageError: an unknown model or preset, or channels other than 1 or 3.
    """
    from framecast.errors import UsageError, unknown_name
    from framecast.models.registry import PRESETS, list_models, model_summary

    names = list_models()
    if model is not None and model not in names:
        raise unknown_name("model", model, names)
    if preset is not None and preset not in PRESETS:
        raise unknown_name("preset", preset, list(PRESETS))
    if channels not in (1, 3):
        raise UsageError(f"--channels must be 1 (grey) or 3 (RGB), not {channels}", "use --channels 1 or --channels 3")
    chosen = [model] if model else names
    rows = [_preset_costs(name, p, channels) for name in chosen for p in ([preset] if preset else list(PRESETS))]
    return {
        "flops_for": {**FLOPS_FOR, "channels": channels},
        "summaries": {name: model_summary(name) for name in chosen},
        "models": rows,
    }
