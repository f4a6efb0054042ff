"""Collect → score → log-probs → shaped rewards: everything between the policy's weights and the advantages.

- :func:`collect` samples n responses per prompt in *sampling calls* of a fixed number of prompts, each seeded by
  (seed, step, call index), so a batch is the same whether one process makes every call or several ranks share them.
- :func:`score` calls the (composite) reward and, for rewards that return segments, places their dense rewards on the
  tokens (fine-grained RLHF); those objectives then leave the last-token score, so nothing is counted twice.
- :func:`annotate` recomputes, without gradient, the old policy's log-probs (for the ratio), the reference's (for the
  KL) and the values, all at the sampling temperature (``Rollout.logprobs`` are taken at it too).
- :func:`shape_rewards` turns the score into per-token rewards: missing-EOS penalty, clipping, an optional
  per-prompt leave-one-out baseline, then the KL penalty's shaping (score on the last token + dense rewards − β·KL
  per token, :mod:`langrl.train.pg.kl`).

Shapes: b batch (prompts × samples), p prompt length, t response length, v vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from langrl.errors import InputError
from langrl.losses import entropy_from_logprobs, leave_one_out_advantages
from langrl.rollout import Rollout, response_logprobs, sample_prompts, sampling_logprobs

def chunk_seed(seed: int, step: int, chunk: int) -> int:
    """The sampling seed of call ``chunk`` at iteration ``step`` (independent of how calls are spread over ranks)."""
    return ((seed * 1_000_003 + step) * 10_007 + chunk) % (2**31 - 1)


def rows_to_columns(rows: list[dict]) -> tuple[list[str], dict[str, list]]:
    """(prompts, columns): every key other than ``prompt`` becomes a column with one value per row."""
    keys = sorted({k for r in rows for k in r if k != "prompt"})
    return [r["prompt"] for r in rows], {k: [r.get(k) for r in rows] for k in keys}


def cat_rollouts(parts: list[Rollout], pad_id: int) -> Rollout:
    """Concatenate rollouts row-wise: prompts re-padded on the left, responses on the right."""
    if len(parts) == 1:
        return parts[0]
    p = max(r.prompt_ids.shape[1] for r in parts)
    t = max(r.response_ids.shape[1] for r in parts)

    def left(x, fill):
        return torch.nn.functional.pad(x, (p - x.shape[1], 0), value=fill)

    def right(x, fill):
        return torch.nn.functional.pad(x, (0, t - x.shape[1]), value=fill)

    cols = {k: [v for r in parts for v in r.columns[k]] for k in parts[0].columns}
    return Rollout(prompt_ids=torch.cat([left(r.prompt_ids, pad_id) for r in parts]),
                   prompt_mask=torch.cat([left(r.prompt_mask, 0) for r in parts]),
                   response_ids=torch.cat([right(r.response_ids, pad_id) for r in parts]),
                   response_mask=torch.cat([right(r.response_mask, 0) for r in parts]),
                   logprobs=torch.cat([right(r.logprobs, 0) for r in parts]),
                   prompts=[s for r in parts for s in r.prompts], responses=[s for r in parts for s in r.responses],
                   group=torch.cat([r.group for r in parts]), ended=torch.cat([r.ended for r in parts]), columns=cols)


@torch.no_grad()
def collect(policy, tokenizer, rows: list[dict], chunks: list[int], chunk_prompts: int, *, n: int, step: int,
            seed: int, mask=None, **sampling) -> tuple[Rollout, torch.Tensor | None]:
    """Sample ``n`` responses for each prompt of the sampling calls ``chunks`` (call c covers
    ``rows[c*chunk_prompts:(c+1)*chunk_prompts]``). Returns the rollout and, with an NLPO ``mask``, the packed allowed
    sets (b, t, ceil(v/8)). ``Rollout.group`` holds the prompt's index in ``rows``. ``sampling``: the keywords of
    :func:`~langrl.rollout.sample_prompts` (a chat model's prompts go through its template; rewards see the text)."""
    parts, allowed = [], []
    for c in chunks:
        prompts, columns = rows_to_columns(rows[c * chunk_prompts:(c + 1) * chunk_prompts])
        ro = sample_prompts(policy, tokenizer, prompts, n=n, seed=chunk_seed(seed, step, c), logits_mask=mask,
                    columns=columns, **sampling)
        ro.group = ro.group + c * chunk_prompts
        parts.append(ro)
        if mask is not None:
            allowed.append(mask.recorded(ro.response_ids.shape[1]))
    ro = cat_rollouts(parts, tokenizer.pad_token_id)
    if mask is None:
        return ro, None
    t = ro.response_ids.shape[1]
    return ro, torch.cat([torch.nn.functional.pad(a, (0, 0, 0, t - a.shape[1])) for a in allowed])


@dataclass
class Scores:
    score: torch.Tensor
    """(b,) the sequence-level task score placed on the last token (weighted total of the non-dense objectives)."""
    dense: torch.Tensor | None
    """(b, t) dense segment rewards placed on tokens, or None."""
    objectives: dict[str, torch.Tensor]
    """name → (b,) raw score of each objective, plus ``total`` (the composite's weighted total)."""
    columns: torch.Tensor | None = None
    """(b, k) the shaped (clipped / normalised) score of each sequence-level objective, before weighting: the reward
    vector that ``--aggregation`` other than sum turns into advantages (None with dense segment rewards)."""
    weights: torch.Tensor | None = None
    """(k,) the weight of each column of ``columns``; score = Σ_k weights_k · columns_k (NaN columns skipped)."""


def score(reward, ro: Rollout, tokenizer) -> Scores:
    """Call the composite ``reward`` on the rollout's texts and columns; place any dense segment rewards."""
    from langrl.rewards import place_segment_rewards, token_char_ends

    out = reward(ro.prompts, ro.responses, **ro.columns)
    objectives = {name: out.scores[:, j] for j, name in enumerate(out.names)}
    total = out.column(reward.name)
    if not out.segments or not any(out.segments):
        names = [n for n in out.names if n != reward.name]
        columns, weights = out.info.get("shaped"), out.info.get("weights")
        w = torch.tensor([weights[n] for n in names]) if columns is not None and weights else None
        return Scores(total, None, objectives, columns if w is not None else None, w)
    lengths = ro.response_mask.sum(1).long().tolist()
    ends = token_char_ends(tokenizer, [ids[:n].tolist() for ids, n in zip(ro.response_ids, lengths)])
    weights = out.info.get("weights")
    dense = place_segment_rewards(out.segments, ends, ro.response_ids.shape[1], weights)
    dense_objs = {s.objective for segs in out.segments for s in segs}
    shaped, names = out.info["shaped"], [n for n in out.names if n != reward.name]
    keep = torch.tensor([n not in dense_objs for n in names])
    w = torch.tensor([weights[n] for n in names])
    seq = (shaped * w * keep).nansum(dim=1)  # Σ_k w_k · shaped_k over the objectives without segments
    return Scores(seq, dense.to(ro.response_mask.device), objectives)


@dataclass
class PolicyOutputs:
    logprobs: torch.Tensor
    """(b, t) log-probs of the sampling distribution (temperature, top-k/top-p, NLPO mask): the PPO ratio's."""
    full_logprobs: torch.Tensor
    """(b, t) log-probs at the temperature, untruncated and unmasked: the KL's."""
    entropy: torch.Tensor | None = None
    """(b, t) entropy of the sampling distribution."""
    hidden: torch.Tensor | None = None
    """(b, t, h) last hidden states at the predicting positions (shared value head)."""


def policy_forward(model, ro: Rollout, *, temperature: float, top_k: int = 0, top_p: float = 1.0,
                   allowed: torch.Tensor | None = None, with_entropy: bool = False,
                   with_hidden: bool = False) -> PolicyOutputs:
    """One forward pass of ``model`` over the rollout rows; ``allowed`` (b, t, v) bool is NLPO's support."""
    args = (ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask)
    truncated = allowed is not None or top_k > 0 or top_p < 1.0
    out = response_logprobs(model, *args, attn_mask=ro.attn_mask, temperature=temperature, with_hidden=with_hidden,
                            with_entropy=with_entropy and not truncated, with_logits=truncated)
    if not truncated:
        return PolicyOutputs(out.logprobs, out.logprobs, out.entropy, out.hidden)
    lp_all = sampling_logprobs(out.logits, temperature, top_k, top_p, allowed)  # (b, t, v), -inf off the support
    picked = lp_all.gather(-1, ro.response_ids[..., None]).squeeze(-1)
    # where, not a product: a padding token outside the support has log-prob -inf, and -inf * 0 is NaN
    logprobs = torch.where(ro.response_mask.bool(), picked, torch.zeros_like(picked))
    entropy = None
    if with_entropy:
        entropy = entropy_from_logprobs(lp_all)
    return PolicyOutputs(logprobs, out.logprobs, entropy, out.hidden)


def reference_logprobs(policy, ref_model, ro: Rollout, temperature: float,
                       allowed: torch.Tensor | None = None) -> torch.Tensor:
    """(b, t) log π_ref at the temperature: ``ref_model``, or with ``ref_model=None`` the LoRA policy's base with its
    adapters disabled (no second copy of the weights). ``allowed`` (b, t, v) bool: π_ref restricted to those tokens
    and renormalised, as the policy was when it sampled."""
    args = (ro.prompt_ids, ro.prompt_mask, ro.response_ids, ro.response_mask)
    kw = dict(attn_mask=ro.attn_mask, temperature=temperature, allowed=allowed)
    if ref_model is not None:
        return response_logprobs(ref_model, *args, **kw).logprobs
    from langrl.models.lora import adapters_disabled

    with adapters_disabled(policy):
        return response_logprobs(policy, *args, **kw).logprobs


@torch.no_grad()
def annotate(policy, ro: Rollout, *, ref_model, critic, allowed: torch.Tensor | None, micro_batch_size: int,
             temperature: float, top_k: int, top_p: float, vocab_size: int,
             policy_pass: bool = True, mask_reference: bool = False) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Fill ``ro.old_logprobs``, ``ro.ref_logprobs`` and (with a critic) ``ro.values``, micro-batch by micro-batch.

    ``mask_reference``: the reference is restricted to ``allowed`` too (``ro.ref_logprobs`` is then log π_ref over the
    same renormalised support as ``ro.old_logprobs``: a KL between the two masked policies).

    Returns (full_logprobs (b, t): the policy's unmasked log-probs for the KL, entropy (b, t)). With
    ``policy_pass=False`` (one optimizer step per batch, nothing needed before it: the loss pass sees θ_old itself)
    only the reference runs, and both are None.
    """
    from langrl.rollout.nlpo import unpack_mask

    old, full, ref, values, ent = [], [], [], [], []
    for i in range(0, ro.batch_size, micro_batch_size):
        idx = list(range(i, min(i + micro_batch_size, ro.batch_size)))
        mb = ro.select(idx)
        mb_allowed = None if allowed is None else unpack_mask(allowed[idx], vocab_size)
        ref.append(reference_logprobs(policy, ref_model, mb, temperature, mb_allowed if mask_reference else None))
        if not policy_pass:
            continue
        out = policy_forward(policy, mb, temperature=temperature, top_k=top_k, top_p=top_p, allowed=mb_allowed,
                             with_entropy=True, with_hidden=critic is not None and critic.needs_policy_hidden)
        old.append(out.logprobs)
        full.append(out.full_logprobs)
        ent.append(out.entropy)
        if critic is not None:
            values.append(critic(mb.prompt_ids, mb.prompt_mask, mb.response_ids, mb.response_mask,
                                 hidden=out.hidden) * mb.response_mask)
    ro.ref_logprobs = torch.cat(ref)
    if not policy_pass:
        return None, None
    ro.old_logprobs = torch.cat(old)
    if critic is not None:
        ro.values = torch.cat(values)
    return torch.cat(full), torch.cat(ent)


def shape_rewards(score: torch.Tensor, ended: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, *, penalty,
                  dense: torch.Tensor | None = None, missing_eos_penalty: float = 0.0,
                  reward_clip: float = 0.0, group_baseline: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards (b, t) and the final sequence score (b,).

    score' = clip(score − eos_penalty · 1[no EOS], −c, c); rewards = ``penalty.shape``: score' on the last policy
    token + dense − β·kl (β only when the KL is in the reward). ``penalty``: the
    :class:`~langrl.train.pg.kl.KLPenalty`. Shapes: score, ended (b,); kl, mask, dense (b, t).

    ``group_baseline`` n ≥ 2 (rows of a prompt's n samples contiguous): the last token carries score' minus the mean
    score' of the prompt's n − 1 other samples (a leave-one-out baseline, Kool et al. 2019; it does not depend on the
    row's own response, so the policy gradient stays unbiased), so what the value function must learn is how much
    better a response is than its prompt's others, not how hard the prompt is. Dense rewards and the KL are not
    baselined. The returned final score is score' before the baseline (what is logged).
    """
    s = score - missing_eos_penalty * (~ended.bool()).to(score.dtype)  # TRL's missing_eos_penalty
    if reward_clip > 0:
        s = s.clamp(-reward_clip, reward_clip)
    placed = leave_one_out_advantages(s, group_baseline).to(s.dtype) if group_baseline else s
    return penalty.shape(placed, kl, mask, dense), s


def load_prompt_rows(spec: str, split: str, num: int, seed: int) -> list[dict]:
    """Prompt rows from ``task:NAME`` (``num`` of its ``split``) or a JSONL file with a ``prompt`` column."""
    from langrl.train.data import load_prompts

    rows = load_prompts(spec, num if spec.startswith("task:") else 0, split=split, seed=seed)
    if not rows:
        raise InputError(f"no prompts in {spec}")
    return rows
