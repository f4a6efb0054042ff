"""Feedback records → tokenised training units for the offline (DPO-family, KTO) trainer.

A *unit* is what one loss term sees: a pair (chosen, rejected) for DPO/IPO/cDPO, a ranked list for Plackett-Luce DPO,
one rated response for KTO. Units point at *rows*: unique (prompt ids, response ids) sequences, so a response that
appears in several pairs (a ranking expanded to pairs) is scored once by the reference model and cached once.

What each loss reads (anything else is counted in ``stats["ignored"]``, never silently dropped):

- pairwise (``pair``): comparisons; rankings as every (better tier, worse tier) pair; critiques with a refinement and
  span feedback with a correction as (refinement/correction > original). Ties, and tied pairs inside a ranking tier,
  are skipped and counted.
- listwise (``list``): rankings whole (tied tiers kept as tiers); comparisons, critiques, corrections as lists of two.
- single responses (``single``, KTO): ratings (``score > rating_threshold`` desirable, ``<`` undesirable, ``==``
  neutral and skipped); comparisons split into a desirable chosen and an undesirable rejected response (KTO paper,
  Sec. 4); rankings give their best tier as desirable and their worst tier as undesirable.

Sequences are never truncated silently: a unit with a row over ``max_length`` tokens is skipped and reported, unless
``truncate`` is on (the prompt is cut from the left first, then the response from the right; counted).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

from langrl.feedback.convert import critique_to_comparison, ranking_to_comparisons, spans_to_comparison
from langrl.feedback.records import Comparison, Critique, Ranking, Rating, SpanFeedback

SHAPES = ("pair", "list", "single")


@dataclass
class Unit:
    """One loss term: rows best-first with their tier (0 = best); for KTO one row, a label and a KL partner row."""

    rows: list[int]
    tiers: list[int]
    label: int = 0  # KTO: +1 desirable, -1 undesirable
    kl_row: int = -1  # KTO: (this prompt, another unit's response) for the KL reference point
    record: int = 0  # 1-based number of the feedback record it came from


@dataclass
class OfflineData:
    """Rows (unique tokenised sequences) and the units built on them, plus counts of what was used and skipped."""

    prompts: list[list[int]] = field(default_factory=list)  # per row
    responses: list[list[int]] = field(default_factory=list)  # per row (EOS appended)
    units: list[Unit] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    _index: dict = field(default_factory=dict, repr=False)

    def row(self, prompt: list[int], response: list[int]) -> int:
        key = (tuple(prompt), tuple(response))
        if key not in self._index:
            self._index[key] = len(self.prompts)
            self.prompts.append(list(prompt))
            self.responses.append(list(response))
        return self._index[key]

    def __len__(self) -> int:
        return len(self.units)


# ---------------------------------------------------------------------------------------------------------------------
# Tokenisation (the same conventions as SFT: no BOS, EOS after the response, chat prompts through the template).


def encode_prompt(tok, prompt) -> tuple[list[int], bool]:
    """(prompt ids, is_chat_without_template). A list of messages goes through the chat template when there is one."""
    if isinstance(prompt, list):
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            return tok(text, add_special_tokens=False)["input_ids"], False
        text = "".join(f"{m['role']}: {m['content']}\n" for m in prompt) + "assistant:"
        return tok(text, add_special_tokens=False)["input_ids"], True
    return (tok(prompt, add_special_tokens=False)["input_ids"] if prompt else []), False


def encode_response(tok, response: str, lead_space: bool) -> list[int]:
    text = (" " + response) if lead_space else response
    return tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]


def fit(prompt: list[int], response: list[int], max_length: int) -> tuple[list[int], list[int]]:
    """Cut to ``max_length`` tokens: the prompt from the left first, then the response from the right."""
    over = len(prompt) + len(response) - max_length
    if over > 0:
        cut = min(over, len(prompt))
        prompt, over = prompt[cut:], over - cut
    if over > 0:
        response = response[:len(response) - over]
    return prompt, response


# ---------------------------------------------------------------------------------------------------------------------
# Feedback records → (prompt, [responses best first], [tiers], label) items, per unit shape.


def _pairs_of(rec, stats) -> list[tuple]:
    """(prompt, [chosen, rejected], [0, 1], 0) for every strict preference the record holds."""
    if isinstance(rec, Comparison):
        if rec.tie:
            stats["ties_skipped"] += 1
            return []
        return [(rec.prompt, [rec.chosen, rec.rejected], [0, 1], 0)]
    if isinstance(rec, Ranking):
        stats["ties_skipped"] += sum(len(t) * (len(t) - 1) // 2 for t in rec.tiers)
        return [(c.prompt, [c.chosen, c.rejected], [0, 1], 0) for c in ranking_to_comparisons(rec, mode="all")]
    if isinstance(rec, Critique) and rec.refinement is not None:
        c = critique_to_comparison(rec)
        return [(c.prompt, [c.chosen, c.rejected], [0, 1], 0)]
    if isinstance(rec, SpanFeedback) and rec.corrected is not None:
        c = spans_to_comparison(rec)
        return [(c.prompt, [c.chosen, c.rejected], [0, 1], 0)]
    return None  # not usable


def _list_of(rec, stats) -> list[tuple]:
    """(prompt, responses best tier first, tier per response, 0): a ranking whole, any pair as a list of two."""
    if isinstance(rec, Ranking):
        if len(rec.tiers) < 2:
            stats["ties_skipped"] += 1
            return []
        order = [i for tier in rec.tiers for i in tier]
        tiers = [k for k, tier in enumerate(rec.tiers) for _ in tier]
        return [(rec.prompt, [rec.responses[i] for i in order], tiers, 0)]
    return _pairs_of(rec, stats)


def _singles_of(rec, stats, threshold: float) -> list[tuple]:
    """(prompt, [response], [0], ±1): ratings by threshold; pairs split; a ranking's best and worst tiers."""
    if isinstance(rec, Rating):
        if rec.score == threshold:
            stats["neutral_ratings_skipped"] += 1
            return []
        return [(rec.prompt, [rec.response], [0], 1 if rec.score > threshold else -1)]
    if isinstance(rec, Ranking):
        if len(rec.tiers) < 2:
            stats["ties_skipped"] += 1
            return []
        r = rec.responses
        return ([(rec.prompt, [r[i]], [0], 1) for i in rec.tiers[0]]
                + [(rec.prompt, [r[i]], [0], -1) for i in rec.tiers[-1]])
    pairs = _pairs_of(rec, stats)
    if pairs is None:
        return None
    return [it for p, (c, r), _, _ in pairs for it in ((p, [c], [0], 1), (p, [r], [0], -1))]


