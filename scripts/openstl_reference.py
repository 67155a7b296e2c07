"""OpenSTL's models, loaded from its own files, and run the way its trainer and test loop run them.

Shared by `scripts/check_openstl_import.py` (framecast's imports predict what OpenSTL's models predict) and
`benchmarks/bench_peer.py` (framecast's speed against OpenSTL's). Point `OPENSTL_SRC` at a checkout of OpenSTL
(github.com/chengtan9907/OpenSTL): `load_reference` loads the model and module files of the six families that
framecast imports (ConvLSTM, PredRNN, PredRNN++, MIM, SimVP, TAU) straight from that folder, without importing the
rest of the package. Nothing of it is copied here. What those files import and these models never use (timm's
blocks, OpenSTL's other translators) is stood in for by empty placeholders; timm's DropPath, which OpenSTL only
builds at a drop-path rate above 0 (its Moving MNIST configurations ask for 0), by one that passes x on.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

FAMILIES = ("convlstm", "predrnn", "predrnn++", "mim", "simvp", "tau")
#: The recurrent families: OpenSTL's module file, the cells the model file imports from it, the model file and class.
RECURRENT = {
    "convlstm": ("convlstm_modules.py", ("ConvLSTMCell",), "convlstm_model.py", "ConvLSTM_Model"),
    "predrnn": ("predrnn_modules.py", ("SpatioTemporalLSTMCell",), "predrnn_model.py", "PredRNN_Model"),
    "predrnn++": ("predrnnpp_modules.py", ("CausalLSTMCell", "GHU"), "predrnnpp_model.py", "PredRNNpp_Model"),
    "mim": ("mim_modules.py", ("MIMBlock", "MIMN"), "mim_model.py", "MIM_Model"),
}
#: framecast's options that a reference model is built from: recurrent families, then SimVP and TAU.
RECURRENT_OPTIONS = ("layers", "hidden", "kernel", "patch")
BLOCK_OPTIONS = ("spatial_width", "spatial_layers", "translator_width", "translator_depth", "mlp_ratio")
CONTEXT, HORIZON = 10, 10


def _load_file(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _package(name: str) -> types.ModuleType:
    module = sys.modules.get(name) or types.ModuleType(name)
    module.__path__ = []  # a package, so that relative imports resolve
    sys.modules[name] = module
    return module


def _placeholders(module: types.ModuleType, *names: str) -> None:
    for n in names:
        setattr(module, n, type(n, (nn.Module,), {}))


class _DropPath(nn.Module):
    """Stands in for timm's DropPath, which OpenSTL builds only at a drop-path rate above 0: passes x on."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x):
        return x


def _stub_timm() -> None:
    """timm's names that OpenSTL's SimVP files import: DropPath and trunc_normal_ are used, the blocks are not."""
    timm, layers, models = _package("timm"), _package("timm.layers"), _package("timm.models")
    layers.DropPath, layers.trunc_normal_ = _DropPath, nn.init.trunc_normal_
    timm.layers, timm.models = layers, models
    for sub, names in {
        "convnext": ("ConvNeXtBlock",),
        "mlp_mixer": ("MixerBlock",),
        "swin_transformer": ("SwinTransformerBlock",),
        "vision_transformer": ("Block",),
    }.items():
        module = _package(f"timm.models.{sub}")
        _placeholders(module, *names)
        module.window_partition = module.window_reverse = None


