"""Multi-turn rollouts: a batch of episodes played by the policy, returned as ONE :class:`~langrl.rollout.Rollout`.

Per turn, every live episode's policy writes an action token by token (KV-cached, as
:func:`langrl.rollout.sample` does) until a stop string (``"\\n"``), EOS, a complete admissible command or
``max_action_tokens``; the environments step; each reply (observation + action prompt) is tokenised and pushed
through the model in one chunk, extending the same KV cache. Rows of the cache may have holes (padding with
attention 0 where a row had nothing to add); positions come from the count of real tokens, so the cache computes
exactly what one forward pass over the compacted transcript computes (tested: recomputed log-probs match to 1e-4).

Layout of the returned Rollout (one row per episode, or more when the context policy split it — see below):
- ``prompt_ids``: the first observation + action prompt (left-padded);
- ``response_ids``: every later token — actions AND observations, in order (right-padded);
- ``response_mask``: 1 on action tokens only; environment tokens are 0, so they get no loss, no KL, no advantage;
- ``attn_mask``: 1 on every real token (actions and observations), 0 on padding;
- ``logprobs``: log-prob of each action token under the exact distribution it was drawn from (temperature, top-k/p,
  the admissible-command mask), 0 elsewhere;
- ``dense_rewards``: each turn's environment reward on the last token of that turn's action;
- ``ended``: the episode finished (won, lost, or the environment said done) within this row;
- ``group``: the group of the row's episode (GRPO/RLOO: episodes from the same seed), ``columns``: ``episode``,
  ``segment`` (row number within the episode), ``seed``, ``actions``, ``allowed`` (per action position, the allowed
  token ids under ``--action-space admissible``), ``dropped_turns``.

Context policy (see :mod:`langrl.envs.render`): when the next observation plus an action would overflow
``max_context``, the episode continues in a NEW row whose prompt is the first observation plus the most recent whole
turns that fit half the window. The old row keeps what it had (``ended`` False); both rows carry the same
``episode`` id, and the advantage estimators in :mod:`langrl.envs.returns` chain the turns of all rows of an episode.
"""
from __future__ import annotations

import torch

from langrl.envs.admissible import AdmissibleMask, allowed_next
from langrl.envs.protocol import EnvBatch
from langrl.envs.render import action_piece, clip_observation, encode, fit_context, observation_piece
from langrl.rollout.logits import sampling_logprobs
from langrl.rollout.record import Rollout
from langrl.rollout.sampler import cache_kwarg, cache_of


class _Row:
    """One row of the rollout: a prompt and the response tokens that followed it."""

    def __init__(self, episode: int, segment: int, prompt: list[int], dropped: int = 0):
        self.episode, self.segment, self.prompt, self.dropped = episode, segment, prompt, dropped
        self.resp: list[int] = []
        self.policy: list[bool] = []
        self.logps: list[float] = []
        self.allowed: dict[int, list[int]] = {}
        self.rewards: dict[int, float] = {}  # response position of an action's last token -> the turn's reward
        self.actions: list[str] = []
        self.ended = False

    def add(self, tokens: list[int], policy: bool, logps: list[float] | None = None) -> None:
        self.resp += tokens
        self.policy += [policy] * len(tokens)
        self.logps += logps if logps is not None else [0.0] * len(tokens)

    def context(self) -> list[int]:
        return self.prompt + self.resp


