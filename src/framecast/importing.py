"""`framecast import`: turn a checkpoint released by a model's authors into a framecast run.

Only DMVFN for now (Hu et al., CVPR 2023; MIT-licensed code and weights from megvii-research/CVPR2023-DMVFN). The
authors release plain state dicts saved by `torch.save` from a DistributedDataParallel model (every key starts with
`module.`), for frames fed in OpenCV's BGR order. Importing:

1. reads the file with `torch.load(..., weights_only=True)`: tensors and plain containers only, so nothing in the
   file is ever run; a file that needs more (a pickle payload), a damaged or truncated one, or one that is not a
   state dict of tensors is refused, and nothing is written;
2. renames every tensor by the table below and checks every name and shape against framecast's `dmvfn` at its
   `base` preset for RGB frames, listing the missing, unexpected and misshapen tensors if any;
3. converts colour order once, here: the layers that read colour channels (each block's first convolution in both
   branches, and the routing net's first) have the input channels of each frame reversed, so the model takes RGB
   frames like every framecast model, and computes exactly what the authors' network computes on the same frames
   in BGR. Nothing else sees colour (the outputs are flows and a mask; warping keeps the order), so the
   predictions come out RGB. Converting the weights rather than flipping at run time keeps the model plain;
4. writes a run, `<runs>/dmvfn/NAME/` with `best.safetensors` and `config.json` (status "finished"), carrying a
   model card: the source file and its sha256, what it was trained on, the channel order. `framecast runs` lists
   it; `--model dmvfn` and `--checkpoint` load it. The folder is complete or absent.

The key mapping, the authors' names (after `module.`) to framecast's, is the table `TABLE` below: one line per
kind of tensor, `{i}` a block (0..8), `{j}` a layer, `{p}` weight or bias; it is read both ways (framecast's names
back to the authors' for messages about missing tensors).
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import time
from pathlib import Path
from typing import Any

from framecast.errors import DataError, InputError, UsageError, unknown_name

#: The kinds of checkpoint `framecast import` reads (openstl: see `framecast.importing_openstl`).
KINDS = ("dmvfn", "openstl")

#: What each released DMVFN file was trained on, by --trained-on (the authors' README and training scripts).
TRAINED_ON = {
    "cityscapes": "Cityscapes driving sequences (the authors' dmvfn_city.pkl), 256x256 crops of 512x1024 frames",
    "kitti": "KITTI driving sequences (the authors' dmvfn_kitti.pkl), 256x256 crops of 256x832 frames",
    "ucf101": "UCF101 action videos, 256x256 crops",
    "vimeo": "the authors' file for DAVIS and Vimeo-90K (dmvfn_vimeo.pkl), trained on UCF101, 256x256 crops",
}

#: The authors' tensor names (after `module.`) and framecast's, one line per kind of tensor.
TABLE: tuple[tuple[str, str], ...] = (
    ("block{i}.conv0.{j}.0.{p}", "blocks.{i}.down.{j}.conv.{p}"),  # coarse encoder, two stride-2 convs (j 0, 1)
    ("block{i}.conv0.{j}.1.weight", "blocks.{i}.down.{j}.act.weight"),  # their PReLUs
    ("block{i}.convblock.{j}.0.{p}", "blocks.{i}.refine.{j}.conv.{p}"),  # the three refining convs (j 0..2)
    ("block{i}.convblock.{j}.1.weight", "blocks.{i}.refine.{j}.act.weight"),  # their PReLUs
    ("block{i}.conv_sq.0.{p}", "blocks.{i}.squeeze.conv.{p}"),  # squeeze to a quarter of the width
    ("block{i}.conv_sq.1.weight", "blocks.{i}.squeeze.act.weight"),
    ("block{i}.conv1.0.0.{p}", "blocks.{i}.side.0.conv.{p}"),  # full-resolution branch, stride 2
    ("block{i}.conv1.0.1.weight", "blocks.{i}.side.0.act.weight"),
    ("block{i}.convblock1.0.0.{p}", "blocks.{i}.side.1.conv.{p}"),  # full-resolution branch, second conv
    ("block{i}.convblock1.0.1.weight", "blocks.{i}.side.1.act.weight"),
    ("block{i}.lastconv.{p}", "blocks.{i}.head.{p}"),  # transposed conv: 4 flow channels and 1 mask
    ("routing.0.{p}", "router.conv_in.{p}"),  # routing conv 6 -> 32
    ("routing.2.{p}", "router.conv_out.{p}"),  # routing conv 32 -> 32
    ("l1.{p}", "router.score.{p}"),  # routing linear 32 -> 9
)

_GROUPS = {"{i}": r"(?P<i>\d+)", "{j}": r"(?P<j>\d+)", "{p}": r"(?P<p>weight|bias)"}


def _regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[ijp]\})", template)
    return re.compile("".join(_GROUPS.get(part, re.escape(part)) for part in parts))


_FORWARD = tuple((_regex(theirs), ours) for theirs, ours in TABLE)
_BACKWARD = tuple((_regex(ours), theirs) for theirs, ours in TABLE)


#: framecast tensors whose input channels are colour, and how many frames of colour lead them.
COLOUR_INPUTS = (
    (re.compile(r"blocks\.\d+\.(down\.0|side\.0)\.conv\.weight"), 4),  # a, b, warped a, warped b
    (re.compile(r"router\.conv_in\.weight"), 2),  # a, b
)

#: The frames the imported checkpoints were trained on: 256x256 crops, two frames in; the authors evaluate five
#: frames ahead on Cityscapes, KITTI and DAVIS. The model itself runs at any size.
SPEC = {"channels": 3, "height": 256, "width": 256, "context": 2, "horizon": 5, "content": "natural"}

#: Shown at most, per list of differing tensors.
SHOWN = 8


def import_checkpoint(kind: str, path: str | Path, name: str, trained_on: str | None = None) -> dict[str, Any]:
    """Import a released checkpoint of `kind` (see KINDS) as the run `name`: a JSON-ready report.

    Raises:
        UsageError: an unknown kind or --trained-on, a bad or taken run name.
        InputError, DataError: see :func:`import_dmvfn`.
    """
    if kind not in KINDS:
        raise unknown_name("kind", kind, KINDS)
    if kind != "dmvfn":
        raise UsageError(f"{kind} checkpoints are imported by framecast.importing_openstl.import_openstl")
    return import_dmvfn(path, name, trained_on)


def import_dmvfn(path: str | Path, name: str, trained_on: str | None = None) -> dict[str, Any]:
    """Import one of the authors' DMVFN checkpoints as the framecast run `dmvfn/<name>`; a JSON-ready report.

    Raises:
        UsageError: an unknown `trained_on`, a run name that is not a plain folder name or is taken.
        InputError: no such file, a pickle payload, not a state dict of tensors, or tensors that are missing,
            unexpected or misshapen (all listed).
        DataError: a damaged or truncated file.
    """
    if trained_on is not None and trained_on not in TRAINED_ON:
        raise unknown_name("training set", trained_on, tuple(TRAINED_ON))
    check_run_name("dmvfn", name)
    path = Path(path).expanduser()
    state, sha256 = read_state_dict(path)
    model = convert_dmvfn(state, path)
    card = {
        "source": path.name,
        "sha256": sha256,
        "bytes": path.stat().st_size,
        "origin": "megvii-research/CVPR2023-DMVFN (MIT licence): Hu et al., CVPR 2023",
        "trained_on": TRAINED_ON.get(trained_on or "", "not given (--trained-on)"),
        "channel_order": "rgb",
        "channel_order_note": "the authors feed BGR frames; their colour inputs were reordered to RGB on import",
    }
    data = {"name": trained_on or "unknown", "source": card["source"], "sha256": card["sha256"]}
    run = write_run(model, name, preset="base", spec=SPEC, data=data, card=card, extra={"channel_order": "rgb"})
    return {
        "run": f"dmvfn/{run.name}",
        "path": str(run),
        "weights": str(run / "best.safetensors"),
        "model": "dmvfn",
        "preset": "base",
        "parameters": sum(p.numel() for p in model.parameters()),
        "tensors": len(state),
        "trained_on": trained_on or "unknown",
        "card": card,
    }


def check_run_name(model: str, name: str) -> None:
    """Raise a UsageError for a run name that is not a plain folder name, or that `model` already has."""
    from framecast import paths

    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise UsageError(f"run name '{name}' is not a plain folder name", "use letters, digits, - and _")
    if (paths.runs_dir() / model / name).exists():
        raise UsageError(f"a {model} run named '{name}' exists", "pick another --name")


def read_state_dict(path: Path) -> tuple[dict[str, Any], str]:
    """The tensors of a `torch.save`d state dict, read with weights_only=True, keys without `module.`; and the
    file's sha256.

    Raises:
        InputError: no such file; a pickle payload; not a dict of tensors.
        DataError: a damaged or truncated file.
    """
    loaded, sha256 = read_checkpoint(path)
    state = tensors_only(path, loaded, "give the .pkl file the authors publish (a dict of tensor names to tensors)")
    return {k.removeprefix("module."): v for k, v in state.items()}, sha256


def read_checkpoint(path: Path) -> tuple[Any, str]:
    """What a `torch.save`d file holds, read with weights_only=True (tensors and plain containers only, so nothing
    in it runs); and the file's sha256.

    Raises:
        InputError: no such file; a pickle payload.
        DataError: a damaged or truncated file.
    """
    import torch

    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist or is not a file", "check the path")
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for bad files; none of its text is shown (see below)
        raise _load_error(path, exc) from None
    return loaded, sha256


def tensors_only(path: Path, loaded: Any, hint: str) -> dict[str, Any]:
    """`loaded` if it is a non-empty dict of names to tensors, else an InputError (with `hint`) saying what it is."""
    import torch

    if not isinstance(loaded, dict) or not loaded:
        raise InputError(
            f"{path} holds {'an empty dict' if loaded == {} else 'a ' + type(loaded).__name__}, not a state dict",
            hint,
        )
    bad = [str(k) for k, v in loaded.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise InputError(f"{path} is a dict but not of tensors only: {listed(bad)}", hint)
    return loaded


def _load_error(path: Path, exc: Exception) -> Exception:
    """The error for a file torch.load refused. torch's own text is not passed on: for a pickle payload it
    suggests loading the file with weights_only=False, which would run whatever the file carries."""
    import pickle

    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) and ("GLOBAL" in text or "global" in text.lower()):
        found = re.search(r"GLOBAL ([\w.]+)", text)
        what = f" ({found.group(1)})" if found else ""
        return InputError(
            f"{path} carries a pickle payload: objects other than tensors{what} that loading would have to run; "
            "it was not loaded",
            "use the checkpoint exactly as the authors publish it (a plain state dict); framecast never runs code "
            "from a checkpoint file",
        )
    return DataError(
        f"{path} is not a readable PyTorch checkpoint: it is truncated or damaged ({type(exc).__name__})",
        "download the file again and compare its sha256 with the source's",
    )


def map_name(theirs: str) -> str | None:
    """framecast's name for one of the authors' tensor names (without `module.`), or None if it has none."""
    return _translate(theirs, _FORWARD)


def their_name(ours: str) -> str:
    """The authors' name for one of framecast's dmvfn tensor names (itself if it has none)."""
    return _translate(ours, _BACKWARD) or ours


def _translate(name: str, table) -> str | None:
    for pattern, target in table:
        found = pattern.fullmatch(name)
        if found:
            return target.format(**found.groupdict())
    return None


def convert_dmvfn(state: dict[str, Any], path: Path):
    """framecast's `dmvfn` (base, RGB) holding the authors' tensors `state` (names without `module.`).

    Raises:
        InputError: tensors missing, unexpected or misshapen, all listed in the authors' names.
    """
    import torch

    from framecast.models import create_model

    model = create_model("dmvfn", "base", channels=3, height=SPEC["height"], width=SPEC["width"])
    wanted = model.state_dict()
    mapped = {theirs: map_name(theirs) for theirs in state}
    extra = sorted(t for t, ours in mapped.items() if ours is None or ours not in wanted)
    given = {ours: theirs for theirs, ours in mapped.items() if ours in wanted}
    missing = sorted(their_name(ours) for ours in wanted if ours not in given)
    misshapen = sorted(
        f"{theirs} {tuple(state[theirs].shape)} (expected {tuple(wanted[ours].shape)})"
        for ours, theirs in given.items()
        if tuple(state[theirs].shape) != tuple(wanted[ours].shape)
    )
    if extra or missing or misshapen:
        parts = [
            f"{label} {len(items)}: {listed(items)}"
            for label, items in (("missing", missing), ("unexpected", extra), ("misshapen", misshapen))
            if items
        ]
        raise InputError(
            f"{path} does not match DMVFN's published network ({len(wanted)} tensors); " + "; ".join(parts),
            "give one of the authors' released files (dmvfn_city.pkl, dmvfn_kitti.pkl, dmvfn_vimeo.pkl) unchanged",
        )
    converted = {ours: _to_rgb(ours, state[theirs].to(torch.float32)) for ours, theirs in given.items()}
    model.load_state_dict(converted, strict=True)
    return model.eval()


def _to_rgb(name: str, tensor):
    """Reverse the colour channels of each frame a first layer reads (BGR -> RGB); other tensors as they are."""
    import torch

    for pattern, frames in COLOUR_INPUTS:
        if pattern.fullmatch(name):
            order = [3 * f + c for f in range(frames) for c in (2, 1, 0)]
            order += list(range(3 * frames, tensor.shape[1]))
            return tensor[:, torch.tensor(order)].contiguous()
    return tensor.contiguous()


def listed(items: list[str]) -> str:
    """The first SHOWN items, comma-separated, and how many more."""
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def write_run(
    model, name: str, *, preset: str, spec: dict, data: dict, card: dict[str, Any], extra: dict | None = None
) -> Path:
    """The run `<runs>/<model name>/<name>/` with best.safetensors, then config.json (which makes it a run, status
    "finished", `imported`), carrying `card`; removed on any failure, so the folder is complete or absent."""
    from dataclasses import asdict

    from framecast._version import __version__
    from framecast.checkpoints import new_run_dir, save_weights, write_json

    config = asdict(model.config)
    kind = config["name"]
    run = new_run_dir(kind, name)
    try:
        meta = {"model": kind, "config": config, "spec": spec, "framecast": __version__, "which": "best"}
        save_weights(model, run / "best.safetensors", {**meta, "card": card})
        now = time.strftime("%Y-%m-%dT%H:%M:%S")
        document = {
            "framecast": __version__,
            "model": kind,
            "preset": preset,
            "config": config,
            "parameters": sum(p.numel() for p in model.parameters()),
            "spec": spec,
            "data": data,
            **(extra or {}),
            "card": card,
            "status": "finished",
            "imported": True,
            "started": now,
            "updated": now,
        }
        write_json(run / "config.json", document)
    except BaseException:
        shutil.rmtree(run, ignore_errors=True)
        raise
    return run