def load_reference(source: Path) -> dict[str, type]:
    """OpenSTL's model classes by framecast's family name, loaded from its files alone."""
    base = Path(source).expanduser() / "openstl"
    if not (base / "models" / "simvp_model.py").is_file():
        raise SystemExit(f"OPENSTL_SRC={source} has no openstl/models/simvp_model.py: point it at OpenSTL's checkout")
    _package("openstl")
    modules = _package("openstl.modules")
    _package("openstl.models")
    classes = {}
    for family, (cell_file, cells, model_file, model_name) in RECURRENT.items():
        loaded = _load_file(f"openstl.modules.{Path(cell_file).stem}", base / "modules" / cell_file)
        for cell in cells:
            setattr(modules, cell, getattr(loaded, cell))
        classes[family] = getattr(
            _load_file(f"openstl.models.{Path(model_file).stem}", base / "models" / model_file), model_name
        )
    _stub_timm()
    layers = _package("openstl.modules.layers")
    van = _load_file("openstl.modules.layers.van", base / "modules" / "layers" / "van.py")
    for n in ("DWConv", "MixMlp", "VANBlock"):
        setattr(layers, n, getattr(van, n))
    _placeholders(layers, "HorBlock", "ChannelAggregationFFN", "MultiOrderGatedAggregation", "MultiOrderDWConv")
    _placeholders(layers, "PoolFormerBlock", "CBlock", "SABlock")
    simvp_modules = _load_file("openstl.modules.simvp_modules", base / "modules" / "simvp_modules.py")
    for n in dir(simvp_modules):
        if not n.startswith("_"):
            setattr(modules, n, getattr(simvp_modules, n))
    simvp = _load_file("openstl.models.simvp_model", base / "models" / "simvp_model.py").SimVP_Model
    classes["simvp"] = classes["tau"] = simvp
    return classes


def reference_options(family: str, config) -> dict:
    """The options a reference model is built from, read off a framecast model's config."""
    return {k: getattr(config, k) for k in (RECURRENT_OPTIONS if family in RECURRENT else BLOCK_OPTIONS)}


def build_reference(cls: type, family: str, o: dict, size: int) -> nn.Module:
    """OpenSTL's model of the family at the options `o` (see `reference_options`), for 10 -> 10 grey frames."""
    if family in RECURRENT:
        configs = SimpleNamespace(
            in_shape=(CONTEXT + HORIZON, 1, size, size),
            patch_size=o["patch"],
            filter_size=o["kernel"],
            stride=1,
            layer_norm=0,
            pre_seq_length=CONTEXT,
            aft_seq_length=HORIZON,
            reverse_scheduled_sampling=0,
        )
        return cls(o["layers"], [o["hidden"]] * o["layers"], configs)
    return cls(
        (CONTEXT, 1, size, size),
        hid_S=o["spatial_width"],
        hid_T=o["translator_width"],
        N_S=o["spatial_layers"],
        N_T=o["translator_depth"],
        model_type="gSTA" if family == "simvp" else "tau",
        mlp_ratio=o["mlp_ratio"],
        drop=0.0,
        drop_path=0.0,
    )


def fold(frames: torch.Tensor, p: int) -> torch.Tensor:
    """(B, T, C, H, W) -> OpenSTL's patch layout (B, T, H/p, W/p, p*p*C), what its `reshape_patch` makes."""
    b, t, c, h, w = frames.shape
    x = frames.permute(0, 1, 3, 4, 2).reshape(b, t, h // p, p, w // p, p, c)
    return x.permute(0, 1, 2, 4, 3, 5, 6).reshape(b, t, h // p, w // p, p * p * c)


def unfold(patches: torch.Tensor, p: int, c: int) -> torch.Tensor:
    """The inverse of `fold`."""
    b, t, hp, wp, _ = patches.shape
    x = patches.reshape(b, t, hp, wp, p, p, c).permute(0, 1, 2, 4, 3, 5, 6)
    return x.reshape(b, t, hp * p, wp * p, c).permute(0, 1, 4, 2, 3)


def reference_predict(model: nn.Module, family: str, context: torch.Tensor, patch: int) -> torch.Tensor:
    """OpenSTL's prediction of HORIZON frames after `context`, as its test loop makes it (no teacher forcing)."""
    with torch.no_grad():
        if family not in RECURRENT:
            return model(context)
        b, _, c, h, w = context.shape
        future = torch.zeros(b, HORIZON, c, h, w, device=context.device)
        frames = fold(torch.cat([context, future], 1), patch)
        mask = torch.zeros(b, HORIZON - 1, h // patch, w // patch, patch * patch * c, device=context.device)
        out, _ = model(frames, mask, return_loss=False)
        return unfold(out[:, -HORIZON:], patch, c)
