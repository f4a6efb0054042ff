"""Evaluating a reward model on held-out feedback: the metric functions (pure, on lists of floats) and the driver.

- pairwise accuracy over comparisons and over rankings expanded to every cross-tier pair (a score tie counts 1/2);
- Kendall's tau-b between each ranking and the scores (tau-b handles tied tiers), averaged over rankings;
- ratings: accuracy of sign(score) and ROC AUC (Mann-Whitney, score ties count 1/2), threshold-free;
- spans: per-category precision / recall / F1 at the segment level (P(category) > 0.5), and their macro mean;
- calibration: expected calibration error (10 equal-width bins) of P(chosen wins) = sigmoid(r_c - r_r) under
  Bradley-Terry, on the symmetric form (confidence max(p, 1 - p) against "the more likely side won").

Ensembles are scored with the mean of their raw heads; ``ensemble_std`` is the mean std over standardised heads.
"""
from __future__ import annotations

import math

from langrl.eval.evaluate import nan_mean as _mean
from langrl.models.rm.data import segment_labels


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def pairwise_accuracy(chosen: list[float], rejected: list[float]) -> float:
    """Share of pairs with score(chosen) > score(rejected); equal scores count 1/2."""
    if not chosen:
        return float("nan")
    return sum(1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected)) / len(chosen)


def kendall_tau(scores: list[float], tiers: list[list[int]]) -> float:
    """Kendall's tau-b between a ranking in tiers (best first) and scores (higher = better); NaN if undefined.

    tau_b = (C - D) / sqrt((n0 - t_gold)(n0 - t_pred)), n0 = n(n-1)/2 pairs, t_* = pairs tied in gold / in scores.
    """
    tier_of = {i: k for k, tier in enumerate(tiers) for i in tier}
    idx = sorted(tier_of)
    conc = disc = tied_gold = tied_pred = 0
    for a in range(len(idx)):
        for b in range(a + 1, len(idx)):
            i, j = idx[a], idx[b]
            g = tier_of[j] - tier_of[i]  # > 0: i ranked better
            p = scores[i] - scores[j]  # > 0: i scored higher
            tied_gold += g == 0
            tied_pred += p == 0
            if g and p:
                conc += (g > 0) == (p > 0)
                disc += (g > 0) != (p > 0)
    n0 = len(idx) * (len(idx) - 1) // 2
    denom = math.sqrt((n0 - tied_gold) * (n0 - tied_pred))
    return (conc - disc) / denom if denom else float("nan")


def roc_auc(scores: list[float], positive: list[bool]) -> float:
    """P(score of a random positive > score of a random negative), ties 1/2; NaN without both classes."""
    pos = [s for s, y in zip(scores, positive) if y]
    neg = [s for s, y in zip(scores, positive) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def expected_calibration_error(probs: list[float], outcomes: list[bool], bins: int = 10) -> float:
    """ECE of binary predictions: sum over bins of (bin share) x |accuracy - confidence|.

    Each prediction is folded to its more likely side: confidence max(p, 1 - p), correct when that side happened.
    Bins split [0.5, 1] into ``bins`` equal widths.
    """
    if not probs:
        return float("nan")
    conf = [max(p, 1 - p) for p in probs]
    right = [(p >= 0.5) == bool(o) for p, o in zip(probs, outcomes)]
    total = 0.0
    for k in range(bins):
        lo, hi = 0.5 + 0.5 * k / bins, 0.5 + 0.5 * (k + 1) / bins
        members = [i for i, c in enumerate(conf) if lo <= c < hi or (k == bins - 1 and c == hi)]
        if members:
            acc = sum(right[i] for i in members) / len(members)
            mean_conf = sum(conf[i] for i in members) / len(members)
            total += len(members) / len(probs) * abs(acc - mean_conf)
    return total


def precision_recall_f1(pred: list[bool], gold: list[bool]) -> tuple[float, float, float]:
    """(precision, recall, F1) of positive predictions; 0 where undefined (no predicted / gold positives)."""
    tp = sum(p and g for p, g in zip(pred, gold))
    fp = sum(p and not g for p, g in zip(pred, gold))
    fn = sum(g and not p for p, g in zip(pred, gold))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)


