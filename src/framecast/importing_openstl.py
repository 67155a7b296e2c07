"""`framecast import openstl`: a model trained with the OpenSTL library, as a framecast run.

OpenSTL (Apache-2.0; github.com/chengtan9907/OpenSTL) trains the families framecast also has, and publishes weights
trained on Moving MNIST, Moving Fashion-MNIST and KTH. Its files come in three shapes, all accepted: a plain state
dict of the model, the same under `module.` (DataParallel), or a training checkpoint holding the state dict under
`state_dict` with every key under `model.` (its Lightning method). Importing:

1. reads the file with `torch.load(..., weights_only=True)` (`importing.read_checkpoint`): nothing in it runs; a pickle
   payload, a damaged or truncated file, or one that holds no state dict of tensors is refused, nothing written;
2. builds framecast's model at `--preset` (base: OpenSTL's configuration) with the options OpenSTL's configuration
   for the data set gives (patch size, SimVP's hid_T / N_S / N_T, frames in), and `head="linear"`: OpenSTL's
   models give the frame itself, fed back as it is, where framecast's default head is a sigmoid;
3. checks every tensor of the file against what that model needs, in OpenSTL's names (`expected`): missing,
   unexpected and misshapen tensors are listed and nothing is written;
4. converts (`RULES`): most tensors only change name; OpenSTL's separate gate convolutions of the ConvLSTM and
   PredRNN cells become framecast's fused ones (their gates reordered, the constant forget bias of 1 becoming the
   bias), MIM's peepholes change shape, and three kinds of tensor OpenSTL builds but its forward never reads (the
   ConvLSTM cells' output convolutions, PredRNN++'s convolution over [C, M] and MIM-N's 1x1 convolution) are
   dropped, framecast's counterparts set to what makes them inert (zero; MIM-N's output to its memory alone);
5. writes the run `<runs>/<model>/NAME/` (best.safetensors, config.json with a model card: source file, sha256,
   data set, what the file reproduces), which `framecast runs` lists and every command loads.

The three data sets are grey, where OpenSTL's patch layout (dy, dx, channel) and framecast's (channel, dy, dx) agree.
Two things differ from OpenSTL at run time, and neither changes a prediction from a fresh start: framecast keeps the
predicted frames in [0, 1] in what it returns (what it feeds back is the head's output as it is, as OpenSTL does),
and MIM's stationary memory starts at zero for every sequence (OpenSTL's module keeps it from one batch to the next).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framecast.errors import InputError, unknown_name
from framecast.importing import check_run_name, listed, read_checkpoint, tensors_only, write_run

#: OpenSTL's method names (and framecast's) to framecast's model names.
FAMILIES = {
    "convlstm": "convlstm",
    "predrnn": "predrnn",
    "predrnnpp": "predrnn++",
    "predrnn++": "predrnn++",
    "mim": "mim",
    "simvp": "simvp",
    "tau": "tau",
}

#: The data sets OpenSTL publishes weights for: frames, context and horizon of its standard test, and what they are.
DATASETS = {
    "mmnist": {"channels": 1, "height": 64, "width": 64, "context": 10, "horizon": 10, "content": "digits"},
    "mfmnist": {"channels": 1, "height": 64, "width": 64, "context": 10, "horizon": 10, "content": "digits"},
    "kth": {"channels": 1, "height": 128, "width": 128, "context": 10, "horizon": 20, "content": "natural"},
}
ABOUT = {
    "mmnist": "Moving MNIST (two digits, 64x64), 10 frames -> 10; OpenSTL's test file mnist_test_seq.npy",
    "mfmnist": "Moving Fashion-MNIST (two items, 64x64), 10 frames -> 10",
    "kth": "KTH actions (grey, 128x128), 10 frames -> 20",
}

#: framecast's names of those data sets (`--data` of eval and train).
DATA_NAMES = {"mmnist": "moving-mnist", "mfmnist": "moving-fmnist", "kth": "kth"}

#: OpenSTL's per-data-set options that differ from framecast's base preset (its configs/<data set>/<method>.py).
KTH_RECURRENT = {"patch": 2}
KTH_BLOCKS = {"spatial_layers": 2, "translator_width": 256, "translator_depth": 6}
DATASET_OPTIONS = {
    ("kth", "convlstm"): KTH_RECURRENT,
    ("kth", "predrnn"): KTH_RECURRENT,
    ("kth", "predrnn++"): KTH_RECURRENT,
    ("kth", "simvp"): KTH_BLOCKS,
    ("kth", "tau"): KTH_BLOCKS,
}

#: OpenSTL's cells add this constant to their forget gates (they have no biases).
FORGET_BIAS = 1.0


@dataclass(frozen=True)
class Rule:
    """How one framecast tensor is made: from OpenSTL's tensors `parts` (name, shape; shape None: the framecast
    tensor's own) by `make` (None: the one part as it is)."""

    ours: str
    parts: tuple[tuple[str, tuple[int, ...] | None], ...] = ()
    make: Callable[..., Any] | None = None


