"""Running a training: in this process, in `--devices N` local processes, or as one rank of a torchrun job.

:func:`train` is what `framecast train` (and a notebook) calls. With `--devices N` it spawns N processes that
train one run together (DDP); rank 0 sends its progress back through a queue, so the caller's callbacks see
every step and epoch just as in a single-process run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from framecast.training.options import TrainOptions, resumable

log = logging.getLogger("framecast")

StepCallback = Callable[[int, int, float, float], None]
EpochCallback = Callable[[Any], None]


def resume_options(run_dir: Path, given: dict[str, Any]) -> TrainOptions:
    """The options of the run in `run_dir`, with the few that a resumed run may change taken from `given`.

    Raises:
        CheckpointError: a config.json that is missing its options or holds keys this version does not know.
    """
    from framecast.checkpoints import read_run_config
    from framecast.errors import CheckpointError

    config = read_run_config(run_dir)
    stored = config.get("options") if isinstance(config, dict) else None
    if not isinstance(stored, dict):
        raise CheckpointError(
            f"{run_dir / 'config.json'} holds no training options", "the run cannot be resumed; start a new one"
        )
    options = TrainOptions.from_dict(stored)
    for key in resumable():
        if given.get(key) is not None:
            setattr(options, key, given[key])
    log.info("resuming %s at epoch %s, step %s", run_dir, config.get("epochs_done", 0), config.get("steps_done", 0))
    return options


def _finish(trainer) -> dict[str, Any]:
    """Run `trainer` and record, on rank 0, the weight digest of every rank."""
    from framecast.checkpoints import read_run_config, write_json
    from framecast.training.distributed import gather_objects

    summary = trainer.fit()
    digests = gather_objects(trainer.weights_digest(), trainer.dist)
    if trainer.dist.main:
        config = read_run_config(trainer.run_dir)
        config["rank_weight_digests"] = digests
        write_json(trainer.run_dir / "config.json", config)
    summary["rank_weight_digests"] = digests
    return summary


def train(
    options: TrainOptions,
    *,
    resume_dir: Path | None = None,
    on_step: StepCallback | None = None,
    on_epoch: EpochCallback | None = None,
) -> dict[str, Any]:
    """Train as `options` say, in this process, in `--devices` local processes, or as a torchrun rank.

    Args:
        options: what to train and how.
        resume_dir: continue this run from its saved state (see :func:`resume_options`).
        on_step: called with (step, total steps, loss, steps per second) after each step of rank 0.
        on_epoch: called with each epoch's record (an EpochRecord) on rank 0.

    Returns:
        The run's summary (rank 0's view): run folder, status, epochs, steps, best metric, history, the weight
        digest of every rank.
    """
    from framecast.training.distributed import launched_by_torchrun

    if launched_by_torchrun():
        return _train_as_rank(options, resume_dir, on_step, on_epoch)
    if options.devices <= 1:
        from framecast.training.trainer import Trainer

        trainer = Trainer(
            options, run_dir=resume_dir, resume=resume_dir is not None, on_step=on_step, on_epoch=on_epoch
        )
        return _finish(trainer)
    return _train_spawned(options, resume_dir, on_step, on_epoch)


def _train_as_rank(options, resume_dir, on_step, on_epoch) -> dict[str, Any]:
    """One rank of a torchrun job: every rank trains; rank 0 writes the run and reports."""
    from framecast.devices import pick_device
    from framecast.training.distributed import require_gpus, setup, teardown

    rank, world, local_rank = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    device_type = pick_device(options.device).type
    if device_type == "cuda":
        require_gpus(
            local_rank + 1,
            f"torchrun started a process with LOCAL_RANK {local_rank}",
            "give torchrun --nproc-per-node no larger than the GPU count, or use --device cpu",
        )
    info = setup(rank, world, local_rank, device_type)
    try:
        resume_dir = _elastic_resume(options, resume_dir, info)
        summary = _fit_rank(options, resume_dir, resume_dir is not None, info, on_step=on_step, on_epoch=on_epoch)
        return {**summary, "rank": info.rank}
    finally:
        teardown(info)


def _fit_rank(options, run_dir, resume: bool, info, *, on_step, on_epoch) -> dict[str, Any]:
    """Train as one rank of a group and report. The trainer lives only in this call: its DDP wrapper holds the
    process group, whose threads must be joined at `teardown`, not left to the interpreter's exit."""
    from framecast.training.trainer import Trainer

    trainer = Trainer(options, run_dir=run_dir, resume=resume, dist=info, on_step=on_step, on_epoch=on_epoch)
    return _finish(trainer)


