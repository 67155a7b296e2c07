"""framecast's models: every family behind one call and one registry.

    from framecast.models import create_model
    model = create_model("predrnn", "small", channels=1, height=64, width=64)
    prediction = model(context, horizon=10)  # (B, T, C, H, W) -> (B, 10, C, H, W), in [0, 1]

Families, one file each: `convlstm`, `predrnn` (also `predrnn-v2`), `predrnnpp` (`predrnn++`), `mim`, `vit`, `dmvfn`,
`simvp` and `tau`; shared blocks in `layers` (and in `blocks`, those of SimVP/TAU and PredRNN++/MIM).
Importing this package imports torch; the command line imports it only inside the commands that need it.
"""

from __future__ import annotations

from framecast.models import (  # noqa: F401  (importing a family registers it)
    convlstm,
    dmvfn,
    mim,
    predrnn,
    predrnnpp,
    simvp,
    tau,
    vit,
)
from framecast.models.layers import FramePredictor
from framecast.models.registry import (
    PRESETS,
    create_model,
    list_models,
    list_presets,
    model_from_config,
    model_summary,
    options,
    preset_config,
)

__all__ = [
    "PRESETS",
    "FramePredictor",
    "create_model",
    "list_models",
    "list_presets",
    "model_from_config",
    "model_summary",
    "options",
    "preset_config",
]
