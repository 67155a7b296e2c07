"""`framecast train`: train a model, with checkpoints, resume, mixed precision and DDP.

The command's options are made from the fields of :class:`framecast.training.options.TrainOptions` (flag, help,
default, bounds), so each is declared once; only the ones that are not training options (--set, --resume, the
output switches) are written here.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Optional

import typer

from framecast.cli._common import Json, Quiet, examples

HELP = "Train a model on a dataset; checkpoints, resume, mixed precision, several processes."

EPILOG = examples(
    "framecast train --model convlstm --preset tiny --epochs 2",
    "framecast train --model predrnn --epochs 20 --precision auto --patience 3",
    "framecast train --model convlstm --data clips/ --context 30 --horizon 15 --loss mse+0.1*gdl",
    "framecast train --resume                      # the newest unfinished run",
    "framecast train --model convlstm --devices 2  # two processes (DDP)",
    "framecast train --model simvp --time-limit 30m  # schedules span 30 minutes",
)

#: How a field's value is typed on the command line, where that differs from the field (parsed in _given).
_TEXT_FIELDS = {"size": str, "classes": str, "time_limit": str}
#: Epochs of a time-limited run given no --epochs: more than any limit can use, so that the time decides.
_UNCAPPED_EPOCHS = 1_000_000
_EXTRA = {
    "set_": Annotated[Optional[list[str]], typer.Option("--set", help="A model option, KEY=VALUE (repeatable).")],
    "resume": Annotated[
        Optional[str], typer.Option("--resume", help="Continue the newest unfinished run, or the one named.")
    ],
    "json_out": Json,
    "quiet": Quiet,
}


def _annotation(f: Any) -> Any:
    """The typer annotation of a TrainOptions field: its flag, help with the default filled in, its bounds."""
    from framecast.training.options import default_of

    meta = f.metadata
    flags = meta["flags"] or (f"--{f.name.replace('_', '-')}",)
    default = default_of(f)
    help_text = meta["help"] + (f" (default: {default:g})" if isinstance(default, float) else "")
    if default not in (None, False) and not isinstance(default, float):
        help_text += f" (default: {default})"
    kind = {"bool": bool, "int": int, "float": float}.get(_base_type(f.type), str)
    kind = _TEXT_FIELDS.get(f.name, kind)
    option = typer.Option(*flags, help=help_text, min=meta["min"], max=meta["max"], show_default=False)
    return Annotated[Optional[kind], option]


def _base_type(annotation: Any) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return text.split("|")[0].strip().split("[")[0]


def _signature() -> tuple[inspect.Signature, dict[str, Any]]:
    from framecast.training.options import option_fields

    annotations = {f.name: _annotation(f) for f in option_fields()}
    annotations.update(_EXTRA)
    params = [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=a) for n, a in annotations.items()
    ]
    return inspect.Signature(params), annotations


def parse_set(items: list[str]) -> dict[str, Any]:
    """`--set hidden=64 --set peephole=true` -> {'hidden': 64, 'peephole': True}."""
    import json

    from framecast.errors import UsageError

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set '{item}' is not KEY=VALUE", "for example --set layers=3")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw.lower() if raw.lower() in ("true", "false", "null") else raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip().replace("-", "_")] = value
    return out


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The training options typed on the command line, in the types TrainOptions holds."""
    from framecast.cli._common import parse_classes, parse_size

    given = {k: v for k, v in values.items() if v is not None and k not in _EXTRA}
    if "size" in given:
        given["size"] = list(parse_size(given["size"]))
    if "classes" in given:
        given["classes"] = parse_classes(given["classes"])
    if "time_limit" in given:
        from framecast.training.options import parse_duration

        given["time_limit"] = parse_duration(given["time_limit"], "--time-limit")
    if given.get("clip_grad") == 0:
        given["clip_grad"] = None  # 0 turns clipping off
    if given.get("compile") is False:
        del given["compile"]
    return given


