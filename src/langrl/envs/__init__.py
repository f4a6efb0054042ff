"""Text environments for language agents: the protocol, a batch that steps together, a built-in game, single-turn
prompt datasets, the TextWorld adapter, and the multi-turn rollout that turns a batch of episodes into one Rollout.

``import langrl.envs`` needs torch only; TextWorld is imported when a TextWorld environment is made.
"""
from __future__ import annotations

from langrl.envs.admissible import AdmissibleMask, allowed_tensor
from langrl.envs.builtin import TreasureEnv, builtin_settings
from langrl.envs.prompt_env import PromptEnv
from langrl.envs.protocol import EnvBatch, Episode, TextEnv
from langrl.envs.returns import episode_returns, turn_gae, turn_index, turn_returns, turn_rewards
from langrl.envs.sampler import rollout_episodes
from langrl.errors import InputError

ENVS = ("builtin", "textworld")


def make_env(name: str, difficulty: str = "easy"):
    """A fresh environment instance: ``builtin`` (:class:`TreasureEnv`) or ``textworld`` (:class:`TextWorldEnv`)."""
    if name == "builtin":
        return TreasureEnv(**builtin_settings(difficulty))
    if name == "textworld":
        from langrl.envs.games import parse_difficulty
        from langrl.envs.textworld_env import TextWorldEnv

        return TextWorldEnv(parse_difficulty(difficulty))
    raise InputError(f"unknown environment {name!r}; expected one of {', '.join(ENVS)}", field="env")


def make_batch(name: str, n: int, difficulty: str = "easy") -> EnvBatch:
    """``n`` independent environments stepped together."""
    return EnvBatch([make_env(name, difficulty) for _ in range(n)])


__all__ = ["AdmissibleMask", "ENVS", "EnvBatch", "Episode", "PromptEnv", "TextEnv", "TreasureEnv", "allowed_tensor",
           "builtin_settings", "episode_returns", "make_batch", "make_env", "rollout_episodes", "turn_gae",
           "turn_index", "turn_returns", "turn_rewards"]