def import_openstl(
    path: str | Path,
    model: str,
    name: str,
    *,
    preset: str = "base",
    dataset: str = "mmnist",
    size: tuple[int, int] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Import an OpenSTL checkpoint of family `model` as the framecast run `<model>/<name>`; a JSON-ready report.

    Args:
        path: the .pth (or .ckpt) file.
        model: OpenSTL's method name or framecast's (convlstm, predrnn, predrnnpp, mim, simvp, tau).
        name: the run's name.
        preset: framecast's preset the file was trained at (base: OpenSTL's configuration).
        dataset: what it was trained on (mmnist, mfmnist, kth): frame size, frames in and out, OpenSTL's options.
        size: (height, width) of the frames, when not the data set's.
        overrides: model options beyond the preset's and the data set's (`--set`).

    Raises:
        UsageError: an unknown family, data set, preset or option; a bad or taken run name.
        InputError: no such file, a pickle payload, no state dict, tensors missing, unexpected or misshapen.
        DataError: a damaged or truncated file.
    """
    family = FAMILIES.get(model.lower())
    if family is None:
        raise unknown_name("OpenSTL model", model, tuple(k for k in FAMILIES if k != "predrnn++"))
    if dataset not in DATASETS:
        raise unknown_name("data set", dataset, tuple(DATASETS))
    check_run_name(family, name)
    net = build(family, preset, dataset, size, overrides or {})
    path = Path(path).expanduser()
    loaded, sha256 = read_checkpoint(path)
    state = state_dict_of(path, loaded)
    load_converted(net, state, path)
    spec = dict(DATASETS[dataset])
    if size is not None:
        spec["height"], spec["width"] = size
    card = {
        "source": path.name,
        "sha256": sha256,
        "bytes": path.stat().st_size,
        "origin": "OpenSTL (Apache-2.0), github.com/chengtan9907/OpenSTL",
        "trained_on": ABOUT[dataset],
        "head": "linear: the frame itself, as OpenSTL's models give it (kept in [0, 1] on the way out)",
    }
    data = {"name": DATA_NAMES[dataset], "openstl": dataset, "source": path.name, "sha256": sha256}
    run = write_run(net, name, preset=preset, spec=spec, data=data, card=card, extra={"openstl": model.lower()})
    return {
        "run": f"{family}/{run.name}",
        "path": str(run),
        "weights": str(run / "best.safetensors"),
        "model": family,
        "preset": preset,
        "dataset": dataset,
        "parameters": sum(p.numel() for p in net.parameters()),
        "tensors": len(state),
        "card": card,
    }


def build(family: str, preset: str, dataset: str, size: tuple[int, int] | None, overrides: dict[str, Any]):
    """framecast's `family` at `preset` with OpenSTL's options for `dataset`, `overrides` and a linear head."""
    from framecast.models import create_model

    spec = DATASETS[dataset]
    height, width = size or (spec["height"], spec["width"])
    options: dict[str, Any] = dict(DATASET_OPTIONS.get((dataset, family), {}))
    if family in ("simvp", "tau"):  # OpenSTL's block models read the data set's context and give as many frames
        options.update(context_frames=spec["context"], block_frames=spec["context"])
    options.update(overrides)
    options["head"] = "linear"
    return create_model(family, preset, channels=spec["channels"], height=height, width=width, **options).eval()


def state_dict_of(path: Path, loaded: Any) -> dict[str, Any]:
    """The model's tensors in a loaded file: a training checkpoint's `state_dict` or the file itself, without the
    `model.` (OpenSTL's method) and `module.` (DataParallel) prefixes that every key carries."""
    hint = "give the .pth file OpenSTL publishes for the model (a state dict, or a checkpoint holding one)"
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    state = tensors_only(path, loaded, hint)
    for prefix in ("model.", "module.", "model."):
        if all(key.startswith(prefix) for key in state):
            state = {key[len(prefix) :]: value for key, value in state.items()}
    return state


def expected(net, rules: list[Rule], unused: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """OpenSTL's tensor names and shapes for a model that `rules` convert into `net`."""
    ours = net.state_dict()
    shapes = dict(unused)
    for rule in rules:
        for theirs, shape in rule.parts:
            shapes[theirs] = tuple(ours[rule.ours].shape) if shape is None else shape
    return shapes


def load_converted(net, state: dict[str, Any], path: Path) -> None:
    """Check `state` (OpenSTL's names) against what `net` needs and load it, converted, into `net`.

    Raises:
        InputError: tensors missing, unexpected or misshapen, all listed in OpenSTL's names.
    """
    import torch

    rules, unused = RULES[net.config.name](net.config, list(net.state_dict()))
    want = expected(net, rules, unused)
    missing = sorted(set(want) - set(state))
    extra = sorted(set(state) - set(want))
    misshapen = sorted(
        f"{k} {tuple(state[k].shape)} (expected {want[k]})"
        for k in set(want) & set(state)
        if tuple(state[k].shape) != want[k]
    )
    if missing or extra or misshapen:
        parts = [
            f"{label} {len(items)}: {listed(items)}"
            for label, items in (("missing", missing), ("unexpected", extra), ("misshapen", misshapen))
            if items
        ]
        raise InputError(
            f"{path} does not match OpenSTL's {net.config.name} at this configuration ({len(want)} tensors); "
            + "; ".join(parts),
            "give --model, --dataset and --preset (or --set) of the configuration the file was trained at",
        )
    own = net.state_dict()
    converted = {}
    for rule in rules:
        tensors = [_as_float(state[theirs]) for theirs, _ in rule.parts]
        value = rule.make(*tensors) if rule.make is not None else tensors[0]
        converted[rule.ours] = value.reshape(own[rule.ours].shape).to(own[rule.ours].dtype).contiguous()
    with torch.no_grad():
        net.load_state_dict(converted, strict=True)


def _as_float(tensor):
    """A floating tensor in float32 (files may hold half precision); others (BatchNorm's counts) as they are."""
    return tensor.float() if tensor.is_floating_point() else tensor


# -------------------------------------------------------------------------------------- the mapping, per family


def _renames(net_keys, table: tuple[tuple[str, str], ...]) -> list[Rule]:
    """A rule per framecast name that `table` (OpenSTL's template, framecast's) names: the same tensor renamed."""
    patterns = [(_regex(ours), theirs) for theirs, ours in table]
    rules = []
    for key in net_keys:
        for pattern, theirs in patterns:
            found = pattern.fullmatch(key)
            if found:
                groups = found.groupdict()
                if "i" in groups:  # {i1}: the index one up (MIM's blocks sit above OpenSTL's first layer)
                    groups["i1"] = str(int(groups["i"]) + 1)
                rules.append(Rule(key, ((theirs.format(**groups), None),)))
                break
    return rules


_GROUPS = {"{i}": r"(?P<i>\d+)", "{j}": r"(?P<j>\d+)", "{r}": r"(?P<r>[\w.]+)"}


def _regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[ijr]\})", template)
    return re.compile("".join(_GROUPS.get(part, re.escape(part)) for part in parts))


