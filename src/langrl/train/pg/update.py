"""K epochs of minibatch updates on one collected batch: the loss of a micro-batch and the optimizer steps.

Loss of a minibatch (every term a token-level sum divided by the minibatch's global number of policy tokens, so
micro-batches and data-parallel ranks add up to exactly the one-big-batch gradient)::

    L = L_policy(ratio or log π, A)  +  vf_coef · L_value  −  entropy_coef · H  +  β · KL_est(π_θ, π_ref)   [KL in loss]

(the policy loss is the algorithm object's, the last term :meth:`langrl.train.pg.kl.KLPenalty.loss_term`).

Minibatches are stratified by sampling call: each epoch permutes the rows of every call (seeded by seed, step, epoch,
call) and minibatch k takes the k-th slice of each. The composition of a minibatch therefore does not depend on how
calls are spread over ranks, and every rank holds the same number of its rows.

Shapes: b batch, t response length, v vocabulary.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from langrl import distributed as dist
from langrl.losses import kl_k3, masked_mean, token_mean, value_loss
from langrl.rollout import Rollout
from langrl.rollout.nlpo import unpack_mask
from langrl.train.pg.collect import policy_forward
from langrl.train.pg.engines import tis_weights
from langrl.train.pg.stats import global_sum


@dataclass(frozen=True)
class UpdateSettings:
    """How one collected batch is optimised, read once from the config (the algorithm and the KL penalty hold the
    rest). ``top_k``/``top_p``: the sampling truncation the ratio uses too (``langrl agent train`` has none)."""
    epochs: int
    micro_batch_size: int
    grad_clip: float
    seed: int
    value_clip_eps: float = 0.0
    vf_coef: float = 0.0
    entropy_coef: float = 0.0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    is_cap: float = 0.0
    """Truncated importance sampling (``langrl.train.pg.engines.tis_weights``): weight every token's policy loss by
    min(π_θold / π_behaviour, is_cap), π_behaviour being ``Rollout.logprobs`` (the engine's). 0 = off: the loop sets
    it only when the sampler is not the trainer itself (an asynchronous or non-native rollout engine)."""

    @classmethod
    def from_config(cls, cfg) -> "UpdateSettings":
        return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)
                      if hasattr(cfg, f.name) or f.default is dataclasses.MISSING})


def micro_batch_loss(policy, critic, mb: Rollout, allowed: torch.Tensor | None, *, algo, kl, settings: UpdateSettings,
                     normalizer: float) -> tuple[torch.Tensor, dict, dict, dict]:
    """(loss, sums, means, per_token) of one micro-batch. ``sums`` are already divided by ``normalizer`` (they add up
    over micro-batches); ``means`` are means over this micro-batch's tokens (weight them by its token share).

    ``algo``: an :class:`~langrl.train.pg.algorithms.Algorithm` (its policy loss); ``kl``: the
    :class:`~langrl.train.pg.kl.KLPenalty` (its loss term when the KL is in the loss).

    Without ``mb.old_logprobs`` (one optimizer step per batch: this pass runs at θ_old) the ratio's denominator is
    this pass's own log-probs, detached, and ``per_token`` returns the (b, t) KL (``kl.per_token``) and entropy the
    collection pass would otherwise have measured; else it is empty.

    ``allowed`` (b, t, v) bool: NLPO's recorded support (the ratio's distribution is masked and renormalised; the KL
    uses the unmasked log-probs).
    """
    s = settings
    mask = mb.response_mask
    want_hidden = critic is not None and critic.needs_policy_hidden
    on_policy = mb.old_logprobs is None
    out = policy_forward(policy, mb, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, allowed=allowed,
                         with_entropy=s.entropy_coef > 0 or on_policy, with_hidden=want_hidden)
    old_logprobs = out.logprobs.detach() if on_policy else mb.old_logprobs
    advantages, is_stats = mb.advantages, {}
    if s.is_cap > 0:  # TIS: a positive per-token weight on A scales each token's clipped surrogate / −A·log π term
        w, is_stats = tis_weights(old_logprobs, mb.logprobs, mask, s.is_cap)
        advantages = w * (advantages if advantages.dim() == 2 else advantages[:, None])
    loss, parts = algo.policy_loss(out.logprobs, old_logprobs, advantages, mask, normalizer)
    parts.update(is_stats)
    sums = {"policy_loss": loss.detach()}
    if critic is not None:
        values = critic(mb.prompt_ids, mb.prompt_mask, mb.response_ids, mb.response_mask, hidden=out.hidden)
        v_loss, v_parts = value_loss(values, mb.values, mb.returns, mask, s.value_clip_eps or None, normalizer)
        loss = loss + s.vf_coef * v_loss
        sums["value_loss"] = v_loss.detach()
        if s.value_clip_eps:
            parts["value_clipfrac"] = v_parts["value_clipfrac"]
    if s.entropy_coef > 0:
        ent = token_mean(out.entropy, mask, normalizer)
        loss = loss - s.entropy_coef * ent  # entropy bonus
        sums["entropy_bonus"] = ent.detach()
    term = kl.loss_term(out.full_logprobs, mb.ref_logprobs, mask, normalizer)
    if term is not None:
        loss = loss + term[0]  # KL in the loss (GRPO eq. 3): + β · KL_est per token, unmasked log-probs
        sums["kl_loss"] = term[1].detach()
    with torch.no_grad():  # k3 estimate of KL[π_old ‖ π_θ]: how far the update has moved, for every algorithm
        parts["approx_kl"] = masked_mean(kl_k3(old_logprobs, out.logprobs), mask)
        per_token = {} if not on_policy else {"kl": kl.per_token(out.full_logprobs, mb.ref_logprobs, mask),
                                              "entropy": out.entropy.detach()}
    means = {k: float(v) for k, v in parts.items()
             if k in ("clipfrac", "approx_kl", "ratio_mean", "value_clipfrac") or k.startswith("rollout/")}
    return loss, {k: float(v) for k, v in sums.items()}, means, per_token


def stratified_minibatches(chunk_rows: int, my_chunks: list[int], n_minibatches: int, *, seed: int, step: int,
                           epoch: int) -> list[list[int]]:
    """Local row indices of each minibatch: the k-th slice of every owned call's permutation (see module doc)."""
    per = chunk_rows // n_minibatches
    out = [[] for _ in range(n_minibatches)]
    for j, c in enumerate(my_chunks):
        g = torch.Generator().manual_seed((seed * 1_000_003 + step) * 10_007 + epoch * 101 + c)
        perm = (torch.randperm(chunk_rows, generator=g) + j * chunk_rows).tolist()
        for k in range(n_minibatches):
            out[k].extend(perm[k * per:(k + 1) * per])
    return out


