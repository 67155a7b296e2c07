"""The training loop: optimiser, schedule, early stopping, mixed precision, checkpoints, resume, DDP.

A run writes into its folder (see framecast.checkpoints) after every epoch, each file atomically:
``last.safetensors`` and ``state.pt`` (optimiser, scheduler, scaler, RNG states, epoch and step) always,
``best.safetensors`` when the validation metric improves, and ``config.json``, ``metrics.csv``, ``curves.png``.
SIGINT and SIGTERM (what batch schedulers send) stop the loop at the next step boundary, save the state there,
and raise :class:`Interrupted`; ``--resume`` continues from that exact step, so an interrupted run ends with the
same weights as one that never stopped.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from framecast._version import __version__
from framecast.checkpoints import WEIGHT_FILES, new_run_dir, read_run_config, save_weights, write_json
from framecast.devices import autocast, environment, pick_device, resolve_precision
from framecast.errors import FramecastError, UsageError
from framecast.runfiles import RunLock, clean_temporaries
from framecast.training.averaging import WeightAverage
from framecast.training.distributed import (
    DistInfo,
    ShardSampler,
    any_rank,
    broadcast_object,
    gather_objects,
    largest_on_any_rank,
    lost_peer,
)
from framecast.training.options import LR_SCHEDULES, OPTIMIZERS, TrainOptions
from framecast.training.schedules import cosine_decay, one_cycle

log = logging.getLogger("framecast")


class Interrupted(FramecastError):
    """Training stopped by a signal after saving its state (exit 130)."""

    exit_code = 130


def _load_state(path: Path) -> dict[str, Any]:
    """A committed state.pt, read with weights_only=True; anything else is named as damaged, never unpickled."""
    from framecast.errors import CheckpointError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types; a pickle payload is refused by weights_only
        why = "it holds objects other than tensors and plain values" if "weights_only" in str(exc) else "damaged"
        raise CheckpointError(
            f"{path} cannot be read: {why}", "the run's saved state is unusable; start a new run"
        ) from None
    if not isinstance(state, dict) or not {"optimizer", "epoch", "step", "rng"} <= set(state):
        raise CheckpointError(f"{path} is not a framecast training state", "start a new run")
    return state


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    from framecast.errors import CheckpointError

    try:
        return load_file(str(path))
    except Exception as exc:
        raise CheckpointError(f"{path} is damaged ({type(exc).__name__})", "start a new run") from None


#: Floats a training step keeps per pixel of every frame of a batch (inputs, outputs, the activations of a small
#: model kept for the backward): a generous round figure, to refuse the impossible (a 100,000-frame horizon)
#: before it is attempted, not to predict the exact peak.
TRAIN_FLOATS_PER_PIXEL = 64


def _check_memory(o: TrainOptions, device: torch.device) -> None:
    from framecast.devices import check_fits

    h, w = o.size or (64, 64)
    per_frame = o.batch_size * (o.channels or 1) * h * w * 4 * TRAIN_FLOATS_PER_PIXEL
    what = f"training on {o.batch_size} sequences of {o.context} + {o.horizon} frames"
    check_fits(
        per_frame * (o.context + o.horizon), what, per_frame=per_frame, frames=o.horizon,
        option="--horizon (or --batch-size)", device=device,
    )  # fmt: skip


def _check_choices(o: TrainOptions) -> None:
    if o.optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer '{o.optimizer}'", f"choose one of {', '.join(OPTIMIZERS)}")
    if o.schedule not in LR_SCHEDULES:
        raise UsageError(f"unknown LR schedule '{o.schedule}'", f"choose one of {', '.join(LR_SCHEDULES)}")
    if o.ema is not None and not 0.0 < o.ema < 1.0:
        raise UsageError(f"--ema {o.ema} is not a decay between 0 and 1", "use --ema 0.999 (or leave it out)")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),  # tensors: weights_only loads
        "numpy_pos": torch.tensor(np.random.get_state()[2]),
        "python": torch.tensor(random.getstate()[1], dtype=torch.int64),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.stack(list(torch.cuda.get_rng_state_all()))
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), int(state["numpy_pos"]), 0, 0.0))
    random.setstate((3, tuple(int(x) for x in state["python"].tolist()), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


class _StopFlag:
    """Turns SIGINT and SIGTERM into a flag the loop checks at each step boundary."""

    def __init__(self) -> None:
        self.raised: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: signals stay with whoever owns them
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame) -> None:
        if self.raised is not None and signum == signal.SIGINT:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.raised = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@dataclass
class EpochRecord:
    epoch: int
    step: int
    train_loss: float
    lr: float
    teacher_forcing: float
    seconds: float
    steps_per_second: float
    data_wait_share: float  # share of step time spent waiting for the data loader
    val: dict[str, float]


class _Pace:
    """The timing and losses of one epoch: how long steps waited for data, what they cost."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.wait = 0.0
        self.busy = 0.0
        self.tf = 0.0  # the teacher-forcing probability of the latest step

    def timed(self, loader):
        """The loader's batches, timing the wait for each and the work done between them."""
        t_data = time.perf_counter()
        for batch in loader:
            t_got = time.perf_counter()
            self.wait += t_got - t_data
            yield batch
            t_data = time.perf_counter()
            self.busy += t_data - t_got

    def record(self, epoch: int, step: int, lr: float, seconds: float, val: dict[str, float]) -> EpochRecord:
        return EpochRecord(
            epoch=epoch,
            step=step,
            train_loss=float(np.mean(self.losses)) if self.losses else float("nan"),
            lr=lr,
            teacher_forcing=self.tf,
            seconds=seconds,
            steps_per_second=len(self.losses) / max(seconds, 1e-9),
            data_wait_share=self.wait / max(self.wait + self.busy, 1e-9),
            val=val,
        )