class _Cache:
    """A batched KV cache over per-slot token streams (one slot per episode)."""

    def __init__(self, model, pad: int):
        self.model, self.pad = model, pad
        self.device = next(model.parameters()).device
        self.kw = cache_kwarg(model)

    def prefill(self, contexts: list[list[int]]) -> None:
        width = max(len(c) for c in contexts)
        ids = torch.full((len(contexts), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(contexts), width), dtype=torch.long)
        for i, c in enumerate(contexts):
            ids[i, width - len(c):] = torch.tensor(c, dtype=torch.long)
            mask[i, width - len(c):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
        self.past, self.attn = cache_of(out), mask
        self.logits = out.logits[:, -1, :].float()
        self.next_pos = mask.sum(-1)

    def feed(self, chunks: list[list[int]]) -> None:
        """Append ``chunks[i]`` to slot i (slots with an empty chunk get padding with attention 0)."""
        width = max(len(c) for c in chunks)
        if width == 0:
            return
        ids = torch.full((len(chunks), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(chunks), width), dtype=torch.long)
        for i, c in enumerate(chunks):
            if c:
                ids[i, : len(c)] = torch.tensor(c, dtype=torch.long)
                mask[i, : len(c)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = self.next_pos[:, None] + (mask.cumsum(-1) - 1).clamp(min=0)
        self.attn = torch.cat([self.attn, mask], dim=1)
        out = self.model(input_ids=ids, attention_mask=self.attn, position_ids=positions, use_cache=True,
                         **{self.kw: self.past})
        self.past = cache_of(out)
        lengths = mask.sum(-1)
        has = lengths > 0
        last = (lengths - 1).clamp(min=0)
        new_logits = out.logits[torch.arange(len(chunks), device=self.device), last].float()
        self.logits = torch.where(has[:, None], new_logits, self.logits)
        self.next_pos = self.next_pos + lengths


def _write_actions(cache: _Cache, hook: AdmissibleMask | None, live: list[int], rows: list[_Row], *, budget: int,
                   tokenizer, stop: tuple[str, ...], temperature: float, top_k: int, top_p: float, greedy: bool,
                   gen: torch.Generator) -> tuple[dict, dict, dict]:
    """Every live slot writes one action, token by token, through the KV cache. ``rows[e]``: slot e's current row.

    Returns per slot: the action's tokens, their log-probs under the distribution each was drawn from (temperature,
    top-k/p, the admissible mask), and whether it ended on a stop string (False: EOS or the budget).
    """
    eos = tokenizer.eos_token_id
    act_ids: dict[int, list[int]] = {e: [] for e in live}
    act_lp: dict[int, list[float]] = {e: [] for e in live}
    stopped: dict[int, bool] = {e: False for e in live}
    writing = set(live)
    for _ in range(budget):
        allowed = hook.allowed(cache.logits) if hook is not None else None
        lp = sampling_logprobs(cache.logits, temperature, top_k, top_p, allowed)
        nxt = lp.argmax(-1) if greedy else torch.multinomial(lp.exp(), 1, generator=gen).squeeze(-1)
        chunks: list[list[int]] = [[] for _ in range(len(rows))]
        for e in sorted(writing):
            tok = int(nxt[e])
            ids = hook.allowed_ids(e) if hook is not None else None
            if ids is not None:  # the support of this position, kept for the loss's recomputation
                rows[e].allowed[len(rows[e].resp) + len(act_ids[e])] = ids
            act_ids[e].append(tok)
            act_lp[e].append(float(lp[e, tok]))
            chunks[e] = [tok]
        if hook is not None:
            hook.advance(nxt)
        for e in sorted(writing):
            text = tokenizer.decode(act_ids[e], skip_special_tokens=True)
            if act_ids[e][-1] == eos or _stopped(text, stop) or (hook is not None and hook.complete(e)):
                stopped[e] = act_ids[e][-1] != eos
                writing.discard(e)
        cache.feed(chunks)  # every sampled token, the last one included, becomes context for what follows
        if not writing:
            break
    return act_ids, act_lp, stopped


class _NoCache:
    """What :func:`rollout_episodes` keeps of the KV cache when a rollout engine writes the actions: nothing (the
    engine re-reads each row's whole context every turn)."""

    def __init__(self, device):
        self.device = device

    def prefill(self, contexts) -> None:
        pass

    def feed(self, chunks) -> None:
        pass


def _engine_actions(engine, cands, live: list[int], rows: list[_Row], *, budget: int, stop: tuple[str, ...],
                    temperature: float, top_k: int, top_p: float, greedy: bool, gen: torch.Generator):
    """:func:`_write_actions`' result, written by a rollout engine (``--rollout-engine vllm``) from every live row's
    context; each request seeded from ``gen`` (so a run is reproducible)."""
    seeds = torch.randint(0, 2**31 - 1, (len(live),), generator=gen).tolist()
    out = engine.write_actions([rows[e].context() for e in live], budget=budget, stop=stop, temperature=temperature,
                               top_k=top_k, top_p=top_p, greedy=greedy, seeds=seeds,
                               candidates=[cands[e] for e in live] if cands is not None else None)
    act_ids = {e: ids for e, (ids, _, _) in zip(live, out)}
    act_lp = {e: lps for e, (_, lps, _) in zip(live, out)}
    stopped = {e: s for e, (_, _, s) in zip(live, out)}
    for e in live if cands is not None else []:  # each position's support, as _write_actions keeps it
        for k in range(len(act_ids[e]) if cands[e] else 0):
            rows[e].allowed[len(rows[e].resp) + k] = allowed_next(cands[e], act_ids[e][:k])
    return act_ids, act_lp, stopped


def _candidates(batch: EnvBatch, tokenizer, stop: tuple[str, ...]) -> list[list[list[int]] | None]:
    """Per row, the token sequences of the admissible commands as the policy writes them (None: finished row)."""
    return [[encode(tokenizer, action_piece(a, stop)) for a in acts] if acts else None for acts in batch.admissible()]


def _stopped(text: str, stop: tuple[str, ...]) -> bool:
    return any(s and s in text for s in stop)


def _cut(text: str, stop: tuple[str, ...]) -> str:
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return (text[:cut] if cut >= 0 else text).strip()


@torch.no_grad()
def rollout_episodes(model, tokenizer, batch: EnvBatch, seeds: list[int], *, max_turns: int,
                     max_action_tokens: int = 16, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                     greedy: bool = False, action_space: str = "free", max_context: int | None = None,
                     max_first_tokens: int | None = None, max_obs_tokens: int | None = None, seed: int | None = None,
                     group: list[int] | None = None, engine=None) -> Rollout:
    """Play one episode per environment of ``batch`` (``seeds[i]`` on env i) and return the rollout (module doc).

    Args:
        action_space: ``"free"`` (the policy writes any text) or ``"admissible"`` (one of the environment's
            admissible commands, see :mod:`langrl.envs.admissible`).
        greedy: take the most likely allowed token instead of sampling (evaluation).
        max_context: the model window (default: the model's ``max_position_embeddings``).
        max_first_tokens, max_obs_tokens: clip the first observation / later ones (default: half / a quarter of
            the window).
        group: group id per episode (default: episodes with the same seed share a group).
        seed: seeds the sampling generator (reproducible without touching global RNG state).
        engine: a rollout engine that writes the actions instead of ``model``'s KV-cached loop
            (:meth:`langrl.rollout.vllm_engine.VLLMEngine.write_actions`); ``model`` then only gives the window.
    The played episodes (actions, rewards, won/lost) are left in ``batch.episodes``.
    """
    if action_space not in ("free", "admissible"):
        raise ValueError(f"action_space: expected 'free' or 'admissible', got {action_space!r}")
    window = max_context or int(getattr(model.config, "max_position_embeddings", 512))
    max_first_tokens = max_first_tokens or window // 2
    max_obs_tokens = max_obs_tokens or window // 4
    if max_first_tokens + max_obs_tokens + 2 * max_action_tokens > window:
        raise ValueError(f"context policy: max_first_tokens ({max_first_tokens}) + max_obs_tokens ({max_obs_tokens}) "
                         f"+ 2 × max_action_tokens ({max_action_tokens}) must fit the window ({window})")
    act_prompt, stop = batch.action_format
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    n = len(batch)
    first_obs = batch.reset(seeds)
    if group is None:
        order = {s: i for i, s in enumerate(dict.fromkeys(int(s) for s in seeds))}
        group = [order[int(s)] for s in seeds]
    firsts = []
    for obs in first_obs:
        text = obs + act_prompt if not act_prompt else obs.strip() + act_prompt
        firsts.append(clip_observation(encode(tokenizer, text), max_first_tokens, tokenizer, act_prompt))
    rows = [_Row(e, 0, firsts[e]) for e in range(n)]
    active = list(range(n))  # episode -> index of its current row in ``rows``
    history: list[list[list[int]]] = [[] for _ in range(n)]  # per episode: action + observation tokens per turn
    cache = _Cache(model, pad) if engine is None else _NoCache(next(model.parameters()).device)
    cache.prefill([rows[active[e]].context() for e in range(n)])
    gen = torch.Generator(device=cache.device)
    gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item()))

    cands = _candidates(batch, tokenizer, stop) if action_space == "admissible" else None
    for turn in range(max_turns):
        live = [e for e in range(n) if not batch.episodes[e].done]
        if not live:
            break
        hook = AdmissibleMask(cands) if cands is not None else None
        # an admissible command is always written whole, however long: the budget grows to the longest one
        budget = max([max_action_tokens] + [len(c) for row in (cands or []) if row for c in row])
        if engine is None:
            act_ids, act_lp, stopped = _write_actions(cache, hook, live, [rows[a] for a in active], budget=budget,
                                                      tokenizer=tokenizer, stop=stop, temperature=temperature,
                                                      top_k=top_k, top_p=top_p, greedy=greedy, gen=gen)
        else:
            act_ids, act_lp, stopped = _engine_actions(engine, cands, live, [rows[a] for a in active], budget=budget,
                                                       stop=stop, temperature=temperature, top_k=top_k, top_p=top_p,
                                                       greedy=greedy, gen=gen)

        actions: list[str | None] = [None] * n
        for e in live:
            row = rows[active[e]]
            row.add(act_ids[e], True, act_lp[e])
            actions[e] = _cut(tokenizer.decode(act_ids[e], skip_special_tokens=True), stop)
            row.actions.append(actions[e])
        results = batch.step(actions)

        chunks = [[] for _ in range(n)]
        rebuild = False
        cands = _candidates(batch, tokenizer, stop) if action_space == "admissible" else None
        for e in live:
            obs, reward, done = results[e]
            row = rows[active[e]]
            row.rewards[len(row.resp) - 1] = reward  # the turn's reward sits on the last token of its action
            if done:
                row.ended = True
                continue
            if turn == max_turns - 1:
                continue  # turn limit: the episode stops here, the reply is not needed
            piece = observation_piece(obs, act_prompt, stopped[e])
            obs_ids = clip_observation(encode(tokenizer, piece), max_obs_tokens, tokenizer, act_prompt)
            history[e].append(act_ids[e] + obs_ids)
            reserve = max([max_action_tokens] + [len(c) for c in (cands[e] if cands and cands[e] else [])])
            if len(row.context()) + len(obs_ids) + reserve > window:
                # context policy: continue this episode in a new row whose prompt keeps the first observation and
                # the most recent whole turns that fit half the window (the newest turn at least by its observation)
                ctx, dropped = fit_context(firsts[e], history[e], window // 2)
                if dropped == len(history[e]):
                    ctx = firsts[e] + obs_ids
                rows.append(_Row(e, row.segment + 1, ctx, dropped))
                active[e] = len(rows) - 1
                rebuild = True
            else:
                row.add(obs_ids, False)
                chunks[e] = obs_ids
        if rebuild:
            cache.prefill([rows[active[e]].context() for e in range(n)])
        else:
            cache.feed(chunks)
    return _to_rollout(rows, batch, group, tokenizer, pad, cache.device)


def _to_rollout(rows: list[_Row], batch: EnvBatch, group: list[int], tokenizer, pad: int, device) -> Rollout:
    rows = sorted(rows, key=lambda r: (r.episode, r.segment))
    b = len(rows)
    p = max(len(r.prompt) for r in rows)
    t = max(1, max(len(r.resp) for r in rows))
    prompt_ids = torch.full((b, p), pad, dtype=torch.long)
    prompt_mask = torch.zeros((b, p), dtype=torch.long)
    response_ids = torch.full((b, t), pad, dtype=torch.long)
    response_mask = torch.zeros((b, t))
    attn_mask = torch.zeros((b, t), dtype=torch.long)
    logprobs = torch.zeros((b, t))
    dense = torch.zeros((b, t))
    for i, r in enumerate(rows):
        prompt_ids[i, p - len(r.prompt):] = torch.tensor(r.prompt, dtype=torch.long)
        prompt_mask[i, p - len(r.prompt):] = 1
        k = len(r.resp)
        if k:
            response_ids[i, :k] = torch.tensor(r.resp, dtype=torch.long)
            # environment tokens: attention yes (the policy reads them), response_mask no (not the policy's actions)
            response_mask[i, :k] = torch.tensor(r.policy, dtype=torch.float)
            attn_mask[i, :k] = 1
            logprobs[i, :k] = torch.tensor(r.logps)
        for pos, reward in r.rewards.items():
            dense[i, pos] = reward
    eps = batch.episodes
    columns = {"episode": [r.episode for r in rows], "segment": [r.segment for r in rows],
               "seed": [eps[r.episode].seed for r in rows], "actions": [r.actions for r in rows],
               "allowed": [r.allowed for r in rows], "dropped_turns": [r.dropped for r in rows]}
    ro = Rollout(prompt_ids=prompt_ids, prompt_mask=prompt_mask, response_ids=response_ids,
                 response_mask=response_mask, logprobs=logprobs * response_mask,
                 prompts=[tokenizer.decode(r.prompt) for r in rows], responses=[tokenizer.decode(r.resp) for r in rows],
                 group=torch.tensor([group[r.episode] for r in rows], dtype=torch.long),
                 ended=torch.tensor([r.ended for r in rows], dtype=torch.bool), attn_mask=attn_mask,
                 dense_rewards=dense, columns=columns)
    return ro.to(device)
