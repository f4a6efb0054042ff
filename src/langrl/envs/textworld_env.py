"""The TextWorld adapter: generated games behind the text-environment protocol.

``reset(seed)`` loads the game generated from ``seed`` at the env's difficulty (generating and caching it on first
use, see :mod:`langrl.envs.games`) and returns its cleaned first observation (the objective and the starting room).
``step(action)`` plays one command: the reward is the change in the game's score, the episode ends when the game does
(``won`` or ``lost``, reported in ``info``); ``admissible_actions()`` is TextWorld's list of admissible commands and
``walkthrough()`` the winning commands the generator recorded.

Observations are cleaned for a small model's window: the ASCII-art banner, the ``-= Room =-`` headers, the
``>`` prompt with its status line and the end-of-game menu are dropped and whitespace is collapsed to one line.
Nothing the game says about the world is removed.
"""
from __future__ import annotations

import re
import warnings

from langrl.envs.games import Difficulty, game_path, require_textworld

_ART = re.compile(r"\$\$|\\\$|^\s*[|_\\/$ ]+$")
_DROP = ("*** The End ***", "You scored ", "Would you like to RESTART")
_HEADER = re.compile(r"^-=\s.*\s=-$")


def clean_observation(text: str) -> str:
    """TextWorld feedback → one line of game text (banner, headers, prompt/status line and menus removed)."""
    keep = []
    for line in text.split("\n"):
        s = line.strip()
        if not s or s.startswith(">") or _HEADER.match(s) or _ART.search(s) or any(s.startswith(d) for d in _DROP):
            continue
        keep.append(s)
    return re.sub(r"\s+", " ", " ".join(keep)).strip()


class TextWorldEnv:
    """One TextWorld game at a time; ``reset(seed)`` switches to the game of that seed."""

    action_prompt = "\n>"
    action_stop = ("\n",)

    def __init__(self, difficulty: Difficulty):
        require_textworld()
        self.difficulty = difficulty
        self._env = None
        self._path = None
        self._state = None

    def _start(self, path: str) -> None:
        import textworld

        infos = textworld.EnvInfos(admissible_commands=True, max_score=True, won=True, lost=True, score=True,
                                   extras=["walkthrough"])
        with warnings.catch_warnings():  # jericho: "not fully supported" — TextWorld tracks the score itself
            warnings.simplefilter("ignore")
            if self._env is None:
                self._env = textworld.start(path, request_infos=infos)
            elif self._path != path:
                self._env.load(path)
        self._path = path

    def reset(self, seed: int) -> tuple[str, dict]:
        self._start(str(game_path(self.difficulty, seed)))
        self._state = self._env.reset()
        self._score = float(self._state.score or 0)
        return clean_observation(self._state.feedback), self._info()

    def _info(self) -> dict:
        s = self._state
        return {"won": bool(s.won), "lost": bool(s.lost), "score": float(s.score or 0),
                "max_score": float(s.max_score or 1)}

    def step(self, action: str) -> tuple[str, float, bool, dict]:
        if self._state is None:
            raise RuntimeError("step before reset")
        self._state, _, done = self._env.step(action)
        score = float(self._state.score or 0)
        reward, self._score = score - self._score, score  # the game's score change is the turn's reward
        return clean_observation(self._state.feedback), reward, bool(done), self._info()

    def admissible_actions(self) -> list[str]:
        return list(self._state.admissible_commands or []) if self._state is not None else []

    def walkthrough(self) -> list[str]:
        return list(self._state["extra.walkthrough"] or []) if self._state is not None else []

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
