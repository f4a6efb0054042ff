"""``--strategy fsdp``: FSDP2 (``torch.distributed.fsdp.fully_shard``) for policies whose weights, gradients and
optimizer state do not fit one device; ``--strategy ddp`` (the default) is langrl's data parallelism, every rank a
full copy with gradients all-reduced.

With FSDP every decoder layer (the model's ``_no_split_modules``) and then the whole model are sharded over the
torchrun ranks: each rank keeps 1/N of the parameters, gradients and AdamW moments, gathers a layer's weights for its
forward/backward and reduce-scatters its gradients. FSDP averages them over the ranks; :func:`sum_gradients` turns
the average back into the sum (× N, exact for N a power of two), because every loss is already divided by the global
token count — the same arithmetic as the ddp path, so both give the same losses (tested with 2 gloo processes).
(``set_gradient_divide_factor(1.0)`` would say the same, but needs ``ReduceOp.PREMUL_SUM``, which gloo lacks.)

What stays whole: sampling runs on a full, unsharded copy of the policy (the rollout engine, whose weights are
gathered and pushed after every update, as vLLM's are); the checkpoint is gathered on save into an ordinary Hugging
Face directory, and the optimizer state into one full state dict (``torch.distributed.checkpoint.state_dict``), so a
run resumes on any number of processes.
"""
from __future__ import annotations

import torch
from torch import nn

from langrl.errors import InputError

STRATEGIES = ("ddp", "fsdp")


def check_world(strategy: str, world: int, prog: str) -> None:
    if strategy == "fsdp" and world < 2:
        raise InputError(f"{prog}: --strategy fsdp shards the model over torchrun processes: launch with "
                         f"`torchrun --nproc_per_node N -m langrl.cli {prog} ...` (N >= 2); got {world} process")


def _mesh():
    import torch.distributed as tdist
    from torch.distributed.device_mesh import init_device_mesh

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return init_device_mesh(device, (tdist.get_world_size(),))


def shard(model: nn.Module, mesh=None) -> nn.Module:
    """Shard ``model`` in place: each block named by its ``_no_split_modules`` (HF decoder layers), then the rest
    (embeddings, final norm, LM head, a value head) as the root unit."""
    from torch.distributed.fsdp import fully_shard

    mesh = mesh or _mesh()
    names = set()
    for m in model.modules():
        names.update(getattr(m, "_no_split_modules", None) or ())
    for m in list(model.modules()):
        if m is not model and type(m).__name__ in names:
            fully_shard(m, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def is_sharded(t: torch.Tensor) -> bool:
    from torch.distributed.tensor import DTensor

    return isinstance(t, DTensor)


def full(t: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a (possibly sharded) parameter: an all-gather on every rank for a DTensor."""
    return t.full_tensor() if is_sharded(t) else t


def sum_gradients(params, world: int) -> None:
    """FSDP's reduce-scatter averaged the sharded gradients over ``world`` ranks; make them the sum."""
    for p in params:
        if p.grad is not None and is_sharded(p.grad):
            p.grad.mul_(world)


def _container(policy, critic) -> nn.Module:
    return nn.ModuleDict({"policy": policy, **({"critic": critic} if critic is not None else {})})


def gather_checkpoint(policy, critic, optimizer) -> dict:
    """Every rank calls this (collectives); rank 0 gets {"model": full HF state dict, "critic": ... or None,
    "optimizer": the full optimizer state dict}, the other ranks empty dicts (``cpu_offload``)."""
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                         get_optimizer_state_dict)

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    both = _container(policy, critic)
    return {"model": get_model_state_dict(policy, options=opts),
            "critic": get_model_state_dict(critic, options=opts) if critic is not None else None,
            "optimizer": get_optimizer_state_dict(both, optimizer, options=opts)}


class ShardedOptimizerState:
    """What the checkpoint code calls ``optimizer``: ``state_dict()`` is the gathered full state (from
    :func:`gather_checkpoint`), ``load_state_dict(full)`` scatters a full state onto this rank's shards."""

    def __init__(self, optimizer, policy, critic):
        self.optimizer, self.both, self.gathered = optimizer, _container(policy, critic), None

    def state_dict(self) -> dict:
        if self.gathered is None:
            raise RuntimeError("gather_checkpoint() must run on every rank before the checkpoint is written")
        return self.gathered

    def load_state_dict(self, state: dict) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(self.both, self.optimizer, optim_state_dict=state,
                                 options=StateDictOptions(full_state_dict=True))