def _constant(name: str, value) -> Rule:
    return Rule(name, (), lambda: value)


def _gate_bias(n: int, gates: int, forget: int):
    """A bias of `gates` blocks of n, the forget gate's block (index `forget`) at OpenSTL's constant forget bias."""
    import torch

    bias = torch.zeros(gates * n)
    bias[forget * n : (forget + 1) * n] = FORGET_BIAS
    return bias


def _blocks(tensor, n: int, order: tuple[int, ...]):
    """The gate blocks of n output channels of `tensor`, in `order`."""
    import torch

    return torch.cat([tensor[g * n : (g + 1) * n] for g in order])


def _convlstm(cfg, keys):
    """ConvLSTM: OpenSTL's conv_x and conv_h, gates (i, f, g, o), no bias or forget bias -> one convolution over
    [x, h], gates (i, f, o, g), bias zero. Each cell's conv_o and conv_last are never used by OpenSTL."""
    import torch

    n, k, cin = cfg.hidden, cfg.kernel, cfg.channels * cfg.patch**2
    rules, unused = [], {}
    for i in range(cfg.layers):
        src, width = f"cell_list.{i}", cin if i == 0 else n
        fuse = lambda x, h: _blocks(torch.cat([x, h], dim=1), n, (0, 1, 3, 2))  # noqa: E731
        parts = ((f"{src}.conv_x.0.weight", (4 * n, width, k, k)), (f"{src}.conv_h.0.weight", (4 * n, n, k, k)))
        rules += [Rule(f"cells.{i}.gates.weight", parts, fuse), _constant(f"cells.{i}.gates.bias", torch.zeros(4 * n))]
        unused[f"{src}.conv_o.0.weight"] = (n, 2 * n, k, k)
        unused[f"{src}.conv_last.weight"] = (n, 2 * n, 1, 1)
    rules += [Rule("head.weight", (("conv_last.weight", None),)), _constant("head.bias", torch.zeros(cin))]
    return rules, unused


