"""Choosing the refinement that best takes up a critique, without the gold: pure functions over embeddings and text.

ILF (Scheurer et al. 2023, Sec. 2) samples N refinements per critique and keeps the one whose embedding is most
similar to the feedback's. Scorers here (``--scorer``):

- ``embedding``: cos(e(critique), e(refinement)), ILF's choice;
- ``change``: cos(e(critique), e(the words the refinement adds to the original)), so a refinement is judged by what
  it changes rather than by everything it repeats;
- ``first``: the first sample (no selection: the baseline that shows what selection adds).

Shapes: b critiques, n refinements each, d embedding width. Embeddings are L2-normalised, so a dot product is a cosine.
"""
from __future__ import annotations

from collections import Counter

import torch

SCORERS = ("embedding", "change", "first")


def cosine_scores(critique: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """(b, n) cosine similarity of each critique with each of its candidates.

    Shapes: ``critique`` (b, d), ``candidates`` (b, n, d); both L2-normalised along d.
    """
    if critique.dim() != 2 or candidates.dim() != 3 or candidates.shape[0] != critique.shape[0] \
            or candidates.shape[2] != critique.shape[1]:
        raise ValueError(f"expected critique (b, d) and candidates (b, n, d), got {tuple(critique.shape)} and "
                         f"{tuple(candidates.shape)}")
    return torch.einsum("bd,bnd->bn", critique, candidates)  # cos = <u, v> for unit vectors


def select_best(scores: torch.Tensor) -> list[int]:
    """Index of the best-scoring candidate per row (the first on ties). Shape: ``scores`` (b, n) -> b indices."""
    return scores.argmax(dim=1).tolist()


def added_words(original: str, refinement: str) -> str:
    """The words of ``refinement`` not in ``original`` (a multiset difference, in the refinement's order).

    ``added_words("Kelm. Pim.", "Kelm. Ardo. Pim.") == "Ardo."``
    """
    left = Counter(original.split())
    out = []
    for w in refinement.split():
        if left[w] > 0:
            left[w] -= 1
        else:
            out.append(w)
    return " ".join(out)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(b, d) mean of the token states where ``mask`` is 1, L2-normalised (sentence-transformers' pooling).

    Shapes: ``hidden`` (b, t, d), ``mask`` (b, t).
    """
    m = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


class Embedder:
    """Sentence embeddings from MiniLM (``minilm``; mean pooling, normalised), as all-MiniLM-L6-v2 is used."""

    def __init__(self, spec: str = "minilm", batch_size: int = 64):
        from transformers import AutoModel, AutoTokenizer

        from langrl.models.specs import resolve_model_dir

        path = resolve_model_dir(spec, build=False)
        self.tok, self.model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        """(len(texts), d) normalised embeddings (an empty text embeds as the empty string does)."""
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tok(texts[i:i + self.batch_size], padding=True, truncation=True, max_length=128,
                           return_tensors="pt")
            out.append(mean_pool(self.model(**enc).last_hidden_state, enc["attention_mask"]))
        return torch.cat(out) if out else torch.zeros(0, self.model.config.hidden_size)


def score_refinements(scorer: str, embed, critiques: list[str], originals: list[str],
                      refinements: list[list[str]]) -> torch.Tensor:
    """(b, n) scores of each critique's n refinements under ``scorer`` (higher is better)."""
    b, n = len(refinements), len(refinements[0]) if refinements else 0
    if scorer == "first":
        return torch.tensor([[1.0] + [0.0] * (n - 1)] * b)
    texts = [r if scorer == "embedding" else added_words(o, r) for o, rs in zip(originals, refinements) for r in rs]
    cand = embed(texts).reshape(b, n, -1)
    return cosine_scores(embed(critiques), cand)
