"""A tiny built-in text game (no TextWorld needed): find an object through a chain of rooms and take it.

``reset(seed)`` builds a puzzle from the seed: ``depth`` rooms in a row, each with two exits, one of which leads on,
and in the last room ``n_items`` objects, one of them the target. The first observation states the objective
("Find the coin and take it.") and every room says where the target lies ("The coin is east of here."), so a policy
that reads the observation and copies the right words wins in ``depth + 1`` actions. A dead-end exit costs a turn;
taking the wrong object loses. Reward 1 for the win, 0 otherwise (``max_score`` 1). Admissible commands are sorted
alphabetically, so their order tells nothing. Difficulty: ``depth`` (rooms to cross) and ``n_items`` (objects to
choose from); presets ``easy`` (1, 2), ``medium`` (2, 3), ``hard`` (3, 4).
"""
from __future__ import annotations

import random

from langrl.errors import InputError

DIRECTIONS = ("north", "south", "east", "west")
ROOMS = ("hall", "kitchen", "cellar", "attic", "garden", "study", "pantry", "porch")
ITEMS = ("coin", "key", "apple", "book", "lamp", "ring", "cup", "map")
PRESETS = {"easy": {"depth": 1, "n_items": 2}, "medium": {"depth": 2, "n_items": 3}, "hard": {"depth": 3, "n_items": 4}}


class TreasureEnv:
    """The built-in game; see the module docstring. One instance plays one episode at a time."""

    action_prompt = "\n>"
    action_stop = ("\n",)

    def __init__(self, depth: int = 1, n_items: int = 2):
        if not 1 <= depth <= len(ROOMS) - 1:
            raise InputError(f"builtin env: depth must be in 1..{len(ROOMS) - 1}, got {depth}", field="depth")
        if not 2 <= n_items <= len(ITEMS):
            raise InputError(f"builtin env: n_items must be in 2..{len(ITEMS)}, got {n_items}", field="n_items")
        self.depth, self.n_items = depth, n_items
        self._done = True

    def reset(self, seed: int) -> tuple[str, dict]:
        rng = random.Random(f"treasure|{seed}|{self.depth}|{self.n_items}")
        self.rooms = rng.sample(ROOMS, self.depth + 1)
        self.path = [rng.choice(DIRECTIONS) for _ in range(self.depth)]
        self.dead_ends = [rng.choice([d for d in DIRECTIONS if d != right]) for right in self.path]
        items = rng.sample(ITEMS, self.n_items)
        self.target, self.items = items[0], sorted(items)
        self.room, self._done = 0, False
        obs = f"Find the {self.target} and take it. {self._describe()}"
        return obs, {"max_score": 1.0, "won": False, "lost": False, "score": 0.0}

    def _describe(self) -> str:
        name = self.rooms[self.room]
        if self.room < self.depth:
            exits = sorted([self.path[self.room], self.dead_ends[self.room]])
            return (f"You are in the {name}. Exits lead {exits[0]} and {exits[1]}. "
                    f"The {self.target} is {self.path[self.room]} of here.")
        listed = ", ".join(f"a {i}" for i in self.items[:-1]) + f" and a {self.items[-1]}"
        return f"You are in the {name}. You see {listed}."

    def admissible_actions(self) -> list[str]:
        if self._done:
            return []
        if self.room < self.depth:
            return sorted(f"go {d}" for d in (self.path[self.room], self.dead_ends[self.room]))
        return [f"take {i}" for i in self.items]

    def walkthrough(self) -> list[str]:
        """The winning actions from the start of the episode."""
        return [f"go {d}" for d in self.path] + [f"take {self.target}"]

    def step(self, action: str) -> tuple[str, float, bool, dict]:
        if self._done:
            raise RuntimeError("step after the episode ended; call reset")
        words = action.strip().lower().split()
        info = {"won": False, "lost": False, "score": 0.0, "max_score": 1.0}
        if self.room < self.depth and words[:1] == ["go"] and len(words) == 2:
            if words[1] == self.path[self.room]:
                self.room += 1
                return self._describe(), 0.0, False, info
            if words[1] == self.dead_ends[self.room]:
                return f"That way is a dead end. You come back. {self._describe()}", 0.0, False, info
            return "You cannot go that way.", 0.0, False, info
        if self.room == self.depth and words[:1] == ["take"] and len(words) == 2 and words[1] in self.items:
            self._done = True
            if words[1] == self.target:
                return f"You take the {self.target}. You win!", 1.0, True, {**info, "won": True, "score": 1.0}
            lose = f"You take the {words[1]}. That is not the {self.target}. You lose."
            return lose, 0.0, True, {**info, "lost": True}
        return "Nothing happens.", 0.0, False, info


def builtin_settings(difficulty: str) -> dict:
    """``easy|medium|hard`` or ``depth=N,items=M`` → TreasureEnv keyword arguments."""
    if difficulty in PRESETS:
        return dict(PRESETS[difficulty])
    out = dict(PRESETS["easy"])
    names = {"depth": "depth", "items": "n_items", "n_items": "n_items"}
    for part in filter(None, (p.strip() for p in difficulty.split(","))):
        key, eq, value = part.partition("=")
        if not eq or key not in names or not value.isdigit():
            raise InputError(f"builtin difficulty {difficulty!r}: expected easy, medium, hard or depth=N,items=M",
                             field="difficulty")
        out[names[key]] = int(value)
    return out
