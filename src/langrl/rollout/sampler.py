"""Batched, KV-cached sampling that returns the exact log-prob of every sampled token.

Prompts are left-padded so that every row's next token sits in the last column; position ids come from the attention
mask so padding never shifts positions. Each step samples from :func:`~langrl.rollout.logits.sampling_logprobs` and
records the log-prob of the chosen token under that same distribution, so PPO's "old" log-probs at temperature 1 with
no truncation equal a fresh forward pass (tested to 1e-4).
"""
from __future__ import annotations

import torch

from langrl.rollout.logits import LogitsMask, sampling_logprobs
from langrl.rollout.record import Rollout


def encode_prompts(tokenizer, prompts: list[str], max_prompt_tokens: int | None = None):
    """(ids (b, p), mask (b, p)) left-padded. Over-long prompts keep their LAST ``max_prompt_tokens`` tokens."""
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    if max_prompt_tokens:
        rows = [r[-max_prompt_tokens:] for r in rows]
    width = max(1, max(len(r) for r in rows))
    pad = tokenizer.pad_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
    return ids, mask


def cache_kwarg(model) -> str:
    """transformers >= 5.24 names the KV cache argument ``cache``; earlier versions ``past_key_values``."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a peft model forwards **kwargs
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


def cache_of(out):
    return out.cache if getattr(out, "cache", None) is not None else out.past_key_values


def _cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


@torch.no_grad()
def sample(model, tokenizer, prompts: list[str], *, n: int = 1, max_new_tokens: int = 32, temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, stop: list[str] | None = None, seed: int | None = None,
           logits_mask: LogitsMask | None = None, max_prompt_tokens: int | None = None,
           columns: dict | None = None, progress=None) -> Rollout:
    """Sample ``n`` responses per prompt (rows ``[p0]*n + [p1]*n + ...``) and return a :class:`Rollout`.

    Args:
        stop: strings that end a response (checked on the decoded text after each token); the response text is cut
            before the stop string, the tokens that produced it stay (masked in).
        seed: seeds a private generator, so sampling is reproducible without touching global RNG state.
        logits_mask: optional hook restricting the support at each step (NLPO, admissible actions).
        columns: dataset columns aligned with ``prompts``; repeated ``n`` times into ``Rollout.columns``.
        progress: called after every decoding step with the number of tokens that step sampled (progress lines
            with tokens/s during long rollouts).
    """
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    prompts_n = [p for p in prompts for _ in range(n)]
    prompt_ids, prompt_mask = encode_prompts(tokenizer, prompts_n, max_prompt_tokens)
    prompt_ids, prompt_mask = prompt_ids.to(device), prompt_mask.to(device)
    b = prompt_ids.shape[0]
    gen = torch.Generator(device=device)
    gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item()))
    if logits_mask is not None:
        logits_mask.reset(prompt_ids, prompt_mask)

    attn = prompt_mask.clone()
    positions = (attn.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=prompt_ids, attention_mask=attn, position_ids=positions, use_cache=True, logits_to_keep=1)
    cache_kw = cache_kwarg(model)
    past, logits = cache_of(out), out.logits[:, -1, :]
    next_pos = positions[:, -1:] + 1

    tokens = torch.full((b, max_new_tokens), pad, dtype=torch.long, device=device)
    logps = torch.zeros((b, max_new_tokens), device=device)
    alive = torch.ones(b, dtype=torch.bool, device=device)
    ended = torch.zeros(b, dtype=torch.bool, device=device)
    lengths = torch.zeros(b, dtype=torch.long, device=device)
    stop = [s for s in (stop or []) if s]
    for step in range(max_new_tokens):
        allowed = logits_mask.allowed(logits) if logits_mask is not None else None
        lp = sampling_logprobs(logits, temperature, top_k, top_p, allowed)
        nxt = torch.multinomial(lp.exp(), 1, generator=gen).squeeze(-1)
        nxt = torch.where(alive, nxt, torch.full_like(nxt, pad))
        tokens[:, step] = nxt
        logps[:, step] = torch.where(alive, lp.gather(-1, nxt[:, None]).squeeze(-1), torch.zeros_like(logps[:, step]))
        lengths += alive.long()
        sampled = alive.clone()  # rows whose token at this step is real
        hit_eos = alive & (nxt == eos)
        if stop:
            for i in alive.nonzero().flatten().tolist():
                text = tokenizer.decode(tokens[i, : step + 1], skip_special_tokens=True)
                if _cut_at_stop(text, stop)[1]:
                    hit_eos[i] = True
        ended |= hit_eos
        alive &= ~hit_eos
        if progress is not None:
            progress(int(sampled.sum()))
        if logits_mask is not None:
            logits_mask.advance(nxt)
        if not alive.any() or step == max_new_tokens - 1:
            break
        attn = torch.cat([attn, sampled.long()[:, None]], dim=1)
        out = model(input_ids=nxt[:, None], attention_mask=attn, position_ids=next_pos, use_cache=True,
                    **{cache_kw: past})
        past, logits = cache_of(out), out.logits[:, -1, :]
        next_pos = next_pos + 1

    t = int(lengths.max().item()) if b else 0
    tokens, logps = tokens[:, :t], logps[:, :t]
    mask = (torch.arange(t, device=device)[None, :] < lengths[:, None]).float()
    logps = logps * mask
    texts = []
    for i in range(b):
        ids = tokens[i, : lengths[i]].tolist()
        text = tokenizer.decode(ids, skip_special_tokens=True)
        texts.append(_cut_at_stop(text, stop)[0] if stop else text)
    cols = {k: [v for v in col for _ in range(n)] for k, col in (columns or {}).items()}
    return Rollout(prompt_ids=prompt_ids, prompt_mask=prompt_mask, response_ids=tokens, response_mask=mask,
                   logprobs=logps, prompts=prompts_n, responses=texts,
                   group=torch.arange(len(prompts), device=device).repeat_interleave(n), ended=ended, columns=cols)


def sample_prompts(model, tokenizer, prompts: list, *, chat_template: bool = True, system: str | None = None,
                   **kwargs) -> Rollout:
    """:func:`sample` for prompts as users give them: strings or ``{role, content}`` message lists, rendered by
    :func:`langrl.chat.render_prompt` (the tokenizer's chat template with the generation prompt when it has one and
    ``chat_template`` is on). ``Rollout.prompts`` then holds :func:`langrl.chat.prompt_text` (the user's text, what
    rewards and logs see), not the template's markup; ``Rollout.prompt_ids`` are the rendered prompt's tokens."""
    from langrl.chat import prompt_text, render_prompts

    texts = render_prompts(tokenizer, prompts, system=system, use_template=chat_template)
    ro = sample(model, tokenizer, texts, **kwargs)
    n = kwargs.get("n", 1)
    ro.prompts = [prompt_text(p) for p in prompts for _ in range(n)]
    return ro