def build_units(records, tok, *, shape: str, max_length: int, truncate: bool = False,
                rating_threshold: float = 0.0, seed: int = 0) -> OfflineData:
    """Tokenise ``records`` into units of ``shape`` ("pair", "list" or "single"); see the module docstring.

    ``stats``: ``units``, ``rows``, ``ties_skipped``, ``neutral_ratings_skipped``, ``ignored`` ({kind: count} of
    records the loss cannot use), ``too_long_skipped`` / ``truncated`` (units), ``too_long`` (up to 5 examples of
    ``(record number, tokens)``) and ``from`` ({kind: units}).
    """
    if shape not in SHAPES:
        raise ValueError(f"shape: expected one of {SHAPES}, got {shape!r}")
    data = OfflineData()
    stats = {"ties_skipped": 0, "neutral_ratings_skipped": 0, "ignored": {}, "too_long_skipped": 0, "truncated": 0,
             "too_long": [], "from": {}}
    for n, rec in enumerate(records, 1):
        if shape == "pair":
            items = _pairs_of(rec, stats)
        elif shape == "list":
            items = _list_of(rec, stats)
        else:
            items = _singles_of(rec, stats, rating_threshold)
        if items is None:
            stats["ignored"][rec.kind] = stats["ignored"].get(rec.kind, 0) + 1
            continue
        for prompt, responses, tiers, label in items:
            p_ids, lead = encode_prompt(tok, prompt)
            seqs = [(p_ids, encode_response(tok, r, lead)) for r in responses]
            longest = max(len(p) + len(r) for p, r in seqs)
            if longest > max_length:
                if not truncate:
                    stats["too_long_skipped"] += 1
                    if len(stats["too_long"]) < 5:
                        stats["too_long"].append((n, longest))
                    continue
                stats["truncated"] += 1
                seqs = [fit(p, r, max_length) for p, r in seqs]
            data.units.append(Unit([data.row(p, r) for p, r in seqs], list(tiers), label, record=n))
            stats["from"][rec.kind] = stats["from"].get(rec.kind, 0) + 1
    if shape == "single":
        _attach_kl_rows(data, max_length, seed)
    stats["units"], stats["rows"] = len(data.units), len(data.prompts)
    data.stats = stats
    return data


