"""Returns and advantages over the TURNS of multi-turn episodes (pure tensor functions).

Shapes: b rows, t response length, k turns, e episodes. A *turn* is one maximal run of policy tokens
(``response_mask`` 1) in a row; environment tokens (mask 0) always separate two turns, since every reply carries at
least the action prompt. An episode may span several consecutive rows (the context policy of
:mod:`langrl.envs.sampler`); ``episode`` (b,) names each row's episode; rows of one episode are consecutive, in order.

The objective is E[Σ_k γ^k R(s_k, a_k)] over turns k (the lecture's trajectory objective), so γ discounts across
turns, not tokens. Each turn's reward is the sum of the per-token rewards of its tokens (the environment reward on
its last token, plus any −β·KL terms on every token). The estimators below compress each episode to its turns, run
the tested per-position functions of :mod:`langrl.losses` on that (e, k) tensor — where masked-out positions
(environment tokens) never enter — and broadcast each turn's value back onto the turn's tokens.

Departure: V(s_k), the value of the state a turn starts from, is the value head's output at the turn's FIRST token;
within a turn, tokens share the turn's advantage (γ = λ = 1 inside a macro-action), as in turn-level agent RL.
"""
from __future__ import annotations

import torch

from langrl.losses import discounted_returns, gae


def turn_index(response_mask: torch.Tensor) -> torch.Tensor:
    """(b, t) long: the turn number (0, 1, ...) within its row of every policy token; -1 on other positions."""
    on = response_mask.bool()
    prev = torch.zeros_like(on)
    prev[:, 1:] = on[:, :-1]
    starts = on & ~prev  # a turn starts where a run of policy tokens starts
    idx = starts.long().cumsum(-1) - 1
    return torch.where(on, idx, torch.full_like(idx, -1))


