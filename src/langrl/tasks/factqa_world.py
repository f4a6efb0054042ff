"""The procedurally generated world behind the ``factqa`` task, and the sentences that talk about it.

The world is a fixed set of made-up countries and planets (``world(world_seed)``). Each entity has four ranked
attributes, each a list of four made-up names in order ("the largest cities of Vorland, in order, are Kelm, Ardo, Pim
and Sorv"). Every name in a world is unique. Each entity belongs to the train or the eval split by a stable hash of
its name; the eval entities are the held-out problems, while training problems are fresh entities drawn from the
world's names (``FactQA._entity``), so no fact is learnable except by reading the passage.

This generalises the lecture's running example ("What are the 3 most common gases in earth's atmosphere?"); planets
have a ``gases`` attribute asked exactly that way.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterator

from langrl.tasks.base import make_rng, ordinal, split_of

ITEMS_PER_ATTRIBUTE = 4
N_COUNTRIES = 64
N_PLANETS = 32

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "st", "tr", "th"]
_VOWELS = ["a", "e", "i", "o", "u"]
_CODAS = ["", "", "n", "r", "l", "m", "s", "k"]
# Capitalised words that are never names (sentence-initial template words, including other tasks' templates).
_NOT_NAMES = {"The", "What", "Its", "It", "In", "A", "Q", "An", "Of", "Is", "Are", "And", "This", "There", "No", "Many",
              "I", "He", "She", "They", "We", "You", "At", "By", "But", "So", "Still", "Then", "How", "Which", "Who",
              "Yes", "Not", "Review", "Continue", "First", "Second", "Third", "Fourth", "Fifth", "Read", "Answer"}


@dataclass(frozen=True)
class Attribute:
    """A ranked attribute and the words used to talk about it."""

    key: str
    kind: str  # "country" or "planet"
    sup: str  # superlative, e.g. "largest", "most common"
    singular: str  # "city"
    plural: str  # "cities"
    scope: str  # "of {e}" or "in the air of {e}"
    # (within one kind, nouns and superlatives are all distinct, so a sentence's words say which attribute it is about)

    def single(self, entity: str) -> str:
        """'largest city of Vorland'."""
        return f"{self.sup} {self.singular} {self.scope.format(e=entity)}"

    def many(self, entity: str) -> str:
        """'largest cities of Vorland'."""
        return f"{self.sup} {self.plural} {self.scope.format(e=entity)}"

    def question(self, entity: str, k: int) -> str:
        if k == 1:
            return f"What is the {self.single(entity)}?"
        return f"What are the {k} {self.many(entity)}?"

    def passage(self, entity: str, items: list[str]) -> str:
        return f"The {self.many(entity)}, in order, are {join_names(items)}."

    def claim(self, entity: str, rank: int, item: str) -> str:
        """The answer sentence for one rank: 'The largest city of Vorland is Kelm.' / 'The second largest is Ardo.'"""
        if rank == 1:
            return f"The {self.single(entity)} is {item}."
        return f"The {ordinal(rank)} {self.sup} is {item}."

    def full_claim(self, entity: str, rank: int, item: str) -> str:
        """A self-contained sentence for any rank: 'The third largest city of Vorland is Pim.'"""
        prefix = "" if rank == 1 else ordinal(rank) + " "
        return f"The {prefix}{self.single(entity)} is {item}."

    def list_claim(self, entity: str, k: int, items: list[str]) -> str:
        """'The 3 largest cities of Vorland are Kelm, Ardo and Pim.'"""
        return f"The {k} {self.many(entity)} are {join_names(items)}."


ATTRIBUTES = {a.key: a for a in [
    Attribute("cities", "country", "largest", "city", "cities", "of {e}"),
    Attribute("rivers", "country", "longest", "river", "rivers", "of {e}"),
    Attribute("mountains", "country", "highest", "mountain", "mountains", "of {e}"),
    Attribute("lakes", "country", "deepest", "lake", "lakes", "of {e}"),
    Attribute("gases", "planet", "most common", "gas", "gases", "in the air of {e}"),
    Attribute("moons", "planet", "largest", "moon", "moons", "of {e}"),
    Attribute("seas", "planet", "biggest", "sea", "seas", "of {e}"),
    Attribute("craters", "planet", "widest", "crater", "craters", "of {e}"),
]}

_FILLERS = {
    "country": ["{e} is a country in the {d}.", "{e} is a small country.", "{e} is a country with a long history.",
                "Many people visit {e} in summer.", "{e} is known for its food."],
    "planet": ["{e} is a planet far from its sun.", "{e} is a cold planet.", "{e} is a planet with a thick air.",
               "{e} turns around its sun slowly.", "{e} is a large planet."],
}
_DIRECTIONS = ["north", "south", "east", "west"]


def join_names(items: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class Entity:
    name: str
    kind: str
    attributes: dict  # attribute key -> list of ITEMS_PER_ATTRIBUTE names, ranked
    filler: str  # one true-but-irrelevant sentence about the entity

    @property
    def split(self) -> str:
        return split_of("factqa|" + self.name)


@dataclass(frozen=True)
class World:
    entities: tuple

    def by_split(self, split: str) -> list[Entity]:
        return [e for e in self.entities if e.split == split]


def _names(rng) -> Iterator[str]:
    seen = set()
    while True:
        parts = [_ONSETS, _VOWELS, _ONSETS, _VOWELS, _CODAS]
        name = "".join(rng.choice(p) for p in parts).capitalize()
        if name not in seen and name not in _NOT_NAMES and 4 <= len(name) <= 7:
            seen.add(name)
            yield name


@functools.lru_cache(maxsize=4)
def world(world_seed: int = 0) -> World:
    """The fixed world for ``world_seed`` (cached): N_COUNTRIES countries and N_PLANETS planets, all names unique."""
    rng = make_rng("factqa-world", world_seed)
    names = _names(rng)
    entities = []
    for kind, count in (("country", N_COUNTRIES), ("planet", N_PLANETS)):
        keys = [a.key for a in ATTRIBUTES.values() if a.kind == kind]
        for _ in range(count):
            name = next(names)
            attrs = {key: [next(names) for _ in range(ITEMS_PER_ATTRIBUTE)] for key in keys}
            entities.append(Entity(name, kind, attrs, filler_sentence(rng, kind, name)))
    return World(tuple(entities))


def filler_sentence(rng, kind: str, name: str) -> str:
    """A true-but-irrelevant sentence about an entity ("Vorland is a small country.")."""
    return rng.choice(_FILLERS[kind]).format(e=name, d=rng.choice(_DIRECTIONS))


def is_name(word: str) -> bool:
    """Whether a capitalised word could be a made-up name (not a sentence-initial template word)."""
    return word[:1].isupper() and word not in _NOT_NAMES
