"""The work behind `framecast train`: options from the command line or a run to resume, progress, training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framecast.errors import UsageError

#: What a resumed run may change; everything else comes from the run's config.json.
RESUMABLE = ("epochs", "max_steps", "patience", "workers", "device")


def parse_set(items: list[str]) -> dict[str, Any]:
    """`--set hidden=64 --set peephole=true` -> {'hidden': 64, 'peephole': True}."""
    import json

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


def _resume_target(ref: str, model: str | None) -> Path:
    from framecast.checkpoints import list_runs, read_run_config, resolve_run

    if ref != "latest":
        return resolve_run(ref, model)
    for run in list_runs(model):
        if read_run_config(run).get("status") in ("running", "interrupted") and (run / "state.pt").is_file():
            return run
    raise UsageError(
        f"no unfinished {model + ' ' if model else ''}run to resume",
        "start one with `framecast train --model NAME`, or name a run: --resume MODEL/RUN",
    )


def run_training(given: dict[str, Any], sets: list[str], resume: str | None, *, quiet: bool) -> dict[str, Any]:
    from framecast.checkpoints import read_run_config
    from framecast.cli import _output
    from framecast.training import TrainOptions, train

    given = {k: v for k, v in given.items() if v is not None}
    resume_dir = None
    if resume is not None:
        resume_dir = _resume_target(resume, given.get("model"))
        config = read_run_config(resume_dir)
        options = TrainOptions.from_dict(config.get("options", {}))
        for key in RESUMABLE:
            if key in given:
                setattr(options, key, given[key])
        _output.log(
            f"resuming {resume_dir} at epoch {config.get('epochs_done', 0)}, step {config.get('steps_done', 0)}"
        )
    else:
        if "model" not in given:
            raise UsageError("--model is required", "for example --model convlstm (see `framecast models`)")
        from framecast.models import list_models

        if given["model"] not in list_models():
            from framecast.errors import unknown_name

            raise unknown_name("model", given["model"], tuple(list_models()))
        options = TrainOptions.from_dict(given)
        options.overrides = parse_set(sets)

    from framecast.cli._progress import TrainProgress

    with TrainProgress(enabled=not quiet and _output.show_progress()) as progress:

        def on_epoch(record) -> None:
            v = record.val
            if not _output.show_progress() or quiet:
                _output.log(
                    f"epoch {record.epoch}: loss {record.train_loss:.4f}, val mse {v.get('mse', float('nan')):.2f}, "
                    f"ssim {v.get('ssim', float('nan')):.4f} ({record.seconds:.1f} s)"
                )

        return train(options, resume_dir=resume_dir, on_step=progress.step, on_epoch=on_epoch, log=_output.log)
