"""The model registry: names, presets, and building a model from a name or from a saved config.

Each family file registers its models with `register_model`. A model is built from a typed dataclass config:
the dataclass defaults are the published (`base`) configuration, a preset overrides some fields, and keyword
overrides given to `create_model` override the preset (`None` means "leave the preset's value").

    model = create_model("convlstm", "small", channels=3, height=64, width=64, hidden=48)
    model.config                         # ConvLSTMConfig(name='convlstm', channels=3, ..., hidden=48, ...)
    same = model_from_config("convlstm", dataclasses.asdict(model.config))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from framecast.errors import CheckpointError, UsageError, unknown_name
from framecast.models.layers import FramePredictor

PRESETS = ("tiny", "small", "base")

#: Config fields that come from the data rather than from the preset or an option.
DATA_FIELDS = ("name", "channels", "height", "width")


@dataclass(frozen=True)
class ModelEntry:
    """One registered model."""

    name: str  # the registry name, as typed on the command line
    cls: type  # the nn.Module class, built as cls(config)
    config_cls: type  # its dataclass config
    presets: dict[str, dict[str, Any]]  # preset name -> field overrides over the dataclass defaults
    summary: str  # one line for `framecast models`


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, *, config_cls: type, presets: dict[str, dict[str, Any]], summary: str
) -> Callable[[type], type]:
    """Class decorator that registers a model family (use it again on the same class for a variant)."""
    if set(presets) != set(PRESETS):
        raise ValueError(f"{name}: presets must be exactly {PRESETS}")

    def add(cls: type) -> type:
        _REGISTRY[name] = ModelEntry(name, cls, config_cls, presets, summary)
        return cls

    return add


def list_models() -> list[str]:
    """Every registered model name, sorted."""
    return sorted(_REGISTRY)


def list_presets(name: str) -> list[str]:
    """The presets of model `name`, smallest first."""
    _entry(name)
    return list(PRESETS)


def model_summary(name: str) -> str:
    """One line on what model `name` is."""
    return _entry(name).summary


def _entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_name("model", name, list_models()) from None


def options(name: str) -> list[str]:
    """The options of model `name` that a preset or an override may set (every config field but the data's)."""
    entry = _entry(name)
    return [f.name for f in dataclasses.fields(entry.config_cls) if f.name not in DATA_FIELDS]


def preset_config(
    name: str, preset: str = "small", *, channels: int = 1, height: int = 64, width: int = 64, **overrides
):
    """The config `create_model` would build, without building the model.

    Raises:
        UsageError: an unknown model, preset or option, listing the valid ones.
    """
    entry = _entry(name)
    if preset not in entry.presets:
        raise unknown_name("preset", preset, list(PRESETS))
    given = {k: v for k, v in overrides.items() if v is not None}
    valid = options(name)
    bad = sorted(k for k in given if k not in valid)
    if bad:
        raise UsageError(
            f"unknown option{'s' if len(bad) > 1 else ''} {', '.join(repr(b) for b in bad)} for model '{name}'",
            f"valid options for {name}: {', '.join(valid)}",
        )
    values = {**entry.presets[preset], **given}
    config = entry.config_cls(name=name, channels=channels, height=height, width=width, **values)
    check_types(config)
    return config


_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def check_types(config: Any) -> None:
    """Raise a UsageError for a config field whose value is not of its declared type (a typo'd override)."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kinds = _TYPES.get(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", ""))
        if kinds is None:
            continue
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise UsageError(
                f"option {f.name} of model '{config.name}' must be {f.type}, not {value!r}",
                f"for example --set {f.name}={getattr(type(config)(), f.name, '')!s}".lower(),
            )


def create_model(
    name: str, preset: str = "small", *, channels: int = 1, height: int = 64, width: int = 64, **overrides
):
    """Build model `name` at `preset` for frames of `channels` x `height` x `width`.

    Args:
        name: a registered model (see `list_models()`).
        preset: `tiny` (tests), `small` (a laptop CPU) or `base` (the published configuration).
        channels: colour channels of a frame (1 grey, 3 RGB).
        height: frame height in pixels.
        width: frame width in pixels.
        **overrides: config fields to change; `None` values are dropped (the preset's value stays).

    Returns:
        The model, in training mode, on the CPU, with `.config` set.

    Raises:
        UsageError: an unknown model, preset or option, or a frame size the model cannot cut into patches.
    """
    config = preset_config(name, preset, channels=channels, height=height, width=width, **overrides)
    return _build(name, config)


def _build(name: str, config: Any) -> FramePredictor:
    """The model of a checked config; an option the family refuses gets a hint where to see its options."""
    try:
        return _entry(name).cls(config)
    except UsageError as exc:
        if exc.hint:
            raise
        raise UsageError(
            exc.message, f"see the options of {name} and their preset values: `framecast models --model {name} --json`"
        ) from None


def model_from_config(name: str, config: dict[str, Any]) -> FramePredictor:
    """Rebuild a model from `dataclasses.asdict(model.config)`, as a checkpoint stores it.

    Fields missing from `config` take the dataclass defaults (a checkpoint from before an option existed).

    Raises:
        UsageError: an unknown model name.
        CheckpointError: a config with fields this version of the model does not have.
    """
    entry = _entry(name)
    fields = {f.name for f in dataclasses.fields(entry.config_cls)}
    bad = sorted(set(config) - fields)
    if bad:
        raise CheckpointError(
            f"the saved config of model '{name}' has options this framecast does not know: {', '.join(bad)}",
            "the checkpoint was written by another framecast version; use that version, or retrain",
        )
    rebuilt = entry.config_cls(**{**config, "name": name})
    check_types(rebuilt)
    return _build(name, rebuilt)
