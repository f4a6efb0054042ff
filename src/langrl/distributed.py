"""torch.distributed set-up from torchrun's environment (gloo on CPU, nccl on GPU), rank-aware helpers, reductions.

Without torchrun (no ``WORLD_SIZE`` in the environment) everything degrades to a single process: rank 0 of 1.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_distributed() -> bool:
    """Initialise the default process group when launched by torchrun; return True if distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return True


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum ``x`` over ranks (in place when distributed); returns ``x``."""
    if is_distributed():
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()