def _predrnn(cfg, keys):
    """PredRNN: OpenSTL's conv_x (i, f, g, i', f', g', o), conv_h (i, f, g, o) and conv_m (i', f', g') -> framecast's
    convolutions over [x, h] (i, f, g, o) and [x, m] (i', f', g'), the forget bias their bias."""
    import torch

    n, k, cin = cfg.hidden, cfg.kernel, cfg.channels * cfg.patch**2
    rules = []
    for i in range(cfg.layers):
        src, dst, width = f"cell_list.{i}", f"cells.{i}", cin if i == 0 else n
        x = (f"{src}.conv_x.0.weight", (7 * n, width, k, k))
        h = (f"{src}.conv_h.0.weight", (4 * n, n, k, k))
        m = (f"{src}.conv_m.0.weight", (3 * n, n, k, k))
        rules += [
            Rule(f"{dst}.conv_xh.weight", (x, h), lambda wx, wh: torch.cat([_blocks(wx, n, (0, 1, 2, 6)), wh], 1)),
            Rule(f"{dst}.conv_xm.weight", (x, m), lambda wx, wm: torch.cat([_blocks(wx, n, (3, 4, 5)), wm], 1)),
            _constant(f"{dst}.conv_xh.bias", _gate_bias(n, 4, 1)),
            _constant(f"{dst}.conv_xm.bias", _gate_bias(n, 3, 1)),
            Rule(f"{dst}.conv_o.weight", ((f"{src}.conv_o.0.weight", None),)),
            Rule(f"{dst}.conv_last.weight", ((f"{src}.conv_last.weight", None),)),
        ]
    rules += [Rule("head.weight", (("conv_last.weight", None),)), _constant("head.bias", torch.zeros(cin))]
    return rules, {}


PREDRNNPP_TABLE = (
    ("cell_list.{i}.conv_x.0.weight", "cells.{i}.conv_x.conv.weight"),
    ("cell_list.{i}.conv_h.0.weight", "cells.{i}.conv_h.conv.weight"),
    ("cell_list.{i}.conv_c.0.weight", "cells.{i}.conv_c.conv.weight"),
    ("cell_list.{i}.conv_m.0.weight", "cells.{i}.conv_m.conv.weight"),
    ("cell_list.{i}.conv_c2m.0.weight", "cells.{i}.conv_c_new.conv.weight"),
    ("cell_list.{i}.conv_om.0.weight", "cells.{i}.conv_m_new.conv.weight"),
    ("cell_list.{i}.conv_last.weight", "cells.{i}.fuse.weight"),
    ("gradient_highway.x_concat.0.weight", "highway.conv_x.conv.weight"),
    ("gradient_highway.z_concat.0.weight", "highway.conv_z.conv.weight"),
    ("conv_last.weight", "head.weight"),
)


