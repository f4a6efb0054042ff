"""A stand-in reward model for the evaluation tests: the score of a response is looked up in a table (one head)."""
from __future__ import annotations

import torch


class FixedScores:
    categories: list = []

    def __init__(self, table):
        self.table = table

    def score_heads(self, prompts, responses, batch_size=32, normalize=False):
        return torch.tensor([[self.table[r]] for r in responses])
