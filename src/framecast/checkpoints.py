"""Checkpoints and runs: save, load and find them.

A run lives in ``<data dir>/runs/<model>/<run id>/`` and holds ``config.json``, ``best.safetensors``,
``last.safetensors``, ``state.pt``, ``metrics.csv`` and ``curves.png``. Weights are safetensors with the
model's name, config and data spec in the file's metadata, so a lone ``.safetensors`` file rebuilds its model.
Loading never unpickles anything: weights are safetensors and ``state.pt`` is read with ``weights_only=True``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framecast import _fs, paths
from framecast.errors import CheckpointError, InputError, UsageError

WEIGHT_FILES = ("best.safetensors", "last.safetensors")
METADATA_KEY = "framecast"


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model, ready for inference, and what it was trained on."""

    model: Any  # torch.nn.Module
    name: str  # registry name of the model
    config: dict[str, Any]  # the model's config
    spec: dict[str, int]  # channels, height, width, context, horizon
    path: Path  # the weights file
    run_dir: Path | None  # the run it came from, when it has one
    meta: dict[str, Any]  # the rest of the metadata (framecast version, epoch, metrics)


def save_weights(model: Any, path: Path, meta: dict[str, Any]) -> None:
    """Atomically write a model's weights as safetensors with `meta` (JSON) in the file's metadata."""
    from safetensors.torch import save_file

    module = getattr(model, "module", model)  # unwrap DDP / compiled models
    module = getattr(module, "_orig_mod", module)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    with _fs.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(meta, default=str)})
        _fs.usual_mode(tmp)  # safetensors creates its file private (0600); a checkpoint is as readable as any file