def evaluate(model, records, batch_size: int = 32) -> dict:
    """Every metric that applies to ``records`` (feedback records), under ``model`` (a reward model or ensemble)."""
    from langrl.feedback.records import Comparison, Critique, Ranking, Rating, SpanFeedback

    texts: dict[tuple, int] = {}

    def ref(prompt, response) -> int:
        key = (repr(prompt), response)
        if key not in texts:
            texts[key] = len(texts)
            pairs.append((prompt, response))
        return texts[key]

    pairs: list = []
    comps, ranks, rates, spans = [], [], [], []
    for rec in records:
        if isinstance(rec, Comparison):
            comps.append((ref(rec.prompt, rec.chosen), ref(rec.prompt, rec.rejected), rec.tie))
        elif isinstance(rec, Critique) and rec.refinement is not None:
            comps.append((ref(rec.prompt, rec.refinement), ref(rec.prompt, rec.response), False))
        elif isinstance(rec, Ranking):
            ranks.append(([ref(rec.prompt, r) for r in rec.responses], rec.tiers))
        elif isinstance(rec, Rating):
            rates.append((ref(rec.prompt, rec.response), rec.score > 0))
        elif isinstance(rec, SpanFeedback):
            spans.append(rec)
    out: dict = {"n": len(records)}
    if pairs:
        heads = model.score_heads([p for p, _ in pairs], [r for _, r in pairs], batch_size)  # raw (T, E)
        s = heads.mean(1).tolist()
        if heads.shape[1] > 1:
            out["ensemble_std"] = _mean(model.score([p for p, _ in pairs], [r for _, r in pairs], batch_size)[1])
    decided = [(c, r) for c, r, tie in comps if not tie]
    rank_pairs = [(ids[a], ids[b]) for ids, tiers in ranks
                  for k, upper in enumerate(tiers) for lower in tiers[k + 1:] for a in upper for b in lower]
    all_pairs = decided + rank_pairs
    if all_pairs:
        ch, rj = [s[c] for c, _ in all_pairs], [s[r] for _, r in all_pairs]
        out["pairwise_accuracy"] = pairwise_accuracy(ch, rj)
        out["n_pairs"] = len(all_pairs)
        probs = [sigmoid(a - b) for a, b in zip(ch, rj)]
        out["ece"] = expected_calibration_error(probs, [True] * len(probs))
    if decided:
        out["comparison_accuracy"] = pairwise_accuracy([s[c] for c, _ in decided], [s[r] for _, r in decided])
    out["n_comparisons"] = len(comps)
    out["n_ties"] = sum(t for _, _, t in comps)
    if ranks:
        out["kendall_tau"] = _mean([kendall_tau([s[i] for i in ids], tiers) for ids, tiers in ranks])
        out["n_rankings"] = len(ranks)
    if rates:
        rs, ys = [s[i] for i, _ in rates], [y for _, y in rates]
        out["rating_accuracy"] = sum((x > 0) == y for x, y in zip(rs, ys)) / len(rs)
        out["rating_auc"] = roc_auc(rs, ys)
        out["n_ratings"] = len(rates)
    if spans and model.categories:
        out.update(span_metrics(model, spans, batch_size))
    return out


def span_metrics(model, spans, batch_size: int = 32) -> dict:
    """Per-category segment-level precision/recall/F1 (``f1/<category>``...) and ``span_macro_f1``."""
    cats = list(model.categories)
    res = model.segment_probs([r.prompt for r in spans], [r.response for r in spans], batch_size)
    pred: dict[str, list[bool]] = {c: [] for c in cats}
    gold: dict[str, list[bool]] = {c: [] for c in cats}
    for rec, r in zip(spans, res):
        labels = segment_labels(r["segments"], rec.spans, cats)
        for probs, lab in zip(r["probs"], labels):
            for k, c in enumerate(cats):
                pred[c].append(probs[k] > 0.5)
                gold[c].append(lab[k] > 0.5)
    out: dict = {"n_span_records": len(spans), "n_segments": len(pred[cats[0]]) if cats else 0}
    f1s = []
    for c in cats:
        p, r, f = precision_recall_f1(pred[c], gold[c])
        out[f"precision/{c}"], out[f"recall/{c}"], out[f"f1/{c}"] = p, r, f
        f1s.append(f)
    if f1s:
        out["span_macro_f1"] = sum(f1s) / len(f1s)
    return out
