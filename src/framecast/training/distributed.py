"""Distributed data-parallel training: set-up, tear-down, and the sampler that gives each rank its own data.

`framecast train --devices N` starts N processes on this machine (gloo on CPUs, nccl on CUDA GPUs). The same
command started by `torchrun` (which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT) joins the
group torchrun describes, across machines. Only rank 0 writes files and prints.
"""

from __future__ import annotations

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
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank=rank, world=world, local_rank=local_rank)


def teardown(info: DistInfo) -> None:
    """Leave the group together: a rank that tears down while another is still writing its files can take
    the group's background threads down under it."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any rank (so all ranks stop at the same step)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


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
    """Indices for one rank in one epoch: every rank gets the same number, different sequences.

    Each rank takes a contiguous block of the (optionally shuffled) epoch order, so generated data, made in
    chunks of consecutive indices, is generated once per chunk. `start` skips the batches a resumed run has
    already seen in this epoch.
    """

    def __init__(
        self, length: int, *, rank: int = 0, world: int = 1, shuffle: bool, seed: int, epoch: int, start: int = 0
    ) -> None:
        self.length = length
        self.rank = rank
        self.world = world
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch
        self.start = start
        self.per_rank = max(1, length // world)  # equal counts, so every rank runs the same number of steps

    def __len__(self) -> int:
        return max(0, self.per_rank - self.start)

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        if len(order) < self.per_rank * self.world:  # fewer sequences than ranks: wrap around
            order = (order * self.world)[: self.per_rank * self.world]
        block = order[self.rank * self.per_rank : (self.rank + 1) * self.per_rank]
        return iter(block[self.start :])
