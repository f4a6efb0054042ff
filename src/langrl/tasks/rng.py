"""Seeded randomness for the built-in tasks and their simulated annotators (stable across runs and hash seeds)."""
from __future__ import annotations

import random


def make_rng(*parts) -> random.Random:
    """A ``random.Random`` seeded by a string built from ``parts`` (stable across runs and PYTHONHASHSEED)."""
    return random.Random("|".join(str(p) for p in parts))