def _sync_gradients(params: list[torch.nn.Parameter]) -> None:
    """Sum gradients over ranks (each rank divided by the global token count: sum, not mean)."""
    if dist.world_size() == 1:
        return
    from langrl.train.fsdp import is_sharded, sum_gradients

    sum_gradients(params, dist.world_size())  # FSDP has reduce-scattered (averaged) its own already
    for p in params:  # every rank has rows in every minibatch, so every rank has the same grads set
        if p.grad is not None and not is_sharded(p.grad):
            dist.all_reduce_sum(p.grad)


def run_epochs(policy, critic, ro: Rollout, allowed: torch.Tensor | None, *, algo, kl, settings: UpdateSettings,
               optimizer, scheduler, params: list[torch.nn.Parameter], my_chunks: list[int], chunk_rows: int,
               n_minibatches: int, step: int, vocab_size: int) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """``epochs`` passes of ``n_minibatches`` optimizer steps over the local rollout ``ro``. Returns the mean of the
    logged quantities over all minibatches (global over ranks) and, when ``ro.old_logprobs`` is None, the (b, t)
    per-token KL and entropy measured by the (single) loss pass."""
    mask = ro.response_mask
    epochs, micro_batch_size, grad_clip = settings.epochs, settings.micro_batch_size, settings.grad_clip
    plans = [stratified_minibatches(chunk_rows, my_chunks, n_minibatches, seed=settings.seed, step=step, epoch=e)
             for e in range(epochs)]
    local_tokens = torch.tensor([[float(mask[mb].sum()) for mb in plan] for plan in plans])
    normalizers = global_sum(local_tokens).clamp_min(1.0)  # (epochs, minibatches): global tokens per minibatch
    acc: dict[str, float] = {}
    gnorms, per_token = [], {}
    for e, plan in enumerate(plans):
        for k, rows in enumerate(plan):
            norm = float(normalizers[e, k])
            for i in range(0, len(rows), micro_batch_size):
                idx = rows[i:i + micro_batch_size]
                mb = ro.select(idx)
                mb_allowed = None if allowed is None else unpack_mask(allowed[idx], vocab_size)
                loss, sums, means, tokens = micro_batch_loss(policy, critic, mb, mb_allowed, algo=algo, kl=kl,
                                                             settings=settings, normalizer=norm)
                loss.backward()
                for key, v in tokens.items():
                    per_token.setdefault(key, torch.zeros_like(mask))[idx] = v
                share = float(mb.response_mask.sum()) / norm
                for key, v in sums.items():
                    acc[key] = acc.get(key, 0.0) + v
                for key, v in means.items():
                    acc[key] = acc.get(key, 0.0) + share * v
            _sync_gradients(params)
            gnorms.append(float(torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else 1e12)))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
    steps = epochs * n_minibatches
    keys = sorted(acc)
    totals = global_sum(torch.tensor([acc[k] for k in keys])) / steps if keys else torch.zeros(0)
    out = {k: float(v) for k, v in zip(keys, totals)}
    out["grad_norm"] = sum(gnorms) / len(gnorms)
    out["lr"] = scheduler.get_last_lr()[0]
    return out, per_token