def _per_turn(x: torch.Tensor, tidx: torch.Tensor, first: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(b, k) turn sums of ``x`` (or its value at each turn's first token) and the (b, k) bool mask of real turns."""
    k = max(1, int(tidx.max().item()) + 1)
    on = tidx >= 0
    safe = tidx.clamp(min=0)
    tmask = torch.zeros((x.shape[0], k), dtype=torch.long, device=x.device).scatter_add(1, safe, on.long()) > 0
    if first:
        prev = torch.full_like(tidx, -1)
        prev[:, 1:] = tidx[:, :-1]
        is_first = on & (tidx != prev)
        out = torch.zeros((x.shape[0], k), dtype=x.dtype, device=x.device)
        out = out.scatter_add(1, safe, torch.where(is_first, x, torch.zeros_like(x)))
    else:
        out = torch.zeros((x.shape[0], k), dtype=x.dtype, device=x.device)
        out = out.scatter_add(1, safe, torch.where(on, x, torch.zeros_like(x)))
    return out, tmask


def _chain(per_row: torch.Tensor, tmask: torch.Tensor, episode: list[int]):
    """Concatenate the turns of each episode's rows: (e, K) values, (e, K) mask, and where each row's turns went."""
    episodes = list(dict.fromkeys(episode))
    where: list[tuple[int, int]] = []  # per row: (episode slot, offset of its first turn)
    counts = {ep: 0 for ep in episodes}
    for i, ep in enumerate(episode):
        where.append((episodes.index(ep), counts[ep]))
        counts[ep] += int(tmask[i].sum())
    width = max(1, max(counts.values()))
    out = torch.zeros((len(episodes), width), dtype=per_row.dtype, device=per_row.device)
    mask = torch.zeros((len(episodes), width), dtype=torch.bool, device=per_row.device)
    for i, (slot, off) in enumerate(where):
        n = int(tmask[i].sum())
        out[slot, off:off + n] = per_row[i, :n]
        mask[slot, off:off + n] = True
    return out, mask, where


def _unchain(chained: torch.Tensor, tmask: torch.Tensor, where) -> torch.Tensor:
    out = torch.zeros(tmask.shape, dtype=chained.dtype, device=chained.device)
    for i, (slot, off) in enumerate(where):
        n = int(tmask[i].sum())
        out[i, :n] = chained[slot, off:off + n]
    return out


def _broadcast(per_turn: torch.Tensor, tidx: torch.Tensor) -> torch.Tensor:
    """(b, t): each policy token gets its turn's value; 0 elsewhere."""
    vals = per_turn.gather(1, tidx.clamp(min=0))
    return torch.where(tidx >= 0, vals, torch.zeros_like(vals))


def _episodes(episode, b: int) -> list[int]:
    if episode is None:
        return list(range(b))
    ep = episode.tolist() if isinstance(episode, torch.Tensor) else list(episode)
    if len(ep) != b:
        raise ValueError(f"episode: expected {b} entries (one per row), got {len(ep)}")
    return ep


@torch.no_grad()
def turn_rewards(rewards: torch.Tensor, response_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(b, k) reward of each turn (sum over its tokens) and the (b, k) mask of real turns. Shapes: inputs (b, t)."""
    return _per_turn(rewards.float(), turn_index(response_mask), first=False)


@torch.no_grad()
def turn_gae(rewards: torch.Tensor, values: torch.Tensor, response_mask: torch.Tensor, gamma: float, lam: float,
             episode=None) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE over turns (Schulman et al. 2016, eqs. 11-16 with one step = one turn); returns (advantages, returns) (b, t).

    δ_k = r_k + γ V(s_{k+1}) − V(s_k), A_k = δ_k + γλ A_{k+1}, V after an episode's last turn is 0 (it ended, or the
    turn limit cut it: no bootstrap). Shapes: ``rewards``, ``values``, ``response_mask`` (b, t); ``episode`` (b,).
    """
    tidx = turn_index(response_mask)
    r_turn, tmask = _per_turn(rewards.float(), tidx, first=False)
    v_turn, _ = _per_turn(values.float(), tidx, first=True)  # V(s_k) = value at the turn's first token
    ep = _episodes(episode, rewards.shape[0])
    r_e, m_e, where = _chain(r_turn, tmask, ep)
    v_e, _, _ = _chain(v_turn, tmask, ep)
    adv_e, ret_e = gae(r_e, v_e, m_e, gamma, lam)  # langrl.losses.gae: over real turns only
    adv = _broadcast(_unchain(adv_e, tmask, where), tidx)
    ret = _broadcast(_unchain(ret_e, tmask, where), tidx)
    return adv, ret


@torch.no_grad()
def turn_returns(rewards: torch.Tensor, response_mask: torch.Tensor, gamma: float, episode=None) -> torch.Tensor:
    """(b, t) reward-to-go of each token's turn, G_k = r_k + γ G_{k+1} over the turns of its episode."""
    tidx = turn_index(response_mask)
    r_turn, tmask = _per_turn(rewards.float(), tidx, first=False)
    r_e, m_e, where = _chain(r_turn, tmask, _episodes(episode, rewards.shape[0]))
    g_e = discounted_returns(r_e, gamma, m_e)  # langrl.losses: G_k = r_k + γ G_{k+1}
    return _broadcast(_unchain(g_e, tmask, where), tidx)


@torch.no_grad()
def episode_returns(rewards: torch.Tensor, response_mask: torch.Tensor, gamma: float,
                    episode=None) -> tuple[torch.Tensor, list[int]]:
    """(e,) discounted return Σ_k γ^k r_k of each episode from its first turn, and the episode ids in that order."""
    tidx = turn_index(response_mask)
    r_turn, tmask = _per_turn(rewards.float(), tidx, first=False)
    ep = _episodes(episode, rewards.shape[0])
    r_e, m_e, _ = _chain(r_turn, tmask, ep)
    g_e = discounted_returns(r_e, gamma, m_e)
    return g_e[:, 0], list(dict.fromkeys(ep))


def per_row(values: torch.Tensor, episode, order: list[int]) -> torch.Tensor:
    """Spread per-episode values (e,) (in the order ``order``) onto rows: (b,)."""
    ep = _episodes(episode, len(episode))
    slot = {e: i for i, e in enumerate(order)}
    return values[torch.tensor([slot[e] for e in ep], dtype=torch.long, device=values.device)]