class Trainer:
    """One training run (fresh or resumed). Call :meth:`fit`.

    Args:
        options: what to train and how.
        run_dir: the run's folder: made by the caller (distributed runs) or to resume; None makes a new one.
        resume: continue the run in `run_dir` from its saved state.
        dist: this process's place in a distributed group.
        on_step: called after each step with (step, steps_total, loss, steps_per_second) on rank 0.
        on_epoch: called after each epoch with its record on rank 0.

    Lines for people go to `logging.getLogger("framecast")`, from rank 0 only.
    """

    def __init__(
        self,
        options: TrainOptions,
        *,
        run_dir: Path | None = None,
        resume: bool = False,
        dist: DistInfo | None = None,
        on_step: Callable[[int, int, float, float], None] | None = None,
        on_epoch: Callable[[EpochRecord], None] | None = None,
    ) -> None:
        from framecast.training.losses import Loss

        self.o = options
        if options.context is None or options.horizon is None:  # the data's own protocol (kth: 10 -> 20)
            from framecast.data.registry import default_window

            context, horizon = default_window(options.data)
            options.context, options.horizon = options.context or context, options.horizon or horizon
        self.dist = dist or DistInfo()
        self.on_step = on_step
        self.on_epoch = on_epoch
        _check_choices(options)
        self.loss_fn = Loss(options.loss)
        self._place(options)
        self._open_data(options)
        self._build_model(options, resume)
        self._init_progress()
        self._build_optimisation(options)
        if run_dir is None:
            run_dir = broadcast_object(new_run_dir(options.model, options.name) if self.dist.main else None, self.dist)
        self.run_dir: Path = run_dir
        self._lock = RunLock(run_dir).__enter__() if self.dist.main else None  # one writer per run
        if self._lock is not None:
            clean_temporaries(run_dir)  # what killed writes left: with the lock held, nobody else is writing
        if resume and not self._has_commit(run_dir):
            # killed before its first commit: not one step was trained, and a fresh start from the same options
            # and seed is exactly the run that was begun
            self.say(f"{run_dir} was stopped before its first step: starting it from the beginning")
            resume = False
            if options.init:  # the model was built for a resume, which skips --init
                self._load_init(options.init)
        self.resumed = resume
        if not resume and self.dist.main:
            write_json(run_dir / "config.json", self._config())  # its options, from the first moment
        if resume:
            self._restore(run_dir)
        else:  # teacher-forcing draws differ between ranks, as their data does
            seed_everything(options.seed + 7919 * self.dist.rank)

    def _has_commit(self, run_dir: Path) -> bool:
        from framecast.runfiles import committed

        return broadcast_object(committed(run_dir) is not None if self.dist.main else None, self.dist)

    def say(self, message: str) -> None:
        """A line for a person, from rank 0 only."""
        if self.dist.main:
            log.info("%s", message)

    # ----------------------------------------------------------------------------------------- set-up

    def _place(self, o: TrainOptions) -> None:
        device = pick_device(o.device)
        if device.type == "cuda" and self.dist.enabled:
            device = torch.device("cuda", self.dist.local_rank)
        self.device = device
        self.precision = resolve_precision(o.precision, device)

    def _open_data(self, o: TrainOptions) -> None:
        from framecast.data.registry import DataOptions
        from framecast.models import options as model_options

        _check_memory(o, self.device)
        size = tuple(o.size) if o.size else None
        data = DataOptions(o.data, o.channels, size, o.frame_stride, o.classes, o.digits, o.skip_cuts)
        window = {"context": o.context, "horizon": o.horizon}
        scenes = {"held_frames": o.held_frames, "motion_stops": o.motion_stops}
        self.train_set = data.open("train", limit=o.train_size, seed=o.seed, **scenes, **window)
        self.val_set = data.open("val", limit=o.val_size, **window)
        self.spec = self.train_set.spec
        natural = self.spec.content == "natural"
        # on natural video the bar is copying the last frame: the best checkpoint is the one that beats it most
        self.val_metric = o.val_metric or ("vs_copy_last" if natural else "mse")
        # move and change the last frame (see models.layers); a family without the option (dmvfn) warps by design
        if natural and "residual" in model_options(o.model) and "residual" not in o.overrides:
            o.overrides = {"warp": True, **o.overrides, "residual": True}
            self.say(
                "natural video: the model predicts the last frame moved and changed "
                "(--set warp=false: changed only; --set residual=false: painted)"
            )
        if len(self.train_set) < o.batch_size * self.dist.world:
            self.say(
                f"only {len(self.train_set)} training sequences for {self.dist.world} x {o.batch_size}: "
                "steps will be smaller than the batch size"
            )

    def _build_model(self, o: TrainOptions, resume: bool) -> None:
        from framecast.models import create_model

        seed_everything(o.seed)  # the same initial weights on every rank
        spec = self.spec
        model = create_model(
            o.model, o.preset, channels=spec.channels, height=spec.height, width=spec.width, **o.overrides
        )
        self.model = model
        self.init_weights: dict[str, str] | None = None  # which file --init read (a resumed run: from its config)
        if o.init and not resume:
            self._load_init(o.init)
        self.model = self.model.to(self.device)
        self.module = self.model  # the bare model, for saving, the config and what it asks of training
        self.ddp = None
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.forward_model = self.ddp or self.model
        if o.compile:
            self.forward_model = torch.compile(self.forward_model)

    def _build_optimisation(self, o: TrainOptions) -> None:
        from framecast.training.sampling import SamplingSchedule

        optimiser = torch.optim.AdamW if o.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = optimiser(self.model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        # a step takes one global batch (--batch-size on each of the world's processes): see ShardSampler
        self.steps_per_epoch = max(1, math.ceil(len(self.train_set) / (o.batch_size * self.dist.world)))
        # Schedules (learning rate, teacher forcing) span the planned epochs; --max-steps only stops the loop
        # early, so a run stopped by it and resumed follows the very schedule of a run that never stopped.
        # With --time-limit they span the time instead, or the epochs if those end first: see progress().
        self.total_steps = max(1, self.steps_per_epoch * o.epochs)
        self.scheduler = self._make_scheduler()
        self._one_cycle = isinstance(self.scheduler, torch.optim.lr_scheduler.OneCycleLR)
        self._plateau = isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.sampling = SamplingSchedule(kind=o.sampling, end_step=max(1, int(self.total_steps * o.sampling_end)))
        self.average = WeightAverage(self.module, o.ema) if o.ema is not None else None

    def _averaged(self) -> contextlib.AbstractContextManager[dict[str, torch.Tensor] | None]:
        """Inside it, the model holds the weights that are validated and saved: the moving average with --ema (its
        own weights are then what the block is given; without --ema, None)."""
        return self.average.applied(self.module) if self.average is not None else contextlib.nullcontext()

    def _init_progress(self) -> None:
        self.epoch = 0  # the epoch in progress (0-based)
        self.step_in_epoch = 0  # steps done in the epoch in progress
        self.step = 0  # optimiser steps done in all
        self.history: list[dict[str, Any]] = []
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.status = "running"
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.seconds_before = 0.0  # training time of earlier sessions of a resumed run
        self._session_started: float | None = None  # perf_counter at the start of this session, while fitting
        self._progress_now = 0.0  # progress() as the last time-limit check found it

    def _make_scheduler(self):
        o, opt = self.o, self.optimizer
        if o.time_limit is not None and o.schedule in ("onecycle", "cosine"):
            shape = one_cycle if o.schedule == "onecycle" else cosine_decay
            # read at each step's end: the progress the last time-limit check measured (see _out_of_steps)
            return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: shape(self._progress_now))
        if o.schedule == "onecycle":
            if self.total_steps < 4:  # too short to warm up and anneal: the peak rate throughout
                return None
            # a tenth of the steps warm up, but at least two: at exactly one, torch's schedule divides by zero
            pct = max(0.1, 2 / self.total_steps)
            return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=o.lr, total_steps=self.total_steps, pct_start=pct)
        if o.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.total_steps, eta_min=o.lr * 0.01)
        if o.schedule == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2)
        return None

    def _load_init(self, source: str) -> None:
        """Start from the weights of another checkpoint of the same model and frame format, or of its grey version."""
        from framecast.checkpoints import load_checkpoint, resolve_run, shipped_weights

        path = Path(source).expanduser()
        if not path.exists() and (shipped := shipped_weights(source)) is not None:  # vit/shipped-scenes
            path = shipped
        elif not path.exists() and not source.endswith(".safetensors"):  # a run by name: vit/quality-small
            path = resolve_run(source, self.o.model)
        ckpt = load_checkpoint(path)
        mine = self.model.config
        # grey weights may start a colour model (models/colour.py); otherwise the configs must be equal, as the
        # registry built both models (the raw JSON holds lists where the model has tuples)
        grey = ckpt.model.config.channels == 1 and mine.channels == 3
        theirs = replace(ckpt.model.config, channels=mine.channels) if grey else ckpt.model.config
        if hasattr(mine, "any_size"):  # how other frame sizes are fed, not the weights: shipped dmvfn has it off
            theirs = replace(theirs, any_size=mine.any_size)
        if ckpt.name != self.o.model or theirs != mine:
            raise UsageError(
                f"--init {source} holds a {ckpt.name} model of another configuration",
                f"use a checkpoint of {self.o.model} --preset {self.o.preset} with the same options",
            )
        state = ckpt.model.state_dict()
        if grey:
            from framecast.models.colour import grey_to_colour

            state = grey_to_colour(state, self.model)
        self.model.load_state_dict(state)
        self.init_weights = _weights_record(source, Path(ckpt.path))
        self.say(f"starting from the weights of {ckpt.path}" + (", grey made colour" if grey else ""))

    def _restore(self, run_dir: Path) -> None:
        """Continue from the generation the run last committed (named in the log), never from half-written files."""
        from framecast.runfiles import publish, require_committed

        gen = require_committed(run_dir)
        state = _load_state(gen / "state.pt")
        self.module.load_state_dict(_load_weights(gen / WEIGHT_FILES[1]))
        if self.average is not None:  # the weight files hold the average; training goes on from its own weights
            self.average.load_state_dict(state["average"])
            self.module.load_state_dict(state["weights"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step_in_epoch = int(state["epoch"]), int(state["step_in_epoch"])
        self.step, self.bad_epochs = int(state["step"]), int(state.get("bad_epochs", 0))
        self.seconds_before = float(state.get("seconds", 0.0))
        ranks = state["rng"]
        set_rng_state(ranks[min(self.dist.rank, len(ranks) - 1)])
        config = read_run_config(gen)
        self.history = config.get("history", [])
        self.best = config.get("best", {}).get("value")
        self.best_epoch = config.get("best", {}).get("epoch")
        self.started = config.get("started", self.started)
        self.init_weights = config.get("init_weights")
        if self.dist.main:
            publish(run_dir, gen)  # a kill between a commit and its publishing left older copies beside it
        self.say(f"resuming from the state committed at step {self.step} (epoch {self.epoch}, {gen.name})")

    # ------------------------------------------------------------------------------------------ loop

    def fit(self) -> dict[str, Any]:
        """Train until the epochs, max steps or patience run out; return the run's summary."""
        try:
            if not self.resumed:
                self._commit()  # a run is resumable from its first moment: step 0 is committed
            self._say_plan()
            self._session_started = time.perf_counter()
            with _StopFlag() as stop:
                try:
                    while self.epoch < self.o.epochs and not self._out_of_steps():
                        self._train_epoch(stop)
                        if self.status != "running":
                            break
                finally:
                    self.seconds_before = self.train_seconds()
                    self._session_started = None
            if self.status == "running":
                self.status = "finished"
            self._commit()
        except RuntimeError as exc:
            if not lost_peer(exc):
                raise
            raise FramecastError(
                f"another training process stopped at step {self.step}; {self.run_dir} keeps its last committed step",
                f"continue with `framecast train --resume {self.o.model}/{self.run_dir.name}` "
                "(under torchrun, --max-restarts does so by itself)",
            ) from None
        finally:
            self.release()
        return self.summary()

    def _say_plan(self) -> None:
        o, world = self.o, self.dist.world
        per = f" ({o.batch_size} per process x {world} processes)" if world > 1 else ""
        self.say(
            f"{len(self.train_set)} training sequences per epoch in global batches of {o.batch_size * world}{per}: "
            f"{self.steps_per_epoch} steps per epoch, peak learning rate {o.lr:g}"
            + (f", for {o.time_limit / 60:g} min of training in all" if o.time_limit is not None else "")
        )

    def release(self) -> None:
        """Give up the run's writer lock (the end of fit does; a process that dies loses it anyway)."""
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def train_seconds(self) -> float:
        """Training time so far: earlier sessions of a resumed run, and this one up to now."""
        started = self._session_started
        return self.seconds_before + (time.perf_counter() - started if started is not None else 0.0)

    def _out_of_steps(self) -> bool:
        if self.o.max_steps is not None and self.step >= self.o.max_steps:
            return True
        if self.o.time_limit is None:
            return False
        self._progress_now = self.progress()  # once a step: under DDP reading the clock is an all-reduce
        return self._progress_now >= 1.0

    def progress(self) -> float:
        """How far the schedules are, 0 to 1: the share of the planned steps done, or with --time-limit the larger of
        that and the share of the time used (the same on every rank: the slowest rank's clock decides)."""
        done = self.step / self.total_steps
        if self.o.time_limit is not None:
            used = largest_on_any_rank(self.train_seconds(), self.dist, self.device) / self.o.time_limit
            done = max(done, used)
        return min(1.0, done)

    def _schedule_step(self) -> int:
        """The step that schedules by step (teacher forcing) are read at: under a time limit, progress in steps."""
        return self.step if self.o.time_limit is None else int(self._progress_now * self.total_steps)

    def _loader(self) -> torch.utils.data.DataLoader:
        """This epoch's batches for this rank, starting where an interrupted epoch stopped."""
        o = self.o
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(self.epoch)
        self.sampler = ShardSampler(
            len(self.train_set),
            rank=self.dist.rank,
            world=self.dist.world,
            shuffle=not hasattr(self.train_set, "set_epoch"),  # generated sequences are random already
            seed=o.seed,
            epoch=self.epoch,
            start=self.step_in_epoch * o.batch_size,
            batch_size=o.batch_size,
        )
        return torch.utils.data.DataLoader(
            self.train_set,
            batch_size=o.batch_size,
            sampler=self.sampler,
            num_workers=o.workers,
            pin_memory=self.device.type == "cuda",
            # its own generator: the global RNG (teacher forcing) must not depend on when loaders are made
            generator=torch.Generator().manual_seed(o.seed * 1_000_003 + self.epoch),
        )

    def _train_epoch(self, stop: _StopFlag) -> None:
        self.model.train()
        started = time.perf_counter()
        pace = _Pace()
        for batch in pace.timed(self._loader()):
            pace.tf = self.sampling(self._schedule_step()) if self.module.recurrent else 0.0
            loss = self._step(batch, pace.tf, self.sampler.loss_weight(self.step_in_epoch))
            pace.losses.append(loss)
            self.step += 1
            self.step_in_epoch += 1
            if self.on_step is not None and self.dist.main:
                rate = self.step_in_epoch / max(1e-9, time.perf_counter() - started)
                self.on_step(self.step, self._planned_steps(), loss, rate)
            if any_rank(stop.raised is not None, self.dist, self.device):
                self._stop_for_signal(stop.raised)
            if self._out_of_steps():
                # stopped inside the epoch (the last step of its loader ends it whole): validate and save here, but
                # leave the epoch open, so that a --resume with more steps or time finishes it as if never stopped
                whole = self.step_in_epoch >= self.steps_per_epoch
                break
        else:
            whole = True
        self._end_epoch(pace, time.perf_counter() - started, whole=whole)

    def _planned_steps(self) -> int:
        """Steps the run will take in all: planned, or under a time limit foreseen from the pace so far."""
        if self.o.time_limit is None or self._progress_now <= 0:
            return self.total_steps
        return min(self.total_steps, max(self.step, round(self.step / self._progress_now)))

    def _stop_for_signal(self, signum: int | None) -> None:
        self.status = "interrupted"
        self._commit()
        name = signal.Signals(signum).name if signum else "a signal on another rank"
        raise Interrupted(
            f"training interrupted by {name} at step {self.step}; state saved in {self.run_dir}",
            f"continue with `framecast train --resume {self.o.model}/{self.run_dir.name}`",
        )

    def _end_epoch(self, pace: _Pace, seconds: float, *, whole: bool = True) -> None:
        """Validate, keep the best weights, decide on early stopping, and save everything of the epoch.

        An epoch that a step count or time limit cut short (not `whole`) is validated and saved the same way, as a
        provisional record of the epoch: its weights may become the best, but it neither steps a plateau schedule
        nor counts towards patience, and the epoch stays open. A --resume finishes the epoch where it stopped, and
        the whole epoch's record replaces the provisional one: training goes on exactly as if never stopped."""
        val = self.validate()
        value = val.get(self.val_metric, float("nan"))
        improved = self.best is None or value < self.best
        if improved:
            self.best, self.best_epoch = value, self.epoch + 1
        if whole:
            self.bad_epochs = 0 if improved else self.bad_epochs + 1
            if self._plateau:
                self.scheduler.step(value)
        record = pace.record(self.epoch + 1, self.step, self.optimizer.param_groups[0]["lr"], seconds, val)
        # a provisional record of this epoch, from a stop inside it, gives way to this one
        self.history = [h for h in self.history if h["epoch"] != record.epoch] + [asdict(record)]
        if whole:
            self.epoch += 1
            self.step_in_epoch = 0
        if self.o.patience is not None and self.bad_epochs >= self.o.patience:
            self.status = "stopped early"
            self.say(f"no improvement of val {self.val_metric} for {self.o.patience} epochs: stopping early")
        self._commit(best=improved)
        if self.on_epoch is not None and self.dist.main:
            self.on_epoch(record)

    def _step(self, batch: torch.Tensor, teacher_forcing: float, weight: float = 1.0) -> float:
        """One optimiser step on this rank's part of the global batch; `weight` scales its loss (see
        ShardSampler.loss_weight). Returns the unweighted loss."""
        o = self.o
        batch = batch.to(self.device, non_blocking=True)
        context, target = batch[:, : o.context], batch[:, o.context : o.context + o.horizon]
        self.optimizer.zero_grad(set_to_none=True)
        extra = {}
        if self.module.uses_reverse_sampling:  # the true context is fed ever more often
            extra["context_teacher_forcing"] = 1.0 - 0.5 * self.sampling(self._schedule_step())
        with autocast(self.device, self.precision):
            pred = self.forward_model(context, o.horizon, target=target, teacher_forcing=teacher_forcing, **extra)
        loss = self.loss_fn(pred.float(), target)
        more = self.module.extra_loss(context, self.loss_fn)
        if more is not None:
            loss = loss + more
        if not torch.isfinite(loss):
            raise FramecastError(
                f"the loss became {float(loss)} at step {self.step}",
                "lower --lr, keep --clip-grad on, or use --precision fp32",
            )
        self._backward_and_update(loss if weight == 1.0 else loss * weight)
        return float(loss.detach())

    def _backward_and_update(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()
        if self.o.clip_grad:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.o.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        # one-cycle has exactly total_steps values: never step past its end
        last = self._one_cycle and self.scheduler.last_epoch >= self.scheduler.total_steps - 1
        if self.scheduler is not None and not self._plateau and not last:
            self.scheduler.step()
        if self.average is not None:
            self.average.update(self.module, self.step + 1)

    def validate(self) -> dict[str, float]:
        """Validation metrics (rank 0 scores the whole validation set; the others wait)."""
        from framecast.evaluation import copy_last, relative_scores, score

        result: dict[str, float] = {}
        if self.dist.main:
            self.model.eval()
            with self._averaged():
                scores = score(
                    {"model": self.module, "copy-last": copy_last},
                    self.val_set,
                    context=self.o.context,
                    horizon=self.o.horizon,
                    device=self.device,
                    batch_size=max(self.o.batch_size, 16),
                    precision=self.precision,
                )
            self.model.train()
            rollout = scores.results["model"]["rollout"]
            result = {k: v for k, v in rollout.items() if isinstance(v, float)}
            result.update(relative_scores(rollout, scores.results["copy-last"]["rollout"]))
        return broadcast_object(result, self.dist)

    # ------------------------------------------------------------------------------------------ files

    def _meta(self, which: str) -> dict[str, Any]:
        return {
            "model": self.o.model,
            "config": asdict(self.module.config),
            "spec": self.spec.to_dict(),
            "framecast": __version__,
            "which": which,
            "epoch": self.epoch,
            "step": self.step,
            "val": self.history[-1]["val"] if self.history else {},
        }

    def _commit(self, *, best: bool = False) -> None:
        """Commit this step's state as one unit (see framecast.runfiles): the weights, the optimiser, schedule,
        scaler and random states of every rank, the history and the config; the best weights too when `best`.
        Every rank takes part (the random states are gathered); rank 0 writes."""
        from framecast.runfiles import commit

        rngs = gather_objects(rng_state(), self.dist)
        if not self.dist.main:
            return
        # the weight files hold what was validated (with --ema the average); state.pt keeps training's own weights
        with self._averaged() as own:
            files = {
                "last.safetensors": lambda path: save_weights(self.module, path, self._meta("last")),
                "state.pt": lambda path: self._write_state(path, rngs, own),
                "config.json": lambda path: write_json(path, self._config()),
                "metrics.csv": self._write_csv,
            }
            if best:
                files["best.safetensors"] = lambda path: save_weights(self.module, path, self._meta("best"))
            commit(self.run_dir, self.step, files, carry=(WEIGHT_FILES[0],))
        if self.history:
            with contextlib.suppress(Exception):  # a plot must never cost a run
                self._write_curves()

    def _write_state(self, path: Path, rngs: list[Any], own: dict[str, torch.Tensor] | None = None) -> None:
        """state.pt: everything --resume needs beyond the weight files, read back with weights_only=True; with
        --ema also training's `own` weights and the average (the weight files hold the average)."""
        from framecast import _fs

        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "step": self.step,
            "bad_epochs": self.bad_epochs,
            "seconds": self.train_seconds(),
            "rng": rngs,
        }
        if self.average is not None:
            state["weights"] = {k: v.cpu() for k, v in (own or {}).items()}
            state["average"] = {k: v.cpu() for k, v in self.average.state_dict().items()}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        _fs.write_bytes(path, buffer.getvalue())

    def _config(self) -> dict[str, Any]:
        return {
            "framecast": __version__,
            "model": self.o.model,
            "preset": self.o.preset,
            "config": asdict(self.module.config),
            "parameters": sum(p.numel() for p in self.module.parameters()),
            "spec": self.spec.to_dict(),
            "data": {"name": self.o.data, "train": self.train_set.description, "val": self.val_set.description},
            "options": asdict(self.o),
            "init_weights": self.init_weights,
            "device": str(self.device),
            "environment": environment(self.device),
            "precision": self.precision,
            "world_size": self.dist.world,
            "effective_batch_size": self.o.batch_size * self.dist.world,
            "elastic_run_id": os.environ.get("TORCHELASTIC_RUN_ID"),  # an elastic restart finds its run by it
            "steps_per_epoch": self.steps_per_epoch,
            "status": self.status,
            "started": self.started,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "train_seconds": self.train_seconds(),
            "epochs_done": self.epoch,
            "steps_done": self.step,
            "best": {"metric": self.val_metric, "value": self.best, "epoch": self.best_epoch},
            "history": self.history,
        }

    def _write_csv(self, path: Path) -> None:
        from framecast import _fs

        val_keys = sorted({k for h in self.history for k in h["val"]})
        head = ["epoch", "step", "train_loss", "lr", "teacher_forcing", "seconds", "steps_per_second"]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(head + [f"val_{k}" for k in val_keys])
        for h in self.history:
            writer.writerow([h[k] for k in head] + [h["val"].get(k, "") for k in val_keys])
        _fs.write_text(path, buffer.getvalue())

    def _write_curves(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from framecast import _fs

        epochs = [h["epoch"] for h in self.history]
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        axes[0].plot(epochs, [h["train_loss"] for h in self.history], marker="o")
        axes[0].set_title(f"training loss ({self.o.loss})")
        axes[1].plot(epochs, [h["val"].get("mse", float("nan")) for h in self.history], marker="o", color="C1")
        axes[1].set_title("validation MSE (per-frame sum)")
        axes[2].plot(epochs, [h["val"].get("ssim", float("nan")) for h in self.history], marker="o", color="C2")
        axes[2].set_title("validation SSIM")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        fig.suptitle(f"{self.o.model} ({self.o.preset}) {self.run_dir.name}")
        fig.tight_layout()
        with _fs.atomic_path(self.run_dir / "curves.png") as tmp:
            fig.savefig(tmp, dpi=100)
        plt.close(fig)

    def summary(self) -> dict[str, Any]:
        return summary_from_config(self._config(), self.run_dir)

    def weights_digest(self) -> str:
        """A hash of the weights, to check that every rank holds the same model."""
        import hashlib

        h = hashlib.sha256()
        for k, v in sorted(self.module.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()


def _weights_record(source: str, path: Path) -> dict[str, str]:
    """Which file --init read, by content: a weights file may be written over later (a stage file re-exported), and
    whoever traces a run's history must know which version started it."""
    from framecast.data.download import file_digest

    return {"source": source, "path": str(path), "sha256": file_digest(path, "sha256")}


def summary_from_config(config: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """What `framecast train` reports of a run, read from its config.json (the same for every way of training)."""
    keys = ("model", "preset", "status", "device", "precision", "world_size", "effective_batch_size", "parameters")
    summary = {k: config.get(k) for k in keys}
    summary.update(
        run=str(run_dir),
        epochs=config.get("epochs_done"),
        steps=config.get("steps_done"),
        train_seconds=config.get("train_seconds"),
        best=config.get("best"),
        history=config.get("history", []),
        spec=config.get("spec"),
        rank_weight_digests=config.get("rank_weight_digests"),
    )
    return summary
