"""How an episode is written as one token sequence, and the policy for contexts longer than the model's window.

Transcript: ``first observation + action_prompt``, then per turn ``action`` (what the policy wrote, ending with the
stop string ``"\\n"``) and ``observation + action_prompt``::

    Find the coin and take it. You are in the hall. ... The coin is east of here.
    > go east
    You are in the cellar. You see a coin and a cup.
    > take coin

Every piece is tokenised on its own and the pieces are concatenated, so the sampler never re-tokenises what the
policy wrote; pieces meet at whitespace/punctuation, where byte-level BPE splits anyway, so the SFT data (which
tokenises ``prompt`` and ``completion`` strings) sees the same tokens (tested).

Context policy (:func:`fit_context`), stated once and used by both the SFT data and the sampler:
- the first observation (the objective and the starting room) is always kept, clipped to ``max_first_tokens``;
- later observations are clipped to ``max_obs_tokens`` (their beginning is kept);
- when the next turn would not fit the window, the oldest turns are dropped: the context becomes the first
  observation followed by the most recent whole turns that fit in half the window (so truncation is rare, not every
  turn). In a rollout the episode then continues in a new row whose prompt is that shortened context (see
  :mod:`langrl.envs.sampler`).
"""
from __future__ import annotations


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


def observation_piece(observation: str, action_prompt: str, after_stop: bool) -> str:
    """The text that follows an action: the reply and the action prompt (a newline first if the action was cut off
    by the token budget or EOS, so the reply always starts on its own line)."""
    lead = "" if after_stop or not action_prompt else "\n"
    return lead + observation.strip() + action_prompt


def action_piece(action: str, stop: tuple[str, ...]) -> str:
    """How an action from a walkthrough is written: a leading space and the first stop string (``" go east\\n"``)."""
    return " " + action.strip() + (stop[0] if stop else "")


def fit_context(first: list[int], turns: list[list[int]], budget: int) -> tuple[list[int], int]:
    """The kept context: ``first`` + the most recent whole ``turns`` whose total length fits ``budget`` tokens.

    Returns (tokens, number of turns dropped from the front). ``first`` is always kept (clip it beforehand).
    """
    kept, used = [], len(first)
    for turn in reversed(turns):
        if used + len(turn) > budget:
            break
        kept.append(turn)
        used += len(turn)
    kept.reverse()
    return first + [t for turn in kept for t in turn], len(turns) - len(kept)


def walkthrough_examples(tokenizer, observations: list[str], actions: list[str], *, action_prompt: str = "\n>",
                         stop: tuple[str, ...] = ("\n",), max_context: int = 512, max_first_tokens: int = 256,
                         max_obs_tokens: int = 96) -> list[dict]:
    """SFT records ``{"prompt", "completion"}``, one per action of a played walkthrough.

    ``observations``: the first observation then the reply to each action (``len(actions) + 1``, or ``len(actions)``
    when the last reply is not needed). Each prompt is the transcript so far under the context policy above, each
    completion the action as the policy should write it.
    """
    first_ids = clip_observation(encode(tokenizer, observations[0].strip() + action_prompt), max_first_tokens,
                                 tokenizer, action_prompt)
    turns: list[list[int]] = []
    out = []
    for k, action in enumerate(actions):
        act_ids = encode(tokenizer, action_piece(action, stop))
        ctx, _ = fit_context(first_ids, turns, max_context - len(act_ids) - 1)
        if len(ctx) + len(act_ids) >= max_context:  # keep the objective, drop every turn
            ctx = first_ids
        out.append({"prompt": tokenizer.decode(ctx), "completion": tokenizer.decode(act_ids)})
        if k + 1 < len(observations):
            obs_ids = encode(tokenizer, observation_piece(observations[k + 1], action_prompt, True))
            turns.append(act_ids + clip_observation(obs_ids, max_obs_tokens, tokenizer, action_prompt))
    return out


def clip_observation(obs_ids: list[int], max_obs_tokens: int, tokenizer, action_prompt: str) -> list[int]:
    """Keep the beginning of an over-long observation piece and re-append the action prompt tokens."""
    if max_obs_tokens <= 0 or len(obs_ids) <= max_obs_tokens:
        return obs_ids
    tail = encode(tokenizer, action_prompt)
    return obs_ids[: max(1, max_obs_tokens - len(tail))] + tail