def elastic_restart() -> int:
    """How many times torchrun has restarted this job's workers (`--max-restarts`); 0 on the first attempt."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)


def _elastic_resume(options: TrainOptions, resume_dir: Path | None, info) -> Path | None:
    """The run to resume: `resume_dir`, or on an elastic restart the run the failed attempt began.

    torchrun restarts its workers with the very command that started them; a restart must continue the run that
    attempt committed, never start another. Rank 0 finds it (the newest unfinished run of the model that records
    this torchrun job's id) and tells the other ranks; no run means the attempt died before writing one.
    """
    from framecast.training.distributed import broadcast_object

    if resume_dir is not None or elastic_restart() == 0:
        return resume_dir
    found = _run_of_job(options) if info.main else None
    found = broadcast_object(found, info)
    if found is not None and info.main:
        log.info("elastic restart %d: continuing %s", elastic_restart(), found)
    return found


def _run_of_job(options: TrainOptions) -> Path | None:
    from framecast.checkpoints import list_runs, read_run_config

    job = os.environ.get("TORCHELASTIC_RUN_ID")
    given = {k: v for k, v in asdict(options).items() if v is not None and k not in ("overrides", *resumable())}
    for run in list_runs(options.model):  # newest first
        config = read_run_config(run)
        stored = config.get("options") if isinstance(config.get("options"), dict) else {}
        same = all(stored.get(k) == v for k, v in given.items())  # the same command, not another job's run
        if same and config.get("elastic_run_id") == job and config.get("status") in ("running", "interrupted"):
            return run
    return None


def _worker(rank: int, world: int, options: dict[str, Any], run_dir: str, resume: bool, threads: int, queue) -> None:
    """One process of a `--devices N` run (started by torch.multiprocessing); rank 0 reports through `queue`."""
    import torch

    from framecast.devices import pick_device
    from framecast.training.distributed import setup, teardown

    torch.set_num_threads(threads)
    opts = TrainOptions.from_dict(options)
    info = setup(rank, world, rank, pick_device(opts.device).type)
    if rank == 0:
        _forward_logs(queue)
    try:
        _fit_rank(
            opts,
            Path(run_dir),
            resume,
            info,
            on_step=lambda *args: queue.put(("step", args)),
            on_epoch=lambda record: queue.put(("epoch", record)),
        )
    finally:
        teardown(info)


class _QueueHandler(logging.Handler):
    def __init__(self, queue) -> None:
        super().__init__(logging.INFO)
        self.queue = queue

    def emit(self, record: logging.LogRecord) -> None:
        self.queue.put(("log", (record.levelno, record.getMessage())))


def _forward_logs(queue) -> None:
    logger = logging.getLogger("framecast")
    logger.addHandler(_QueueHandler(queue))
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _train_spawned(options, resume_dir, on_step, on_epoch) -> dict[str, Any]:
    """`--devices N`: N local processes, one run, progress and log lines relayed from rank 0."""
    import torch.multiprocessing as mp

    from framecast.checkpoints import new_run_dir
    from framecast.devices import pick_device
    from framecast.training.distributed import free_port, require_gpus

    world = options.devices
    device = pick_device(options.device)
    if device.type == "cuda":
        require_gpus(world, f"--devices {world} asks for {world} GPUs", "lower --devices, or use --device cpu")
    run_dir = resume_dir or new_run_dir(options.model, options.name)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ["MASTER_PORT"] = str(free_port())
    threads = max(1, (os.cpu_count() or 1) // world) if device.type == "cpu" else 1
    queue = mp.get_context("spawn").SimpleQueue()
    args = (world, asdict(options), str(run_dir), resume_dir is not None, threads, queue)
    context = mp.start_processes(_worker, args=args, nprocs=world, join=False, start_method="spawn")
    failed = _supervise(context, queue, on_step, on_epoch)
    return _spawned_result(options, run_dir, failed)


def _relay(queue, on_step, on_epoch) -> None:
    """Hand what rank 0 sent to this process's callbacks and logger."""
    while not queue.empty():
        kind, payload = queue.get()
        if kind == "step" and on_step is not None:
            on_step(*payload)
        elif kind == "epoch" and on_epoch is not None:
            on_epoch(payload)
        elif kind == "log":
            log.log(payload[0], "%s", payload[1])


def _supervise(context, queue, on_step, on_epoch) -> BaseException | None:
    """Wait for the processes, relaying rank 0's progress, passing a scheduler's SIGTERM on to them."""
    import signal

    def forward(signum, _frame):  # a scheduler's SIGTERM reaches this process only: pass it on
        for p in context.processes:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                done = context.join(timeout=0.2)
                _relay(queue, on_step, on_epoch)
                if done:
                    return None
            except KeyboardInterrupt:  # children got the Ctrl-C too; wait for them to save
                continue
            except Exception as exc:  # a child failed: its state says why
                _relay(queue, on_step, on_epoch)
                return exc
    finally:
        signal.signal(signal.SIGTERM, previous)


def _spawned_result(options: TrainOptions, run_dir: Path, failed: BaseException | None) -> dict[str, Any]:
    from framecast.checkpoints import read_run_config
    from framecast.errors import FramecastError
    from framecast.training.trainer import Interrupted, summary_from_config

    config = read_run_config(run_dir)
    if config.get("status") == "interrupted":
        raise Interrupted(
            f"training interrupted at step {config.get('steps_done')}; state saved in {run_dir}",
            f"continue with `framecast train --resume {options.model}/{run_dir.name}`",
        )
    if failed is not None:
        raise FramecastError(f"a training process failed: {str(failed).strip().splitlines()[-1]}", "see the log above")
    return summary_from_config(config, run_dir)