def _options(given: dict[str, Any], sets: list[str], resume: str | None):
    """The options to train with, and the run to resume (or None)."""
    from framecast.errors import UsageError, unknown_name
    from framecast.training.options import TrainOptions

    if resume is not None:
        from framecast.checkpoints import find_resumable
        from framecast.training.launch import resume_options

        run_dir = find_resumable(resume, given.get("model"))
        return resume_options(run_dir, given), run_dir
    if "time_limit" in given:
        given.setdefault("epochs", _UNCAPPED_EPOCHS)
    if "model" not in given:
        raise UsageError("--model is required", "for example --model convlstm (see `framecast models`)")
    from framecast.models import list_models

    if given["model"] not in list_models():
        raise unknown_name("model", given["model"], tuple(list_models()))
    return TrainOptions(**given, overrides=parse_set(sets)), None


def command(**values: Any) -> None:
    from framecast.cli import _output
    from framecast.cli._progress import TrainProgress
    from framecast.training.launch import train

    json_out, quiet = bool(values.get("json_out")), bool(values.get("quiet"))
    options, resume_dir = _options(_given(values), values.get("set_") or [], values.get("resume"))
    with TrainProgress(enabled=not (quiet or json_out) and _output.show_progress()) as progress:

        def on_epoch(record) -> None:
            if not _output.show_progress() or quiet or json_out:
                v = record.val
                _output.log(
                    f"epoch {record.epoch}: loss {record.train_loss:.4f}, val mse {v.get('mse', float('nan')):.2f}, "
                    f"ssim {v.get('ssim', float('nan')):.4f} ({record.seconds:.1f} s)"
                )

        summary = train(options, resume_dir=resume_dir, on_step=progress.step, on_epoch=on_epoch)
    if summary.get("rank", 0) != 0:  # started by torchrun: rank 0 alone reports
        return
    _report(summary, json_out=json_out, quiet=quiet)


command.__signature__, command.__annotations__ = _signature()


def _report(summary: dict, *, json_out: bool, quiet: bool) -> None:
    from framecast.cli import _output

    if json_out:
        _output.emit_json(summary)
    elif quiet:
        _output.emit_paths(summary["run"])
    else:
        _output.out().print(_history_table(summary))
        best = summary["best"]
        _output.out().print(
            f"{summary['status']}: {_epochs_text(summary)}, {summary['steps']} steps in "
            f"{summary['train_seconds']:.0f} s; best val {best['metric']} {best['value']:.3f} at epoch {best['epoch']}"
            f"\nrun: {summary['run']}",
            highlight=False,
        )


def _epochs_text(summary: dict) -> str:
    """The epochs a run trained: whole ones, and the one a step count or time limit stopped it inside, whose
    provisional record ends the history (and may hold the best weights; --resume finishes it)."""
    done = summary["epochs"]
    text = f"{done} epoch" + ("" if done == 1 else "s")
    history = summary.get("history") or []
    if history and history[-1]["epoch"] > done:
        return f"{text} and part of epoch {history[-1]['epoch']}"
    return text


def _history_table(summary: dict):
    from framecast.cli import _output

    t = _output.table(
        f"{summary['model']} ({summary['preset']}) on {summary['device']}, {summary['precision']}",
        ["epoch", "step", "train loss", "val mse", "val mae", "val psnr", "val ssim", "lr", "s", "data wait"],
    )
    for h in summary["history"]:
        v = h["val"]
        t.add_row(
            str(h["epoch"]),
            str(h["step"]),
            f"{h['train_loss']:.4f}",
            f"{v.get('mse', float('nan')):.2f}",
            f"{v.get('mae', float('nan')):.2f}",
            f"{v.get('psnr', float('nan')):.2f}",
            f"{v.get('ssim', float('nan')):.4f}",
            f"{h['lr']:.2e}",
            f"{h['seconds']:.1f}",
            f"{100 * h['data_wait_share']:.1f}%",
        )
    return t


def register(app: typer.Typer) -> None:
    app.command("train", help=HELP, epilog=EPILOG)(command)