def _attach_kl_rows(data: OfflineData, max_length: int, seed: int) -> None:
    """KTO's mismatched pairs (x_i, y_j): each unit's prompt with the response of the next unit in a fixed shuffled
    order (the next that fits in ``max_length``; its own response if none does). Fixed per dataset, so the reference
    log-probs of these rows are cached like the others."""
    order = list(range(len(data.units)))
    random.Random(seed + 101).shuffle(order)
    n = len(order)
    for j, u in enumerate(order):
        unit = data.units[u]
        prompt = data.prompts[unit.rows[0]]
        partner = data.responses[unit.rows[0]]
        for k in range(1, min(n, 9)):
            other = data.responses[data.units[order[(j + k) % n]].rows[0]]
            if len(prompt) + len(other) <= max_length:
                partner = other
                break
        unit.kl_row = data.row(prompt, partner)


# ---------------------------------------------------------------------------------------------------------------------
# Collation: rows → tensors for one forward pass; units → (b, n) grids.


def collate_rows(data: OfflineData, row_ids: list[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Prompts left-padded (r, p) and responses right-padded (r, t), with masks: the layout of
    :func:`langrl.rollout.response_logprobs` (position ids come from the mask, so padding never shifts positions)."""
    p = max(1, max(len(data.prompts[i]) for i in row_ids))
    t = max(len(data.responses[i]) for i in row_ids)
    r = len(row_ids)
    prompt_ids = torch.full((r, p), pad_id, dtype=torch.long)
    prompt_mask = torch.zeros((r, p), dtype=torch.long)
    response_ids = torch.full((r, t), pad_id, dtype=torch.long)
    response_mask = torch.zeros((r, t), dtype=torch.long)
    for k, i in enumerate(row_ids):
        pr, rs = data.prompts[i], data.responses[i]
        if pr:
            prompt_ids[k, p - len(pr):] = torch.tensor(pr)
            prompt_mask[k, p - len(pr):] = 1
        response_ids[k, :len(rs)] = torch.tensor(rs)
        response_mask[k, :len(rs)] = 1
    return {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "response_ids": response_ids,
            "response_mask": response_mask}


def unit_grid(units: list[Unit]) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """(flat row ids of all units, index (b, n) into that flat list with -1 padding, tiers (b, n) with -1 padding)."""
    n = max(len(u.rows) for u in units)
    flat: list[int] = []
    index = torch.full((len(units), n), -1, dtype=torch.long)
    tiers = torch.full((len(units), n), -1, dtype=torch.long)
    for b, u in enumerate(units):
        index[b, :len(u.rows)] = torch.arange(len(flat), len(flat) + len(u.rows))
        tiers[b, :len(u.rows)] = torch.tensor(u.tiers)
        flat.extend(u.rows)
    return flat, index, tiers


def gather_grid(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values (r,) laid out as (b, n) by ``index`` (-1 → 0)."""
    return torch.where(index >= 0, values[index.clamp_min(0)], values.new_zeros(()))
