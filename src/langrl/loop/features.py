"""Fixed response features for the loop's linear reward model r(y) = theta . x(y).

    minilm   the all-MiniLM-L6-v2 sentence embedding of the response (mean-pooled, unit length; the ``minilm`` model
             spec), then log(1 + words) / 4
    bow      a hashed bag of words (crc32 mod 256, counts / sqrt(words)), then log(1 + words) / 4; no model (tests)

The length feature, log(1 + words) / 4 (about [0, 1], the scale of the embedding's), makes a preference about
length (the drift targets of :mod:`langrl.tasks.drift`) representable.
Features are cached by text, so a response is embedded once per process.
"""
from __future__ import annotations

import math
import zlib

import torch

BOW_DIM = 256


def _bow(text: str) -> list[float]:
    words = text.lower().split()
    v = [0.0] * BOW_DIM
    for w in words:
        v[zlib.crc32(w.encode("utf-8")) % BOW_DIM] += 1.0
    norm = math.sqrt(len(words)) or 1.0
    return [x / norm for x in v]


class Featurizer:
    """``featurizer(texts) -> (n, d)`` float64 features (see the module docstring)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._cache: dict[str, torch.Tensor] = {}
        self._model = self._tok = None

    def _embed(self, texts: list[str]) -> torch.Tensor:
        if self.kind == "bow":
            return torch.tensor([_bow(t) for t in texts], dtype=torch.float64)
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            from langrl.models.specs import minilm_path, quiet_transformers

            quiet_transformers()
            self._tok = AutoTokenizer.from_pretrained(str(minilm_path()))
            self._model = AutoModel.from_pretrained(str(minilm_path())).eval()
        out = []
        with torch.no_grad():
            for k in range(0, len(texts), 64):
                enc = self._tok(texts[k:k + 64], padding=True, truncation=True, max_length=128, return_tensors="pt")
                h = self._model(**enc).last_hidden_state  # (b, L, 384)
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                e = (h * m).sum(1) / m.sum(1).clamp_min(1.0)  # mean pooling (sentence-transformers' recipe)
                out.append(torch.nn.functional.normalize(e, dim=-1).to(torch.float64))
        return torch.cat(out)

    def __call__(self, texts: list[str]) -> torch.Tensor:
        new = sorted({t for t in texts if t not in self._cache})
        if new:
            emb = self._embed(new)
            for t, e in zip(new, emb):
                length = torch.tensor([math.log1p(len(t.split())) / 4], dtype=torch.float64)  # ~[0, 1]
                self._cache[t] = torch.cat([e, length])
        if not texts:
            return torch.zeros((0, self.dim), dtype=torch.float64)
        return torch.stack([self._cache[t] for t in texts])

    @property
    def dim(self) -> int:
        return (BOW_DIM if self.kind == "bow" else 384) + 1
