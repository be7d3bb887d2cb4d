"""torchrun support: DistributedDataParallel with gloo on CPU and nccl on GPU; rank 0 alone writes.

Run the same ``chromalab train`` command under ``torchrun --nproc-per-node N``; torchrun sets RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT, which is all this module reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def start() -> World:
    """Join the process group when launched by torchrun; a single process otherwise."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return World(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = torch.cuda.is_available()
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    rank, size = dist.get_rank(), dist.get_world_size()
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
        # two processes on the same cores must not each start a full thread pool
        threads = max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", size)))
        torch.set_num_threads(threads)
    return World(rank, size, device)


def wrap(model: nn.Module, world: World) -> nn.Module:
    if not world.distributed:
        return model
    device_ids = [world.device.index] if world.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def from_main(value: float, world: World) -> float:
    """Rank 0's value of a scalar, on every rank (rank 0 alone validates)."""
    if not world.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=world.device)
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def gather_values(value: float, world: World) -> list[float]:
    """Every rank's value of a scalar, in rank order (to check that replicas agree)."""
    if not world.distributed:
        return [value]
    tensor = torch.tensor([value], dtype=torch.float64, device=world.device)
    gathered = [torch.zeros_like(tensor) for _ in range(world.size)]
    dist.all_gather(gathered, tensor)
    return [float(t.item()) for t in gathered]


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def stop(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
