"""Rollout engines and the bounded-staleness schedule that overlaps generation with training.

An *engine* turns prompt rows into a :class:`~langrl.rollout.Rollout` whose ``logprobs`` are the behaviour policy's
(the distribution each token was drawn from), and accepts the trainer's weights after every update (``sync``):

- ``native`` (:class:`NativeEngine`): langrl's KV-cached sampler (:func:`langrl.train.pg.collect.collect`). Used
  synchronously it samples from the policy module itself (no copy, no sync: today's loop, bit for bit); used
  asynchronously it samples from its own copy of the policy, whose weights ``sync`` overwrites in place.
- ``vllm`` (:mod:`langrl.rollout.vllm_engine`, the ``langrl[vllm]`` extra): vLLM in the same process, weights pushed
  through ``reload_weights``; imported only when asked for.

:class:`RolloutSchedule` runs an engine ``max_staleness`` = K batches ahead of the learner, in one background thread:
the batch of iteration s is sampled with the weights after ``max(0, s − K)`` updates (its *staleness* is
``s − version``). At iteration s the learner takes batch s, pushes its weights (version s) to the engine, and queues
batch s + K, which is generated while batch s trains. K = 0 is the synchronous loop. The batches still queued when a
checkpoint is written are saved with it (:meth:`RolloutSchedule.state`), so a killed run resumes exactly.

The mismatch between engine and trainer (stale weights, or another implementation's numerics) is corrected by
truncated importance sampling (verl / OpenRLHF's TIS, Yao et al. 2025): every token's policy loss is weighted by
``min(π_θold(a_t|s_t) / π_behaviour(a_t|s_t), C)`` (:func:`tis_weights`), ``C`` = ``--tis-cap``.
"""
from __future__ import annotations

import copy
import dataclasses
import io
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import torch

from langrl.errors import InputError
from langrl.rollout import Rollout

ENGINES = ("native", "vllm")
ROLLOUTS_FILE = "langrl_rollouts.{rank}.pt"
"""The queued batches of an asynchronous run, saved with its checkpoint."""