def read_meta(path: Path) -> dict[str, Any]:
    """The framecast metadata of a safetensors file, without loading its tensors.

    Raises:
        CheckpointError: when the file is not a readable safetensors file or not framecast's.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(METADATA_KEY)
    except Exception as exc:  # safetensors raises its own error types for damaged headers
        raise CheckpointError(
            f"{path} is not a readable safetensors checkpoint ({type(exc).__name__}: {exc})",
            "the file is corrupt or of another kind; train again or point at another checkpoint",
        ) from None
    if raw is None:
        raise CheckpointError(
            f"{path} is a safetensors file but not a framecast checkpoint (no framecast metadata)",
            "give a .safetensors file written by `framecast train`",
        )
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise CheckpointError(f"{path} has damaged framecast metadata", "train again") from None


def load_checkpoint(path: Path, device: str | Any = "cpu") -> Checkpoint:
    """Rebuild a model from a weights file (or a run folder, taking its best weights) and load its weights.

    Raises:
        InputError: the path does not exist.
        CheckpointError: the file is corrupt, not framecast's, or does not fit its model.
    """
    import torch
    from safetensors.torch import load_file

    from framecast.models import model_from_config

    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"checkpoint {path} does not exist", "check the path, or use --model NAME")
    run_dir = None
    if path.is_dir():
        run_dir = path
        path = next((path / f for f in WEIGHT_FILES if (path / f).is_file()), None)
        if path is None:
            raise CheckpointError(f"{run_dir} holds no weights ({', '.join(WEIGHT_FILES)})", "train it first")
    elif (path.parent / "config.json").is_file():
        run_dir = path.parent
    meta = read_meta(path)
    try:
        name, config, spec = meta["model"], meta["config"], meta["spec"]
    except KeyError as exc:
        raise CheckpointError(f"{path} lacks '{exc.args[0]}' in its metadata", "train again") from None
    model = model_from_config(name, config)
    try:
        state = load_file(str(path))
    except Exception as exc:
        raise CheckpointError(f"{path} is corrupt ({type(exc).__name__}: {exc})", "train again") from None
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"{path} does not fit a {name} model ({first})", "train again") from None
    model.to(torch.device(device) if isinstance(device, str) else device).eval()
    from framecast.models.self_check import from_meta

    model.self_check = from_meta(meta.get("self_check"), str(path))
    from framecast.models import views

    model.views = views.from_meta(meta.get("views"), str(path))
    return Checkpoint(model=model, name=name, config=config, spec=spec, path=path, run_dir=run_dir, meta=meta)


# ---------------------------------------------------------------------------------------------------- runs


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The config.json of a run ({} when missing, unreadable or not a JSON object: a damaged file says nothing)."""
    try:
        config = json.loads((Path(run_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def list_runs(model: str | None = None) -> list[Path]:
    """Run folders, newest first (by the time their config.json was last written)."""
    root = paths.runs_dir()
    if not root.is_dir():
        return []
    pattern = f"{model}/*" if model else "*/*"
    runs = [p for p in root.glob(pattern) if (p / "config.json").is_file()]
    return sorted(runs, key=lambda p: (p / "config.json").stat().st_mtime, reverse=True)


def resolve_run(ref: str, model: str | None = None) -> Path:
    """A run named by path, by `<model>/<id>`, or by id alone (searched among all models).

    Raises:
        UsageError: when nothing matches or the id is ambiguous.
    """
    path = Path(ref).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path
    root = paths.runs_dir()
    candidates = [root / ref] if "/" in ref else [p for p in root.glob(f"{model or '*'}/{ref}") if p.is_dir()]
    candidates = [c for c in candidates if (c / "config.json").is_file()]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        unborn = root / ref if "/" in ref else None
        if unborn is not None and unborn.is_dir() and (unborn / ".lock").exists():
            raise UsageError(
                f"the run {ref} was stopped before it recorded anything, so there is nothing to resume",
                "start it again with the command that began it (the same --name is free)",
            )
        raise UsageError(f"no run named '{ref}'", "list runs with `framecast runs`")
    raise UsageError(f"'{ref}' names several runs", "give it as <model>/<run id>")


def new_run_dir(model: str, name: str | None) -> Path:
    """A fresh run folder: `name` if given (it must be new), else the current time."""
    root = paths.ensure(paths.runs_dir() / model)
    if not name:
        return paths.new_stamped_dir(root)
    if "/" in name or name.startswith("."):
        raise UsageError(f"run name '{name}' is not a plain folder name", "use letters, digits, - and _")
    run = root / name
    try:
        run.mkdir()
    except FileExistsError:
        if (run / "config.json").is_file() or any(p.name == "COMMITTED" for p in run.iterdir()):
            raise UsageError(f"a {model} run named '{name}' exists", "pick another --name, or --resume it") from None
        # a run killed while it wrote its very first file recorded nothing: starting it again is starting it
    return run


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Atomically write a JSON document."""
    _fs.write_text(path, json.dumps(document, indent=2, default=str) + "\n")


#: Checkpoints that ship inside the package: `<model>-<preset>.safetensors` beside a JSON record of each.
PRETRAINED_DIR = Path(__file__).parent / "pretrained"


def shipped_records(model: str | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """The checkpoints shipped with framecast (of one model, or all): each weights file and its JSON record."""
    found = []
    for record in sorted(PRETRAINED_DIR.glob("*.json")):
        meta = json.loads(record.read_text())
        if model is None or meta.get("model") == model:
            found.append((PRETRAINED_DIR / meta["file"], meta))
    return found


def origin(path: Path) -> str:
    """How `--model NAME` came to a weights file, for people and for --json."""
    path = Path(path)
    if path.parent == PRETRAINED_DIR:
        record = next((m for w, m in shipped_records() if w == path), {})
        spec = record.get("spec") or {}
        kind = {"digits": "Moving MNIST digits", "natural": "natural video"}.get(
            content_of(spec, (record.get("data") or {}).get("name")), "its own data"
        )
        colour = "colour" if spec.get("channels") == 3 else "grey"
        return f"the checkpoint shipped with framecast for {kind} ({colour})"
    return "the newest finished run"


@dataclass
class Resolved:
    """A loaded checkpoint and how it was chosen ("--model predrnn: the newest finished run")."""

    checkpoint: Checkpoint
    chosen_by: str


def resolve(
    *,
    model: str | None = None,
    checkpoint: str | Path | None = None,
    device: str | Any = "cpu",
    flag: str = "--model",
    want: Want | None = None,
) -> Resolved:
    """The checkpoint a command was asked for, loaded: `model` (a registry name, see :func:`resolve_model`) or
    `checkpoint` (a weights file or a run folder), exactly one of them. `want` says what the input is like, so
    that a model name picks a checkpoint that fits it.

    Raises:
        UsageError: both or neither given, an unknown model name.
        InputError, CheckpointError: a missing, damaged or foreign checkpoint.
    """
    if (model is None) == (checkpoint is None):
        raise UsageError(
            f"give {flag} NAME or --checkpoint PATH" + (", not both" if model is not None else ""),
            f"{flag} NAME uses the best weights of the newest finished run of that model",
        )
    if model is not None:
        weights = resolve_model(model, want)
        return Resolved(load_checkpoint(weights, device), f"{flag} {model}: {origin(weights)}")
    path = Path(checkpoint).expanduser()
    if not path.exists() and (weights := shipped_weights(checkpoint)) is not None:
        return Resolved(load_checkpoint(weights, device), f"--checkpoint {checkpoint}: {origin(weights)}")
    return Resolved(load_checkpoint(path, device), "given with --checkpoint")


def resolve_ref(ref: str | Path, device: str | Any = "cpu") -> Resolved:
    """A checkpoint named any way a person names one: a weights file or run folder, a model name (its newest
    finished run, else the shipped checkpoint), or a run as `framecast runs` lists it (`convlstm/tiny`).

    Raises:
        UsageError: nothing of that name; InputError, CheckpointError: a damaged checkpoint.
    """
    from framecast.models import list_models

    path = Path(ref).expanduser()
    if path.exists():
        return Resolved(load_checkpoint(path, device), f"the checkpoint {path}")
    if str(ref) in list_models():
        return resolve(model=str(ref), device=device, flag="model")
    if (weights := shipped_weights(ref)) is not None:
        return Resolved(load_checkpoint(weights, device), f"{ref}: {origin(weights)}")
    run = resolve_run(str(ref))
    return Resolved(load_checkpoint(run, device), f"the run {run.parent.name}/{run.name}")


def find_resumable(ref: str, model: str | None = None) -> Path:
    """The run `--resume` means: the newest unfinished run (of `model`) for "latest", else the run named.

    Raises:
        UsageError: no unfinished run, or no run of that name.
    """
    from framecast.runfiles import committed, writer_pid

    if ref != "latest":
        return resolve_run(ref, model)
    for run in list_runs(model):
        config = read_run_config(run)
        unfinished = config.get("status") in ("running", "interrupted")
        resumable = committed(run) is not None or isinstance(config.get("options"), dict)
        # a run another process is training right now is not "unfinished": it is busy
        if unfinished and resumable and writer_pid(run) is None:
            return run
    raise UsageError(
        f"no unfinished {model + ' ' if model else ''}run to resume",
        "start one with `framecast train --model NAME`, or name a run: --resume MODEL/RUN",
    )


def run_summaries(model: str | None = None) -> list[dict[str, Any]]:
    """Runs, newest first, then the shipped checkpoints (status "shipped"), which `--model NAME` falls back to:
    what `framecast runs` lists.

    Raises:
        UsageError: an unknown model name (as `framecast models --model` refuses it).
    """
    if model is not None:
        from framecast.errors import unknown_name
        from framecast.models import list_models

        if model not in list_models():
            raise unknown_name("model", model, tuple(list_models()))
    rows = [_run_row(run) for run in list_runs(model)]
    return rows + [_shipped_row(weights, meta) for weights, meta in shipped_records(model)]


def _run_row(run: Path) -> dict[str, Any]:
    c = read_run_config(run)
    history = c.get("history") or []
    last_val = history[-1].get("val", {}) if history else {}
    best_epoch = c.get("best", {}).get("epoch")
    best_val = next((h["val"] for h in history if h.get("epoch") == best_epoch), last_val)
    return {
        "run": f"{c.get('model', run.parent.name)}/{run.name}",
        "path": str(run),
        "model": c.get("model"),
        "preset": c.get("preset"),
        "status": c.get("status"),
        "spec": c.get("spec"),
        "data": c.get("data", {}).get("name"),
        "epochs": c.get("epochs_done"),
        "steps": c.get("steps_done"),
        "train_seconds": c.get("train_seconds"),
        "parameters": c.get("parameters"),
        "best_epoch": best_epoch,
        "best": best_val,
        "updated": c.get("updated"),
    }


def shipped_name(weights: Path, meta: dict[str, Any]) -> str:
    """How `framecast runs` and the page name a shipped checkpoint: `vit/shipped` for the digits one, and
    `vit/shipped-scenes`, `vit/shipped-scenes-rgb` for those of natural video (what the file's name adds)."""
    kind = weights.stem.removeprefix(f"{meta['model']}-{meta.get('preset')}")
    return f"{meta['model']}/shipped{kind}"


def shipped_weights(ref: str | Path) -> Path | None:
    """The weights of the shipped checkpoint named `ref` as `framecast runs` lists it (`vit/shipped-scenes`), or
    None: so that a shipped checkpoint is named the same way wherever a run may be (--checkpoint, --init, load)."""
    return next((w for w, meta in shipped_records() if shipped_name(w, meta) == str(ref)), None)


def _shipped_row(weights: Path, meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "run": shipped_name(weights, meta),
        "path": str(weights),
        "model": meta["model"],
        "preset": meta.get("preset"),
        "status": "shipped",
        "spec": meta.get("spec"),
        "data": meta.get("data", {}).get("name"),
        "epochs": meta.get("epochs"),
        "steps": meta.get("steps"),
        "train_seconds": meta.get("train_seconds"),
        "parameters": meta.get("parameters"),
        "best_epoch": meta.get("best", {}).get("epoch"),
        "best": meta.get("val"),
        "updated": None,
        "test": meta.get("test", {}).get("scores", {}).get(meta["model"]),
    }


@dataclass(frozen=True)
class Want:
    """What the input of a command is like, so that `--model NAME` can pick a checkpoint that fits it."""

    content: str | None = None  # "digits" (Moving MNIST) or "natural" (video); None: any
    channels: int | None = None  # 1 grey, 3 colour; None: any


def content_of(spec: dict[str, Any] | None, data_name: str | None = None) -> str:
    """What a checkpoint learnt from: "digits", "natural" or "unknown" (its spec says; older ones by data name)."""
    content = (spec or {}).get("content")
    if content and content != "unknown":
        return content
    name = str(data_name or "")
    if name.startswith("moving-mnist"):
        return "digits"
    if name == "moving-scenes":
        return "natural"
    return content or "unknown"


def checkpoint_content(ckpt: Checkpoint) -> str:
    """What a loaded checkpoint learnt from: its spec, else its shipped record or its run's data name."""
    data_name = None
    if ckpt.path.parent == PRETRAINED_DIR:
        data_name = next(((m.get("data") or {}).get("name") for w, m in shipped_records() if w == ckpt.path), None)
    elif ckpt.run_dir is not None:
        data_name = (read_run_config(ckpt.run_dir).get("data") or {}).get("name")
    return content_of(ckpt.spec, data_name)


def _candidates(name: str) -> list[tuple[Path, dict[str, Any], str]]:
    """The weights `--model NAME` may mean, in order of preference: the user's finished runs, newest first, then
    the checkpoints shipped with framecast; each with its spec and what it learnt from."""
    found = []
    for run in list_runs(name):
        config = read_run_config(run)
        if config.get("status") in ("finished", "stopped early") and (run / WEIGHT_FILES[0]).is_file():
            spec = config.get("spec") or {}
            found.append((run / WEIGHT_FILES[0], spec, content_of(spec, (config.get("data") or {}).get("name"))))
    for weights, meta in shipped_records(name):
        spec = meta.get("spec") or {}
        found.append((weights, spec, content_of(spec, (meta.get("data") or {}).get("name"))))
    return found


def _fit(spec: dict[str, Any], content: str, want: Want) -> int:
    """How well a checkpoint fits the input: 2 content and channels, 1 content alone, 0 neither."""
    content_ok = want.content is None or content == want.content
    channels_ok = want.channels is None or spec.get("channels") == want.channels
    return 2 if content_ok and channels_ok else 1 if content_ok else 0


def resolve_model(name: str, want: Want | None = None) -> Path:
    """The weights `--model NAME` means: the best checkpoint of the newest finished run of that model, else a
    checkpoint shipped with framecast. With `want`, one that fits the input comes first: learnt from the same
    kind of frames (digits or natural video), then with the same channels (see :func:`origin`).

    Raises:
        UsageError: for an unknown model name.
        CheckpointError: when there is neither, saying how to train one.
    """
    from framecast.errors import unknown_name
    from framecast.models import list_models

    if name not in list_models():
        raise unknown_name("model", name, tuple(list_models()))
    found = _candidates(name)
    if not found:
        raise CheckpointError(
            f"no finished {name} run to use, and no {name} checkpoint ships with framecast",
            f"train one with `framecast train --model {name}`, or give --checkpoint PATH",
        )
    want = want or Want()
    # the user's own runs before shipped checkpoints; among shipped ones, with the channels unknown (a bare name
    # in the Python API), grey first, as everywhere else by default: a family that ships grey and colour
    # checkpoints must not give colour for the order its files sort in
    grey_first = want.channels is None

    def preference(i: int) -> tuple[int, bool, bool, int]:
        weights, spec, content = found[i]
        own = weights.parent != PRETRAINED_DIR
        return _fit(spec, content, want), own, grey_first and spec.get("channels") == 1, -i

    return found[max(range(len(found)), key=preference)][0]
