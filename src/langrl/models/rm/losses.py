"""One micro-batch of mixed feedback -> one loss: a forward over every sequence, then each kind's loss from
:mod:`langrl.losses` on its slice of the scores.

Shapes: b items of a kind, E heads, n list size, s segments, C categories. Ensemble heads are folded into the batch:
a kind's (b, E) scores become b*E rows, and a bootstrap weight of 0 drops a row. Every loss here is a mean over its
rows; multiplying by (weight x rows) and dividing by the *global* counts of the batch (:func:`batch_counts`) makes the
micro-batch losses sum to the global-batch loss described in :mod:`langrl.train.rm.loop`. Attribute heads
(``rm train --objectives``; items with a ``head``): each sequence is first scored by its record's objective head
(:func:`langrl.losses.select_heads`, E = 1), so every kind's loss applies per head.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from langrl.losses import (IGNORE_INDEX, binary_loss, bradley_terry_loss, davidson_loss, plackett_luce_loss,
                           plackett_luce_tiers_loss, rao_kupper_loss, segment_classification_loss,
                           select_heads)


def batch_counts(items) -> dict:
    """Global normalisers of one global batch: records, span records, labelled (segment, category) entries."""
    spans = [it for it in items if it.kind == "spans"]
    return {"n_records": len(items), "n_span_records": len(spans), "n_entries": sum(it.n_entries for it in spans)}


def _rows(scores: torch.Tensor, w: torch.Tensor):
    """(b, E, ...) -> for each distinct positive weight: (its rows (kept, ...), the keep mask over b*E, the weight).

    Bootstrap weights alone (all ones, or 2 and 0) give one group, the kept rows; per-record recency weights
    (``langrl rm train --recency-half-life``) give one group per distinct value, each group's mean loss counted with
    its weight, so the total is sum_rows w_row * loss_row / the global count.
    """
    flat = scores.reshape(scores.shape[0] * scores.shape[1], *scores.shape[2:])
    wf = w.reshape(-1)
    values = sorted({float(v) for v in wf[wf > 0].tolist()})
    if len(values) <= 1:  # the common case, exactly as before: every kept row has one weight
        keep = wf > 0
        return [(flat[keep], keep, values[0] if values else 0.0)]
    return [(flat[wf == v], wf == v, v) for v in values]


def tie_loss(model, a: torch.Tensor, b: torch.Tensor, is_tie: torch.Tensor):
    """The tie-aware pairwise loss of ``model.tie_model`` with its learned parameter."""
    if model.tie_model == "davidson":
        return davidson_loss(a, b, is_tie, model.tie_param)  # Davidson (1970), log nu learned as is
    return rao_kupper_loss(a, b, is_tie, F.softplus(model.tie_param))  # Rao-Kupper (1967), log theta = softplus(raw)


def micro_batch_loss(model, items, weights: torch.Tensor, *, n_records: int, n_span_records: int,
                     n_entries: int) -> tuple[torch.Tensor, dict]:
    """Loss contribution of ``items`` (a micro-batch) and ``{metric: (value, count)}`` for logging.

    ``weights`` (b_items, E): weight of every item for every head: the bootstrap weight (all ones without bootstrap)
    times the record's recency weight (ones without ``--recency-half-life``).
    """
    seqs, first = [], []
    for it in items:
        first.append(len(seqs))
        seqs.extend(it.seqs)
    tokens = any(it.kind == "spans" for it in items)
    out = model(**model.collate(seqs), tokens=tokens)
    scores = out["scores"]  # (S, E)
    if items and items[0].head is not None:  # attribute heads: a record trains its objective's head only
        scores = select_heads(scores, torch.tensor([it.head for it in items for _ in it.seqs]))  # (S, 1)
    E = scores.shape[1]
    denom = n_records * E
    total = scores.new_zeros(())
    parts: dict[str, tuple[float, int]] = {}
    by_kind: dict[str, list[int]] = {}
    for k, it in enumerate(items):
        by_kind.setdefault(it.kind, []).append(k)

    def add(name: str, loss: torch.Tensor, p: dict, w: float, n: int, norm: float) -> None:
        nonlocal total
        total = total + loss * w * n / norm
        for key, v in [("loss", loss.item()), *((k, float(x)) for k, x in p.items()
                                                if k in ("accuracy", "top1_accuracy"))]:
            v0, n0 = parts.get(f"{key}/{name}", (0.0, 0))  # weight groups of one kind pooled by their rows
            parts[f"{key}/{name}"] = ((v0 * n0 + v * n) / (n0 + n), n0 + n)

    if "rating" in by_kind:
        ks = by_kind["rating"]
        s = scores[[first[k] for k in ks]]  # (b, E)
        y = torch.tensor([items[k].label for k in ks]).unsqueeze(1).expand_as(s)
        for rows, keep, w in _rows(s, weights[ks]):
            if keep.any():
                loss, p = binary_loss(rows, y.reshape(-1)[keep])  # logistic likelihood of a +1/-1 rating
                add("rating", loss, p, w, int(keep.sum()), denom)
    if "comparison" in by_kind:
        ks = by_kind["comparison"]
        c = scores[[first[k] for k in ks]]
        r = scores[[first[k] + 1 for k in ks]]
        m = torch.tensor([items[k].margin for k in ks]).unsqueeze(1).expand_as(c)
        tie = torch.tensor([items[k].tie for k in ks]).unsqueeze(1).expand_as(c)
        for cr, keep, w in _rows(c, weights[ks]):
            if keep.any():
                rr, mr, tr = r.reshape(-1)[keep], m.reshape(-1)[keep], tie.reshape(-1)[keep]
                if model.tie_param is not None:
                    loss, p = tie_loss(model, cr - mr, rr, tr)
                else:
                    loss, p = bradley_terry_loss(cr, rr, mr if bool((mr != 0).any()) else None)
                add("comparison", loss, p, w, int(keep.sum()), denom)
    if "ranking" in by_kind:
        ks = by_kind["ranking"]
        n = max(len(items[k].seqs) for k in ks)
        s = scores.new_full((len(ks), E, n), 0.0)
        tiers = torch.full((len(ks), n), -1, dtype=torch.long)
        order = torch.full((len(ks), n), -1, dtype=torch.long)
        for j, k in enumerate(ks):
            it = items[k]
            s[j, :, :len(it.seqs)] = scores[first[k]:first[k] + len(it.seqs)].T
            flat = [i for t in it.tiers for i in t]
            order[j, :len(flat)] = torch.tensor(flat)
            for t, tier in enumerate(it.tiers):
                tiers[j, tier] = t
        for rows, keep, w in _rows(s, weights[ks]):
            if keep.any():
                if any(len(t) > 1 for k in ks for t in items[k].tiers):
                    loss, p = plackett_luce_tiers_loss(rows, tiers.repeat_interleave(E, 0)[keep])  # Breslow ties
                else:
                    loss, p = plackett_luce_loss(rows, order.repeat_interleave(E, 0)[keep])  # Plackett-Luce
                add("ranking", loss, p, w, int(keep.sum()), denom)
    if "spans" in by_kind and n_entries:
        ks = [k for k in by_kind["spans"] if items[k].n_entries]
        logits = out["token_logits"]  # (S, L, E, C)
        C = logits.shape[-1]
        smax = max((len(items[k].seg_labels) for k in ks), default=0)
        if ks and smax:
            lg = logits.new_zeros((len(ks), E, smax, C))
            lab = torch.full((len(ks), E, smax, C), float(IGNORE_INDEX))
            for j, k in enumerate(ks):
                it = items[k]
                pos = it.seqs[0].label_pos
                lg[j, :, :len(pos)] = logits[first[k], pos].transpose(0, 1)  # (E, s, C)
                lab[j, :, :len(pos)] = torch.tensor(it.seg_labels)
            for rows, keep, w in _rows(lg, weights[ks]):
                if keep.any():
                    lab_rows = lab.reshape(len(ks) * E, smax, C)[keep]
                    loss, p = segment_classification_loss(rows, lab_rows, model.categories)  # one BCE per category
                    n_lab = int((lab_rows != IGNORE_INDEX).sum())
                    # the span share of the batch (n_span_records / n_records) times the mean over labelled entries
                    add("spans", loss, p, w, n_lab, n_entries * E * n_records / n_span_records)
    return total, parts
