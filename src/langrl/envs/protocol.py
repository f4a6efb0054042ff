"""The text-environment protocol and a batch of environments that step together.

A text environment is anything with

- ``reset(seed) -> (observation, info)`` — start the episode that ``seed`` names (the same seed gives the same
  episode: a TextWorld game generated from that seed, a prompt row, a built-in puzzle);
- ``step(action) -> (observation, reward, done, info)`` — play one action given as text;
- optionally ``admissible_actions() -> list[str]`` — the commands that make sense now (TextWorld's admissible
  commands), used by ``--action-space admissible`` and by the random-admissible baseline;
- optionally ``walkthrough() -> list[str]`` — a winning action sequence from the reset state (SFT warm start).

``info`` may carry ``won``, ``lost``, ``score`` and ``max_score``; :class:`EnvBatch` fills in what is missing.
Two class attributes say how a transcript is written (see :mod:`langrl.envs.render`): ``action_prompt`` (text after
every observation, where the policy starts writing; ``"\\n>"`` for games, ``""`` for single-turn prompts) and
``action_stop`` (strings that end an action besides EOS; ``("\\n",)`` for games, ``()`` for prompts).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

ACTION_PROMPT = "\n>"
ACTION_STOP = ("\n",)


@runtime_checkable
class TextEnv(Protocol):
    """A text environment (see the module docstring for the optional methods and attributes)."""

    def reset(self, seed: int) -> tuple[str, dict]: ...

    def step(self, action: str) -> tuple[str, float, bool, dict]: ...


def action_format(env) -> tuple[str, tuple[str, ...]]:
    """(action_prompt, action_stop) of ``env`` (games' defaults when it does not say)."""
    return getattr(env, "action_prompt", ACTION_PROMPT), tuple(getattr(env, "action_stop", ACTION_STOP))


def admissible(env) -> list[str] | None:
    """The environment's admissible actions now, or None when it has no such notion."""
    fn = getattr(env, "admissible_actions", None)
    return list(fn()) if fn is not None else None


@dataclass
class Episode:
    """What happened in one episode (one row of an :class:`EnvBatch`)."""

    seed: int
    observations: list[str] = field(default_factory=list)
    """The first observation, then one per action (the last one is the reply to the final action)."""
    actions: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    done: bool = False
    won: bool = False
    lost: bool = False
    score: float = 0.0
    max_score: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return len(self.actions)

    @property
    def total_reward(self) -> float:
        return float(sum(self.rewards))

    @property
    def normalized_score(self) -> float:
        """score / max_score, in [0, 1] for games whose score only grows."""
        return self.score / self.max_score if self.max_score else 0.0

    def summary(self) -> dict:
        return {"seed": self.seed, "steps": self.steps, "won": self.won, "lost": self.lost, "score": self.score,
                "max_score": self.max_score, "return": self.total_reward, "actions": list(self.actions)}


class EnvBatch:
    """``len(envs)`` environments stepped together; finished ones are skipped until the next ``reset``.

    ``envs`` are independent instances (one per row); ``reset(seeds)`` starts row i on ``seeds[i]``.
    """

    def __init__(self, envs: list):
        if not envs:
            raise ValueError("EnvBatch needs at least one environment")
        self.envs = list(envs)
        self.episodes: list[Episode] = []

    def __len__(self) -> int:
        return len(self.envs)

    @property
    def action_format(self) -> tuple[str, tuple[str, ...]]:
        return action_format(self.envs[0])

    def reset(self, seeds: list[int]) -> list[str]:
        """Start one episode per environment; returns the first observations."""
        if len(seeds) != len(self.envs):
            raise ValueError(f"reset: expected {len(self.envs)} seeds, got {len(seeds)}")
        self.episodes = []
        for env, seed in zip(self.envs, seeds):
            obs, info = env.reset(int(seed))
            ep = Episode(seed=int(seed), observations=[obs], max_score=float(info.get("max_score", 1.0) or 1.0),
                         info=dict(info))
            self.episodes.append(ep)
        return [ep.observations[0] for ep in self.episodes]

    @property
    def alive(self) -> list[bool]:
        return [not ep.done for ep in self.episodes]

    def admissible(self) -> list[list[str] | None]:
        """Admissible actions per row (None for finished rows or environments without the notion)."""
        return [admissible(env) if not ep.done else None for env, ep in zip(self.envs, self.episodes)]

    def step(self, actions: list[str | None]) -> list[tuple[str, float, bool] | None]:
        """Step every row whose action is not None (it must be alive); returns (obs, reward, done) or None per row."""
        if len(actions) != len(self.envs):
            raise ValueError(f"step: expected {len(self.envs)} actions, got {len(actions)}")
        out: list[tuple[str, float, bool] | None] = []
        for env, ep, action in zip(self.envs, self.episodes, actions):
            if action is None:
                out.append(None)
                continue
            if ep.done:
                raise ValueError(f"step: episode of seed {ep.seed} is already done")
            obs, reward, done, info = env.step(action)
            ep.actions.append(action)
            ep.observations.append(obs)
            ep.rewards.append(float(reward))
            ep.done = bool(done)
            ep.won, ep.lost = bool(info.get("won", False)), bool(info.get("lost", False))
            ep.score = float(info.get("score", ep.score + float(reward)))
            if info.get("max_score"):
                ep.max_score = float(info["max_score"])
            out.append((obs, float(reward), bool(done)))
        return out

    def close(self) -> None:
        for env in self.envs:
            close = getattr(env, "close", None)
            if close is not None:
                close()