def _predrnnpp(cfg, keys):
    """PredRNN++: names only; OpenSTL's conv_o over [C, M] is never used, so framecast's (conv_cm) is zero."""
    import torch

    n, k = cfg.hidden, cfg.kernel
    rules = _renames(keys, PREDRNNPP_TABLE)
    rules += [_constant(f"cells.{i}.conv_cm.conv.weight", torch.zeros(n, 2 * n, k, k)) for i in range(cfg.layers)]
    unused = {f"cell_list.{i}.conv_o.0.weight": (n, 2 * n, k, k) for i in range(cfg.layers)}
    return rules, unused


MIM_TABLE = (
    ("stlstm_layer.0.conv_x.0.weight", "first.conv_x.conv.weight"),
    ("stlstm_layer.0.conv_h.0.weight", "first.conv_h.conv.weight"),
    ("stlstm_layer.0.conv_m.0.weight", "first.conv_m.conv.weight"),
    ("stlstm_layer.0.conv_o.0.weight", "first.conv_cm.conv.weight"),
    ("stlstm_layer.0.conv_last.weight", "first.fuse.weight"),
    ("stlstm_layer.{i1}.conv_x_cc.0.weight", "blocks.{i}.conv_x.conv.weight"),  # {i1}: the layer, i + 1
    ("stlstm_layer.{i1}.conv_t_cc.0.weight", "blocks.{i}.conv_h.conv.weight"),
    ("stlstm_layer.{i1}.conv_s_cc.0.weight", "blocks.{i}.conv_m.conv.weight"),
    ("stlstm_layer.{i1}.conv_x_concat.0.weight", "blocks.{i}.stationary.conv_x.conv.weight"),
    ("stlstm_layer.{i1}.conv_h_concat.0.weight", "blocks.{i}.stationary.conv_h.conv.weight"),
    ("stlstm_layer.{i1}.oc_weight", "blocks.{i}.stationary.peephole_o"),
    ("stlstm_layer.{i1}.conv_last.weight", "blocks.{i}.fuse.weight"),
    ("stlstm_layer_diff.{i}.conv_x_concat.0.weight", "nonstationary.{i}.conv_x.conv.weight"),
    ("stlstm_layer_diff.{i}.conv_h_concat.0.weight", "nonstationary.{i}.conv_h.conv.weight"),
    ("stlstm_layer_diff.{i}.oc_weight", "nonstationary.{i}.peephole_o"),
    ("conv_last.weight", "head.weight"),
)


