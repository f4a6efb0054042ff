"""TextWorld game sets: generated offline from a seed and a difficulty, cached under ``$LANGRL_HOME/textworld/``.

A game set is ``--games N --seed S``: the games generated from seeds S, S+1, ..., S+N-1 (one seed, one game, the same
game on every machine with the same TextWorld version). Held-out evaluation uses a seed range that does not overlap
the training range. Difficulty is the world size (rooms), the number of objects, the quest length (actions of the
walkthrough) and the text grammar theme (``house``: TextWorld's default prose; ``basic``: terse, numbered names):

    easy   = rooms=1,objects=2,quest=1      medium = rooms=2,objects=4,quest=2
    hard   = rooms=3,objects=6,quest=3      harder = rooms=5,objects=10,quest=5

or any ``rooms=R,objects=O,quest=Q[,theme=T]``. Each game is compiled (Inform 7, bundled with ``textworld``) into
``<dir>/game-<seed>.z8`` + ``.json``, under a file lock and renamed into place, so parallel runs share one cache.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from langrl.errors import InputError

PRESETS = {"easy": (1, 2, 1), "medium": (2, 4, 2), "hard": (3, 6, 3), "harder": (5, 10, 5)}
THEMES = ("house", "basic")
TEXTWORLD_INSTALL = "pip install textworld"


@dataclass(frozen=True)
class Difficulty:
    rooms: int = 1
    objects: int = 2
    quest: int = 1
    theme: str = "house"

    @property
    def key(self) -> str:
        return f"r{self.rooms}-o{self.objects}-q{self.quest}-{self.theme}"

    def __str__(self) -> str:
        return f"rooms={self.rooms},objects={self.objects},quest={self.quest},theme={self.theme}"


def parse_difficulty(spec: str) -> Difficulty:
    """``easy|medium|hard|harder`` or ``rooms=R,objects=O,quest=Q[,theme=house|basic]`` (keys may follow a preset:
    ``medium,theme=basic``)."""
    values = {"theme": "house"}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if part in PRESETS:
            values.update(zip(("rooms", "objects", "quest"), PRESETS[part]))
            continue
        key, eq, value = part.partition("=")
        if not eq or key not in ("rooms", "objects", "quest", "theme"):
            raise InputError(f"difficulty {spec!r}: expected {'|'.join(PRESETS)} or rooms=R,objects=O,quest=Q"
                             f"[,theme={'|'.join(THEMES)}]", field="difficulty")
        if key == "theme":
            if value not in THEMES:
                raise InputError(f"difficulty {spec!r}: theme must be one of {', '.join(THEMES)}", field="difficulty")
            values[key] = value
        elif not value.isdigit() or int(value) < 1:
            raise InputError(f"difficulty {spec!r}: {key} must be a positive integer", field="difficulty")
        else:
            values[key] = int(value)
    d = Difficulty(**{"rooms": 1, "objects": 2, "quest": 1, **values})
    if d.objects < d.quest:
        raise InputError(f"difficulty {spec!r}: objects ({d.objects}) must be at least the quest length ({d.quest})",
                         field="difficulty")
    return d


def require_textworld():
    try:
        import textworld  # noqa: F401
    except ImportError:
        raise InputError(f"--env textworld needs the textworld package; install it with: {TEXTWORLD_INSTALL}") from None
    return textworld


def games_dir(difficulty: Difficulty) -> Path:
    from langrl.home import langrl_home

    return langrl_home() / "textworld" / difficulty.key


def game_path(difficulty: Difficulty, seed: int) -> Path:
    """The compiled game for ``seed`` (generated and cached on first use)."""
    out = games_dir(difficulty) / f"game-{seed}.z8"
    if out.is_file() and out.with_suffix(".json").is_file():
        return out
    from langrl.models._lock import file_lock

    with file_lock(out.parent / f".game-{seed}.lock"):
        if out.is_file() and out.with_suffix(".json").is_file():
            return out
        _generate(difficulty, seed, out)
    return out


def _generate(difficulty: Difficulty, seed: int, out: Path) -> None:
    require_textworld()
    import tempfile

    from textworld import GameOptions
    from textworld.generator import QuestGenerationError, compile_game, make_game

    opt = GameOptions()
    opt.seeds = int(seed)
    opt.nb_rooms, opt.nb_objects, opt.quest_length = difficulty.rooms, difficulty.objects, difficulty.quest
    opt.grammar.theme = difficulty.theme
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".tmp-") as tmp:
        opt.path = str(Path(tmp) / out.name)
        opt.force_recompile = True
        try:
            game = make_game(opt)
        except QuestGenerationError:
            raise InputError(f"TextWorld cannot make a quest of length {difficulty.quest} in {difficulty.rooms} "
                             f"room(s) with {difficulty.objects} objects (seed {seed}); lower quest or raise "
                             "rooms/objects",
                             field="difficulty") from None
        compiled = Path(compile_game(game, opt))
        os.replace(compiled.with_suffix(".json"), out.with_suffix(".json"))
        os.replace(compiled, out)  # the .z8 last: its presence means the game is complete


def game_set(difficulty: Difficulty, seed: int, n: int, quiet: bool = True) -> list[Path]:
    """The ``n`` games of seeds ``seed .. seed + n - 1`` (generating the missing ones, ~1 s each)."""
    if n < 1:
        raise InputError(f"--games: expected at least 1, got {n}", field="games")
    from langrl.logging import progress_bar

    paths = []
    with progress_bar(f"games {difficulty.key}", total=n, quiet=quiet) as bar:
        for i in range(n):
            paths.append(game_path(difficulty, seed + i))
            bar.update(i + 1)
    return paths
