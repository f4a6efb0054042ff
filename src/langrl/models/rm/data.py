"""Turning feedback into reward-model inputs: prompt rendering, truncation, segments, span labels, training items.

One (prompt, response) pair becomes one token sequence:

- causal LMs: ``prompt + response + EOS`` (no BOS, as every langrl model is pretrained); the scalar reward is read at
  the last non-pad token, the EOS, which has seen the whole text;
- encoders (BERT family, e.g. ``minilm``): ``[CLS] prompt [SEP] response [SEP]``, mean-pooled.

Over-long inputs keep the whole response and cut the prompt from the LEFT (the question sits at the end of a prompt);
only a response longer than the budget on its own is cut on the right.

Fine-grained (span) feedback follows Wu et al. (2023, "Fine-Grained Human Feedback Gives Better Rewards"): the
response is split into segments (sentences, or sub-sentences at , ; :), and each category's label — 1 when a marked
span of that category overlaps the segment — sits on the segment's last token; every other token is ignored.
Departure: the paper trains one model per category; here one backbone carries one token head per category.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from langrl.errors import InputError

SEGMENTERS = ("sentence", "subsentence")
_CLAUSE_BREAK = re.compile(r"[,;:](?=\s)")


def _local_sentences(text: str) -> list[tuple[int, int]]:
    from langrl.tasks.base import sentences

    return sentences(text)


def _local_subsentences(text: str) -> list[tuple[int, int]]:
    """Sentences cut further after , ; : followed by whitespace."""
    out = []
    for s, e in _local_sentences(text):
        start = s
        for m in _CLAUSE_BREAK.finditer(text, s, e):
            if m.end() < e:
                out.append((start, m.end()))
                start = m.end()
                while start < e and text[start].isspace():
                    start += 1
        if start < e:
            out.append((start, e))
    return out


def segment_spans(text: str, unit: str) -> list[tuple[int, int]]:
    """The segments of ``text`` for ``unit`` in :data:`SEGMENTERS` (character spans, end exclusive).

    Uses :mod:`langrl.rewards.segments` (the splitters the dense rewards use, so reward models and rewards cut text
    the same way); a small local splitter stands in when that module is absent.
    """
    if unit not in SEGMENTERS:
        raise InputError(f"unknown segment unit {unit!r}; expected one of {', '.join(SEGMENTERS)}", field="segment")
    try:
        from langrl.rewards.segments import split_sentences, split_subsentences
    except ImportError:
        split_sentences, split_subsentences = _local_sentences, _local_subsentences
    return list(split_sentences(text) if unit == "sentence" else split_subsentences(text))


def prompt_text(prompt, tokenizer) -> str:
    """A prompt as text: a string as is; chat messages through the tokenizer's chat template (or ``role: content``)."""
    if isinstance(prompt, str):
        return prompt
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return "".join(f"{m['role']}: {m['content']}\n" for m in prompt) + "assistant:"


@dataclass
class Encoded:
    """One tokenised (prompt, response).

    Fields:
        input_ids: the token ids (no padding).
        segments: character spans (start, end) of the response's segments whose last token survived truncation.
        label_pos: token position of each segment's last token (same order as ``segments``).
        truncated: whether the prompt or the response was cut.
        response: token positions [start, end) of the response (no special tokens).
    """

    input_ids: list[int]
    response: tuple[int, int] = (0, 0)
    segments: list[tuple[int, int]] = field(default_factory=list)
    label_pos: list[int] = field(default_factory=list)
    truncated: bool = False


def _token_of_char(offsets: list[tuple[int, int]], char: int) -> int:
    """Index of the token covering character ``char`` (else the last token starting at or before it)."""
    best = 0
    for j, (a, b) in enumerate(offsets):
        if a <= char < b:
            return j
        if a <= char:
            best = j
    return best


def encode_pair(tokenizer, prompt, response: str, *, max_length: int, encoder: bool,
                segment: str | None = None) -> Encoded:
    """Tokenise one (prompt, response) as described in the module docstring; with ``segment``, find label positions."""
    head = [tokenizer.cls_token_id] if encoder else []
    mid = [tokenizer.sep_token_id] if encoder else []
    tail = [tokenizer.sep_token_id] if encoder else [tokenizer.eos_token_id]
    p_ids = tokenizer(prompt_text(prompt, tokenizer), add_special_tokens=False)["input_ids"] if prompt else []
    try:
        enc = tokenizer(response, add_special_tokens=False, return_offsets_mapping=segment is not None)
    except NotImplementedError:  # slow (Python) tokenizers have no offsets
        raise InputError("span feedback needs a fast tokenizer (character offsets); this model's has none") from None
    r_ids = list(enc["input_ids"])
    budget = max_length - len(head) - len(mid) - len(tail)
    if budget < 1:
        raise InputError(f"max_length {max_length} leaves no room for the response", field="max_length")
    truncated = False
    if len(r_ids) > budget:  # only a response too long on its own is cut on the right
        r_ids, p_ids, truncated = r_ids[:budget], [], True
    elif len(p_ids) + len(r_ids) > budget:
        p_ids, truncated = p_ids[len(p_ids) + len(r_ids) - budget:], True  # cut the prompt from the left
    prefix = head + p_ids + mid
    out = Encoded(prefix + r_ids + tail, response=(len(prefix), len(prefix) + len(r_ids)), truncated=truncated)
    if segment is not None:
        offsets = [tuple(o) for o in enc["offset_mapping"]][:len(r_ids)]
        for s, e in segment_spans(response, segment):
            if offsets and e - 1 < offsets[-1][1]:
                out.segments.append((s, e))
                out.label_pos.append(len(prefix) + _token_of_char(offsets, e - 1))
    return out