def _mim(cfg, keys):
    """MIM: names (OpenSTL's block i is framecast's blocks.{i-1}); the peepholes of i and f are one (2n, h, w)
    tensor there; MIM-N's 1x1 convolution is never used there, so framecast's `mix` passes the memory alone."""
    import torch

    n, grid = cfg.hidden, (cfg.height // cfg.patch, cfg.width // cfg.patch)
    rules = _renames(keys, MIM_TABLE)
    mix = torch.cat([torch.eye(n), torch.zeros(n, n)], dim=1)[:, :, None, None]
    unused = {}
    for i in range(cfg.layers - 1):
        rules.append(Rule(f"blocks.{i}.stationary.peephole_if", ((f"stlstm_layer.{i + 1}.ct_weight", (2 * n, *grid)),)))
        rules.append(Rule(f"nonstationary.{i}.peephole_if", ((f"stlstm_layer_diff.{i}.ct_weight", (2 * n, *grid)),)))
        rules.append(_constant(f"nonstationary.{i}.mix.weight", mix))
        unused[f"stlstm_layer_diff.{i}.conv_last.weight"] = (n, 2 * n, 1, 1)
    return rules, unused


BLOCK_TABLE = (
    ("enc.enc.{i}.conv.conv.{r}", "encoder.layers.{i}.conv.{r}"),
    ("enc.enc.{i}.conv.norm.{r}", "encoder.layers.{i}.norm.{r}"),
    ("dec.dec.{i}.conv.conv.{r}", "decoder.layers.{i}.conv.{r}"),
    ("dec.dec.{i}.conv.norm.{r}", "decoder.layers.{i}.norm.{r}"),
    ("dec.readout.{r}", "head.{r}"),
    ("hid.enc.{i}.block.norm1.{r}", "translator.blocks.{i}.norm1.{r}"),
    ("hid.enc.{i}.block.norm2.{r}", "translator.blocks.{i}.norm2.{r}"),
    ("hid.enc.{i}.block.attn.proj_1.{r}", "translator.blocks.{i}.proj_in.{r}"),
    ("hid.enc.{i}.block.attn.proj_2.{r}", "translator.blocks.{i}.proj_out.{r}"),
    ("hid.enc.{i}.block.attn.spatial_gating_unit.conv0.{r}", "translator.blocks.{i}.gate.spread.local.{r}"),
    ("hid.enc.{i}.block.attn.spatial_gating_unit.conv_spatial.{r}", "translator.blocks.{i}.gate.spread.wide.{r}"),
    ("hid.enc.{i}.block.attn.spatial_gating_unit.conv1.{r}", "translator.blocks.{i}.gate.split.{r}"),  # gSTA
    ("hid.enc.{i}.block.attn.spatial_gating_unit.conv1.{r}", "translator.blocks.{i}.gate.mix.{r}"),  # TAU
    ("hid.enc.{i}.block.attn.spatial_gating_unit.fc.{j}.weight", "translator.blocks.{i}.gate.excite.{j}.weight"),
    ("hid.enc.{i}.block.mlp.fc1.{r}", "translator.blocks.{i}.mlp.up.{r}"),
    ("hid.enc.{i}.block.mlp.dwconv.dwconv.{r}", "translator.blocks.{i}.mlp.mix.{r}"),
    ("hid.enc.{i}.block.mlp.fc2.{r}", "translator.blocks.{i}.mlp.down.{r}"),
    ("hid.enc.{i}.block.layer_scale_1", "translator.blocks.{i}.scale1"),
    ("hid.enc.{i}.block.layer_scale_2", "translator.blocks.{i}.scale2"),
    ("hid.enc.{i}.reduction.{r}", "translator.blocks.{i}.reduce.{r}"),
    ("hid.enc.{i}.conv1.{r}", "translator.down.{i}.reduce.{r}"),  # SimVP's Inception U-Net
    ("hid.enc.{i}.layers.{j}.conv.{r}", "translator.down.{i}.branches.{j}.0.{r}"),
    ("hid.enc.{i}.layers.{j}.norm.{r}", "translator.down.{i}.branches.{j}.1.{r}"),
    ("hid.dec.{i}.conv1.{r}", "translator.up.{i}.reduce.{r}"),
    ("hid.dec.{i}.layers.{j}.conv.{r}", "translator.up.{i}.branches.{j}.0.{r}"),
    ("hid.dec.{i}.layers.{j}.norm.{r}", "translator.up.{i}.branches.{j}.1.{r}"),
)


def _block_model(cfg, keys):
    """SimVP and TAU: names only."""
    return _renames(keys, BLOCK_TABLE), {}


#: framecast's model name -> its rules: (rules, OpenSTL's tensors that are read and dropped, with their shapes).
RULES: dict[str, Callable[[Any, list[str]], tuple[list[Rule], dict[str, tuple[int, ...]]]]] = {
    "convlstm": _convlstm,
    "predrnn": _predrnn,
    "predrnn++": _predrnnpp,
    "mim": _mim,
    "simvp": _block_model,
    "tau": _block_model,
}


def check_rules(net) -> list[str]:
    """framecast tensors of `net` that its rules do not make, or make twice (empty when the mapping is whole)."""
    rules, _ = RULES[net.config.name](net.config, list(net.state_dict()))
    made = [rule.ours for rule in rules]
    own = list(net.state_dict())
    return sorted({k for k in own if made.count(k) != 1} | (set(made) - set(own)))
