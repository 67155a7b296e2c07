"""Distributed data-parallel training: set-up, tear-down, and the sampler that gives each rank its own data.

`framecast train --devices N` starts N processes on this machine (gloo on CPUs, nccl on CUDA GPUs). The same
command started by `torchrun` (which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT) joins the
group torchrun describes, across machines. Only rank 0 writes files and prints.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def require_gpus(needed: int, asked: str, hint: str) -> None:
    """Stop with a usage error when this machine has fewer than `needed` visible CUDA GPUs.

    `asked` says what wanted them ("--devices 4 asks for 4 GPUs"); `hint` says how to ask for fewer.
    """
    visible = torch.cuda.device_count()
    if visible < needed:
        from framecast.errors import UsageError

        raise UsageError(f"{asked} but this machine has {visible} visible GPU{'' if visible == 1 else 's'}", hint)


def free_port() -> int:
    """A free TCP port on the loopback interface for a single-machine group."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(rank: int, world: int, local_rank: int, device_type: str) -> DistInfo:
    """Join the process group (a no-op for one process). MASTER_ADDR and MASTER_PORT must be set."""
    if world <= 1:
        return DistInfo()
    backend = "nccl" if device_type == "cuda" else "gloo"
    # DDP imports this module lazily, and its functions take the group in force at import as a default
    # argument: imported after the group exists, they would keep it (and its threads) alive past `teardown`
    # to the interpreter's exit. Imported now, they take None, which means the default group when called.
    import torch.distributed.nn.functional

    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    store = attempt_store(world)
    if store is None:
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    else:
        dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world)
    return DistInfo(rank=rank, world=world, local_rank=local_rank)


def attempt_store(world: int):
    """The store of this attempt of a torchrun job whose agents lend their store to the workers (c10d); else None.

    That store outlives a restart (`--max-restarts`), and with it the addresses the ranks of the failed attempt
    published in it: a restarted rank could read a dead rank's address and wait on it (gloo: "connection
    refused", or a hang). Keys under a prefix of the attempt are always this attempt's own.
    """
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    from datetime import timedelta

    store = dist.TCPStore(
        os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, is_master=False, timeout=timedelta(minutes=30)
    )
    return dist.PrefixStore(f"framecast/attempt-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


def teardown(info: DistInfo) -> None:
    """Leave the group together: a rank that tears down while another is still writing its files can take
    the group's background threads down under it. A group that lost a rank is left as it is: the error that
    brought this rank here is the one to report.

    The group's threads (gloo's loop and workers) end when the last reference to the group goes. Left to the
    interpreter's exit, they end while it tears down, where a process can abort ("terminate called without an
    active exception") after a run that succeeded. So nothing may keep the group: a DDP model holds it (the
    caller drops its trainer first), as would torch's functional collectives imported late (see `setup`), and
    a collection here frees what cycles still hold, so that the threads are joined now."""
    if info.enabled and dist.is_initialized():
        with contextlib.suppress(RuntimeError):
            dist.barrier()
            dist.destroy_process_group()
        gc.collect()


#: What gloo and NCCL say when another rank of the group is gone (killed, crashed, or stopped by its launcher).
_PEER_LOST = ("connection closed by peer", "connection reset by peer", "broken pipe", "nccl communicator")


def lost_peer(exc: BaseException) -> bool:
    """True when `exc` is a collective that failed because another rank of the group is gone."""
    return isinstance(exc, RuntimeError) and any(s in str(exc).lower() for s in _PEER_LOST)


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any rank (so all ranks stop at the same step)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def largest_on_any_rank(value: float, info: DistInfo, device: torch.device) -> float:
    """The largest of `value` over the ranks, on every rank (so that a clock read on each rank gives one answer)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64 if device.type != "mps" else torch.float32, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def broadcast_object(obj, info: DistInfo):
    """Rank 0's `obj` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's `obj`, in rank order, on every rank."""
    if not info.enabled:
        return [obj]
    out: list = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


class ShardSampler(torch.utils.data.Sampler[int]):
    """Indices for one rank in one epoch: every sequence of the epoch goes to exactly one rank.

    The (optionally shuffled) epoch order is cut into global batches of `batch_size` x `world` sequences, and
    each rank takes its own contiguous slice of every global batch, so step k of a distributed run trains on
    the very sequences of step k of a one-process run with a `world` times larger batch. The last global batch
    may be short: it is split as evenly as the ranks allow, and a rank left without a sequence gets one filler
    sequence whose loss weighs nothing (:meth:`loss_weight`), since every rank must take every step. `start`
    skips the sequences a resumed run has already seen in this epoch (whole steps of `batch_size`).
    """

    def __init__(
        self,
        length: int,
        *,
        rank: int = 0,
        world: int = 1,
        shuffle: bool,
        seed: int,
        epoch: int,
        start: int = 0,
        batch_size: int = 1,
    ) -> None:
        self.length = length
        self.rank = rank
        self.world = world
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch
        self.start = start
        self.batch_size = batch_size
        self.global_batch = batch_size * world
        self.steps = max(1, math.ceil(length / self.global_batch))  # the same on every rank

    def share(self, step: int) -> tuple[int, int]:
        """(offset in the global batch, sequences) of this rank's part of global batch `step`."""
        size = min(self.global_batch, self.length - step * self.global_batch)
        if size == self.global_batch:
            return self.rank * self.batch_size, self.batch_size
        base, extra = divmod(max(size, 0), self.world)
        return self.rank * base + min(self.rank, extra), base + (self.rank < extra)

    def loss_weight(self, step: int) -> float:
        """The factor on this rank's mean loss at `step` that makes the ranks' averaged gradient the gradient of
        the mean loss over the whole global batch (1 but for a short last batch; 0 for a filler sequence)."""
        size = min(self.global_batch, self.length - step * self.global_batch)
        return self.share(step)[1] * self.world / size if 0 < size < self.global_batch else 1.0

    def _order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            return torch.randperm(self.length, generator=g).tolist()
        return list(range(self.length))

    def _indices(self) -> list[int]:
        order, out = self._order(), []
        for step in range(self.steps):
            offset, count = self.share(step)
            begin = step * self.global_batch + offset
            out.extend(order[begin : begin + count] if count else order[:1])  # a filler: weighs nothing
        return out

    def __len__(self) -> int:
        return max(0, len(self._indices()) - self.start)

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices()[self.start :])
