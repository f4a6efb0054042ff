"""Built-in offline tasks: corpus, SFT data, RL prompts, a simulated annotator and a hidden gold evaluator each.

- ``factqa``: ranked-fact questions about a made-up world; gold = relevance * factuality * completeness.
- ``reviews``: continue a review as positively as possible; gold = own-lexicon positivity * held-out naturalness.
- ``arithmetic``: multi-step word arithmetic; gold = the final answer is right.
- ``hh``: requests in a made-up realm whose laws forbid some; two conflicting gold axes, helpful and harmless.

``get_task(name)`` returns a fresh task; ``mixture_corpus(names, n, seed)`` is the pretraining corpus of the embedded
``tiny`` model. Only the stdlib is needed.
"""
from __future__ import annotations

from langrl.errors import InputError
from langrl.tasks.annotator import NOISE_DEFAULTS, Annotator
from langrl.tasks.arithmetic import Arithmetic
from langrl.tasks.base import ANSWER_DELIMITER, SPLITS, Task, check_count, make_rng
from langrl.tasks.factqa import FactQA
from langrl.tasks.hh import HelpfulHarmless
from langrl.tasks.reviews import Reviews

#: Task name -> task class (instantiate with no arguments for the defaults).
TASKS: dict[str, type[Task]] = {"factqa": FactQA, "reviews": Reviews, "arithmetic": Arithmetic,
                                "hh": HelpfulHarmless}


def get_task(name: str) -> Task:
    """The built-in task called ``name``; an unknown name raises InputError listing the valid ones."""
    if name not in TASKS:
        raise InputError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(TASKS))}", field="task")
    return TASKS[name]()


def mixture_corpus(names: list[str], n: int, seed: int) -> list[str]:
    """``n`` pretraining documents split as evenly as possible among the tasks ``names``, shuffled by ``seed``.

    Task ``i`` contributes ``n // len(names)`` documents, plus one for the first ``n % len(names)`` tasks.
    """
    check_count(n)
    if not names:
        raise InputError("expected at least one task name", field="tasks")
    names = list(names)
    for name in names:
        get_task(name)  # validate early, before generating anything
    docs: list[str] = []
    for i, name in enumerate(names):
        count = n // len(names) + (1 if i < n % len(names) else 0)
        docs += get_task(name).corpus(count, seed)
    make_rng("mixture", ",".join(names), seed).shuffle(docs)
    return docs


__all__ = ["ANSWER_DELIMITER", "Annotator", "Arithmetic", "FactQA", "HelpfulHarmless", "NOISE_DEFAULTS", "Reviews",
           "SPLITS", "TASKS",
           "Task", "get_task", "mixture_corpus"]