def collate(seqs: list[Encoded], pad_id: int):
    """Right-pad: ``input_ids``, ``attention_mask`` and ``response_mask`` (1 on response tokens), (S, L) long."""
    import torch

    width = max(len(s.input_ids) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    resp = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s.input_ids)] = torch.tensor(s.input_ids, dtype=torch.long)
        mask[i, :len(s.input_ids)] = 1
        resp[i, s.response[0]:s.response[1]] = 1
    return {"input_ids": ids, "attention_mask": mask, "response_mask": resp}


def segment_labels(segments: list[tuple[int, int]], spans, categories: list[str]) -> list[list[float]]:
    """Per segment, per category: 1.0 when a span of that category overlaps the segment, else 0.0."""
    out = []
    for s, e in segments:
        row = [0.0] * len(categories)
        for sp in spans:
            if sp.category in categories and sp.start < e and s < sp.end:
                row[categories.index(sp.category)] = 1.0
        out.append(row)
    return out


# ---- training items --------------------------------------------------------------------------------------------

ITEM_KINDS = ("rating", "comparison", "ranking", "spans")


@dataclass
class Item:
    """One feedback judgement ready for a loss: its sequences plus what the loss needs.

    kind ``rating``: one sequence, ``label`` in [-1, 1]; ``comparison``: (chosen, rejected) or a tie (``tie``), with
    ``margin``; ``ranking``: one sequence per response and ``tiers`` (best first); ``spans``: one sequence and
    ``seg_labels`` (segment x category, 0/1) aligned with ``seqs[0].label_pos``. ``head``: the objective head the
    item trains (``rm train --objectives``; None: every head).
    """

    kind: str
    seqs: list[Encoded]
    label: float = 0.0
    margin: float = 0.0
    tie: bool = False
    tiers: list[list[int]] = field(default_factory=list)
    seg_labels: list[list[float]] = field(default_factory=list)
    head: int | None = None

    @property
    def n_entries(self) -> int:
        """Labelled (segment, category) entries of a spans item (0 for other kinds)."""
        return sum(len(r) for r in self.seg_labels)


def rating_label(value, lo: float, hi: float) -> float:
    """A rating in [-1, 1]: booleans as +-1, numbers mapped linearly from the data's range [lo, hi] when it exceeds
    [-1, 1] (e.g. 1-5 stars), else kept."""
    if isinstance(value, bool):
        return 1.0 if value else -1.0
    v = float(value)
    if lo >= -1 and hi <= 1:
        return v
    return 0.0 if hi == lo else 2 * (v - lo) / (hi - lo) - 1


def records_to_items(records, *, loss: str, encode, categories: list[str],
                     rating_range: tuple[float, float], head=None) -> tuple[list[Item], dict]:
    """Feedback records -> training items for ``loss`` (``auto`` lets each record use its own loss).

    ``encode(prompt, response, with_segments)`` tokenises one pair. ``bt`` turns rankings into all pairs (tied tiers
    into tied pairs), critiques with a refinement and span feedback with a correction into one pair each; ``pl`` turns
    comparisons into rankings of two. ``head(record) -> int`` (attribute models, ``rm train --objectives``) tags every
    item a record becomes with that record's objective head (``Item.head``). Returns (items, counts of what was
    left out and why).
    """
    from langrl.feedback import comparison_to_ranking, ranking_to_comparisons, to_comparisons
    from langrl.feedback.records import Comparison, Critique, Ranking, Rating, SpanFeedback

    dropped: dict[str, int] = {}
    out: list[Item] = []

    def drop(why: str) -> None:
        dropped[why] = dropped.get(why, 0) + 1

    for rec in records:
        start = len(out)
        if loss == "bt" and isinstance(rec, (Ranking, Critique, SpanFeedback)):
            pairs = ranking_to_comparisons(rec, ties=True) if isinstance(rec, Ranking) else to_comparisons([rec])
            if not pairs:
                drop(f"{rec.kind} without pairs")
            out += [_comparison_item(c, encode) for c in pairs]
        elif loss == "pl" and isinstance(rec, Comparison):
            out.append(_ranking_item(comparison_to_ranking(rec), encode))
        elif isinstance(rec, Rating) and loss in ("auto", "binary"):
            out.append(Item("rating", [encode(rec.prompt, rec.response, False)],
                            label=rating_label(rec.rating, *rating_range)))
        elif isinstance(rec, Comparison) and loss in ("auto", "bt"):
            out.append(_comparison_item(rec, encode))
        elif isinstance(rec, Ranking) and loss in ("auto", "pl"):
            out.append(_ranking_item(rec, encode))
        elif isinstance(rec, Critique) and loss == "auto":
            if rec.refinement is None:
                drop("critique without a refinement")
            else:
                out.append(_comparison_item(to_comparisons([rec])[0], encode))
        elif isinstance(rec, SpanFeedback) and loss in ("auto", "spans"):
            seq = encode(rec.prompt, rec.response, True)
            out.append(Item("spans", [seq], seg_labels=segment_labels(seq.segments, rec.spans, categories)))
        else:
            drop(f"{rec.kind} record under --loss {loss}")
        if head is not None:
            for it in out[start:]:
                it.head = head(rec)
    return out, dropped


def _comparison_item(c, encode) -> Item:
    return Item("comparison", [encode(c.prompt, c.chosen, False), encode(c.prompt, c.rejected, False)],
                margin=float(c.margin or 0.0), tie=bool(c.tie))


def _ranking_item(r, encode) -> Item:
    return Item("ranking", [encode(r.prompt, x, False) for x in r.responses], tiers=[list(t) for t in r.tiers])