def tis_weights(old_logprobs: torch.Tensor, behaviour_logprobs: torch.Tensor, mask: torch.Tensor,
                cap: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Truncated importance weights w_t = min(exp(log π_old − log π_behaviour), cap) on the masked tokens (1 off
    them), and their statistics: mean weight, the share of tokens capped, mean |log π_old − log π_behaviour|.
    Shapes: (b, t) in, (b, t) out; statistics are token means over ``mask``."""
    diff = (old_logprobs - behaviour_logprobs).detach()
    raw = diff.exp()
    w = torch.where(mask.bool(), raw.clamp(max=cap), torch.ones_like(raw))
    n = mask.sum().clamp_min(1)
    stats = {"rollout/is_weight": (w * mask).sum() / n,
             "rollout/is_clipfrac": ((raw > cap).float() * mask).sum() / n,
             "rollout/logprob_diff": (diff.abs() * mask).sum() / n}
    return w, stats


class NativeEngine:
    """langrl's sampler. ``copy_weights=False``: sample from ``policy`` itself (``sync`` is a no-op); True: from a
    private copy of it (and of the tokenizer: a fast tokenizer must not be shared across threads), updated by
    ``sync``."""

    name = "native"

    def __init__(self, policy, tokenizer, *, copy_weights: bool):
        self.model = copy.deepcopy(policy).eval().requires_grad_(False) if copy_weights else policy
        self.tokenizer = copy.deepcopy(tokenizer) if copy_weights else tokenizer
        self.copied = copy_weights

    @torch.no_grad()
    def sync(self, policy) -> None:
        """Copy ``policy``'s current weights into the engine's model (in place; a no-op without a copy)."""
        if not self.copied:
            return
        src = dict(policy.named_parameters())
        src.update(dict(policy.named_buffers()))
        from langrl.train.fsdp import full

        for name, t in list(self.model.named_parameters()) + list(self.model.named_buffers()):
            t.copy_(full(src[name].detach()))  # a sharded (FSDP) parameter is gathered: a collective on every rank

    def generate(self, rows: list[dict], chunks: list[int], chunk_prompts: int, *, n: int, step: int, seed: int,
                 mask=None, **sampling) -> tuple[Rollout, torch.Tensor | None]:
        from langrl.train.pg.collect import collect

        return collect(self.model, self.tokenizer, rows, chunks, chunk_prompts, n=n, step=step, seed=seed,
                       mask=mask, **sampling)

    def close(self) -> None:
        pass


def parse_options(items: list[str] | None) -> dict:
    """``["gpu_memory_utilization=0.3", "enforce_eager=false"]`` → {"gpu_memory_utilization": 0.3, ...} (values
    read as YAML scalars)."""
    import yaml

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"field 'engine_option': expected KEY=VALUE (a vllm.LLM keyword), got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def check_engine(name: str, prog: str = "rl") -> None:
    """Refuse an engine name that is not in :data:`ENGINES`."""
    if name not in ENGINES:
        raise InputError(f"{prog}: field 'rollout_engine': expected one of {', '.join(ENGINES)}, got {name!r}")


def make_engine(name: str, policy, tokenizer, *, copy_weights: bool, prog: str = "rl", **options):
    """The rollout engine ``name`` (see :data:`ENGINES`) in this process; ``vllm`` is imported only here, so a default
    install never imports it (and says how to install it when it is missing). An engine in a Ray actor is
    :class:`langrl.train.pg.ray_engine.RayEngine`, which builds one of these inside the actor."""
    check_engine(name, prog)
    if name == "native":
        return NativeEngine(policy, tokenizer, copy_weights=copy_weights)
    if name == "vllm":
        from langrl.rollout.vllm_engine import VLLMEngine

        return VLLMEngine(policy, tokenizer, prog=prog, **options)
    raise InputError(f"{prog}: field 'rollout_engine': expected one of {', '.join(ENGINES)}, got {name!r}")


def rollout_to_state(ro: Rollout) -> dict:
    """A :class:`Rollout` as plain tensors, lists and dicts (``torch.load(weights_only=True)`` reads it back)."""
    return {f.name: getattr(ro, f.name) for f in dataclasses.fields(ro) if getattr(ro, f.name) is not None}


def rollout_from_state(state: dict) -> Rollout:
    return Rollout(**state)


class RolloutSchedule:
    """Batches generated ``max_staleness`` iterations ahead, one background thread (see the module doc).

    ``make_batch(step) -> (Rollout, allowed or None)`` samples iteration ``step``'s batch with the engine's current
    weights. ``last_step``: no batch at or beyond it is queued (the run's ``max_steps``).
    """

    def __init__(self, engine, make_batch: Callable[[int], tuple], *, max_staleness: int, last_step: int):
        self.engine, self.make_batch, self.k, self.last_step = engine, make_batch, max_staleness, last_step
        self.queue: dict[int, tuple[Future, int]] = {}  # step → (future of (rollout, allowed), weight version)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="langrl-rollout") if self.k else None

    def _submit(self, step: int, version: int) -> None:
        if step < self.last_step and step not in self.queue:
            self.queue[step] = (self.pool.submit(self.make_batch, step), version)

    def _wait_idle(self) -> None:
        for fut, _ in self.queue.values():
            fut.result()

    def next(self, step: int, policy) -> tuple[Rollout, torch.Tensor | None, int]:
        """(rollout, allowed, weight version) of iteration ``step``, whose weights (version ``step``) are
        ``policy``'s; then batch ``step + K`` is queued with those weights."""
        if not self.k:  # synchronous: a copying engine (vLLM) gets the weights first; the native sampler is the policy
            self.engine.sync(policy)
            ro, allowed = self.make_batch(step)
            return ro, allowed, step
        if not self.queue:  # a fresh run: the first K batches use the initial weights, like batch K itself
            for s in range(step, step + self.k):
                self._submit(s, step)
        fut, version = self.queue.pop(step)
        ro, allowed = fut.result()
        self._wait_idle()  # the engine is idle: its weights can change
        self.engine.sync(policy)
        self._submit(step + self.k, step)
        return ro, allowed, version

    def state(self) -> bytes:
        """This rank's queued batches (waiting for the one in flight), serialised for the checkpoint."""
        self._wait_idle()
        items = {}
        for s, (fut, version) in sorted(self.queue.items()):
            ro, allowed = fut.result()
            items[s] = {"version": version, "rollout": rollout_to_state(ro), "allowed": allowed}
        buf = io.BytesIO()
        torch.save(items, buf)
        return buf.getvalue()

    def checkpoint_files(self, rank: int, world: int) -> dict[str, bytes]:
        """{file name: bytes} of every rank's queue, gathered on all ranks (a collective when distributed; {} when
        synchronous). Rank 0 writes them into the checkpoint."""
        if not self.k:
            return {}
        mine = self.state()
        if world > 1:
            import torch.distributed as tdist

            everyone: list = [None] * world
            tdist.all_gather_object(everyone, mine)
        else:
            everyone = [mine]
        return {ROLLOUTS_FILE.format(rank=r): b for r, b in enumerate(everyone)}

    def load_checkpoint(self, directory, rank: int, world: int, start: int) -> None:
        """Queue the batches the checkpoint in ``directory`` saved for this rank, exactly as they were. A checkpoint
        of a synchronous run (no file) starts the queue afresh from the current weights."""
        from pathlib import Path

        path = Path(directory) / ROLLOUTS_FILE.format(rank=rank)
        if not path.is_file():
            if any(Path(directory).glob(ROLLOUTS_FILE.format(rank="*"))):
                raise InputError(f"{directory}: {path.name} is missing: resume an asynchronous run with the number "
                                 f"of processes it was saved with")
            return
        items = torch.load(path, weights_only=True)
        want = list(range(start, min(start + self.k, self.last_step)))
        if sorted(int(s) for s in items) != want:
            raise InputError(f"{path}: holds the batches of iterations {sorted(items)}, expected {want}: resume with "
                             f"the max_staleness and max_steps the run was saved with")
        for s, item in items.items():
            fut: Future = Future()
            fut.set_result((rollout_from_state(item["rollout"]), item["allowed"]))
            self.queue[int(s)] = (fut, int(item["version"]))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        self.engine.close()
