"""Training: the loop (trainer), scheduled sampling, losses, distributed set-up; :func:`train` runs it all."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from framecast.training.trainer import Interrupted, Trainer, TrainOptions, summary_from_config

__all__ = ["Interrupted", "TrainOptions", "Trainer", "train"]


def _finish(trainer: Trainer) -> dict[str, Any]:
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


def _worker(rank: int, world: int, options: dict[str, Any], run_dir: str, resume: bool, threads: int) -> None:
    """One process of a `--devices N` run (started by torch.multiprocessing)."""
    import torch

    from framecast.cli import _output
    from framecast.training.distributed import setup, teardown

    torch.set_num_threads(threads)
    opts = TrainOptions.from_dict(options)
    from framecast.devices import pick_device

    info = setup(rank, world, rank, pick_device(opts.device).type)
    try:
        log = _output.log if rank == 0 else None
        trainer = Trainer(opts, run_dir=Path(run_dir), resume=resume, dist=info, log=log)
        _finish(trainer)
    finally:
        teardown(info)


def train(
    options: TrainOptions,
    *,
    resume_dir: Path | None = None,
    on_step: Callable[[int, int, float, float], None] | None = None,
    on_epoch: Callable[[Any], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train as `options` say, in this process, in `--devices` local processes, or as a torchrun rank.

    Returns:
        The run's summary (rank 0's view): run folder, status, epochs, steps, best metric, history, the weight
        digest of every rank.
    """
    from framecast.checkpoints import new_run_dir, read_run_config
    from framecast.devices import pick_device
    from framecast.training.distributed import free_port, launched_by_torchrun, require_gpus, setup, teardown

    if launched_by_torchrun():
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
            trainer = Trainer(
                options,
                run_dir=resume_dir,
                resume=resume_dir is not None,
                dist=info,
                on_step=on_step,
                on_epoch=on_epoch,
                log=log if info.main else None,
            )
            return {**_finish(trainer), "rank": info.rank}
        finally:
            teardown(info)

    if options.devices <= 1:
        trainer = Trainer(
            options, run_dir=resume_dir, resume=resume_dir is not None, on_step=on_step, on_epoch=on_epoch, log=log
        )
        return _finish(trainer)

    import signal

    import torch.multiprocessing as mp

    world = options.devices
    device = pick_device(options.device)
    if device.type == "cuda":
        require_gpus(world, f"--devices {world} asks for {world} GPUs", "lower --devices, or use --device cpu")
    run_dir = resume_dir or new_run_dir(options.model, options.name)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ["MASTER_PORT"] = str(free_port())
    threads = max(1, (os.cpu_count() or 1) // world) if device.type == "cpu" else 1
    args = (world, asdict(options), str(run_dir), resume_dir is not None, threads)
    context = mp.start_processes(_worker, args=args, nprocs=world, join=False, start_method="spawn")

    def forward(signum, _frame):  # a scheduler's SIGTERM reaches this process only: pass it on
        for p in context.processes:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signum)

    previous = signal.signal(signal.SIGTERM, forward)
    failed: BaseException | None = None
    try:
        while True:
            try:
                if context.join():
                    break
            except KeyboardInterrupt:  # children got the Ctrl-C too; wait for them to save
                continue
            except Exception as exc:  # a child failed: its state says why
                failed = exc
                break
    finally:
        signal.signal(signal.SIGTERM, previous)
    config = read_run_config(run_dir)
    if config.get("status") == "interrupted":
        raise Interrupted(
            f"training interrupted at step {config.get('steps_done')}; state saved in {run_dir}",
            f"continue with `framecast train --resume {options.model}/{run_dir.name}`",
        )
    if failed is not None:
        from framecast.errors import FramecastError

        raise FramecastError(f"a training process failed: {str(failed).strip().splitlines()[-1]}", "see the log above")
    return summary_from_config(config, run_dir)
