"""Evaluating a reward model on held-out feedback: the metric functions (pure, on lists of floats) and the driver.

- pairwise accuracy over comparisons and over rankings expanded to every cross-tier pair (a score tie counts 1/2);
- Kendall's tau-b between each ranking and the scores (tau-b handles tied tiers), averaged over rankings;
- ratings: accuracy of sign(score) and ROC AUC (Mann-Whitney, score ties count 1/2), threshold-free;
- spans: per-category precision / recall / F1 at the segment level (P(category) > 0.5), and their macro mean; against
  gold also the threshold-free ROC AUC of P(category) per category;
- calibration: expected calibration error (10 equal-width bins) of P(chosen wins) = sigmoid(r_c - r_r) under
  Bradley-Terry, on the symmetric form (confidence max(p, 1 - p) against "the more likely side won").

Ensembles are scored with the mean of their raw heads; ``ensemble_std`` is the mean std over standardised heads.

Against gold (``evaluate(..., gold=TaskGold(task))``, records that carry the task's row columns such as ``meta``):
the same metrics with the annotator's labels replaced by the task's hidden gold evaluator, so label noise does not
hide (or flatter) what the model learned. Every pair of responses that a comparison, a critique or a ranking puts
side by side is ordered by gold, gold ties (|g_a - g_b| <= 1e-9) left out (``gold_pairwise_accuracy``; comparisons
and critiques alone: ``gold_comparison_accuracy``); each ranking's responses are tiered by gold for Kendall's tau-b
(``gold_kendall_tau``); span models get per-category F1 against the task's noiseless span labels (``gold_f1/<c>``,
``gold_span_macro_f1``). ``annotator_gold_agreement`` is the share of decided comparisons whose chosen response has
the higher gold: the ceiling a model that copies the annotator reaches on ``gold_comparison_accuracy``.
Attribute models (``rm train --objectives``) add each head's accuracy on its own objective's records and against the
gold score of the same name (:func:`objective_metrics`).
"""
from __future__ import annotations

import math

from langrl.eval.evaluate import nan_mean as _mean
from langrl.models.rm.data import segment_labels

#: Two gold scores closer than this are a gold tie (left out of gold-ordered pairs).
GOLD_TIE = 1e-9


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
    """P(score of a random positive > score of a random negative), ties 1/2; NaN without both classes. Computed from
    ranks (Mann-Whitney U = Σ positive ranks − n₊(n₊+1)/2, tied scores sharing their mean rank), O(n log n)."""
    n, n_pos = len(scores), sum(1 for y in positive if y)
    if not n_pos or n_pos == n:
        return float("nan")
    order = sorted(range(n), key=lambda i: scores[i])
    ranks = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    u = sum(r for r, y in zip(ranks, positive) if y) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * (n - n_pos))


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


class TaskGold:
    """A built-in task's hidden gold evaluator, applied to feedback records that carry the task's row columns.

    ``spec``: ``TASK`` (its overall ``gold``) or ``TASK:SCORE`` (one of its gold components, e.g.
    ``factqa:completeness``), or a task object. A record's row is ``{"prompt": record.prompt, **record.extra}`` (the
    demo's feedback keeps ``meta``, ``answer`` ... there); a response is scored when some record gives its prompt's
    row, and left out of the gold metrics otherwise.
    """

    def __init__(self, spec, score: str = "gold"):
        from langrl.tasks import get_task

        if isinstance(spec, str):
            name, _, part = spec.partition(":")
            spec, score = get_task(name), part or score
        self.task, self.score = spec, score

    def row(self, rec) -> dict | None:
        return {"prompt": rec.prompt, **rec.extra} if isinstance(rec.extra.get("meta"), dict) else None

    def scores(self, rows: list[dict], responses: list[str]) -> list[float]:
        if not rows:
            return []
        out = self.task.gold(rows, responses)
        if self.score not in out:
            from langrl.errors import InputError

            raise InputError(f"task {self.task.name!r} has no gold score {self.score!r}; it has {', '.join(out)}",
                             field="gold_task")
        return out[self.score]

    def spans(self, row: dict, response: str) -> list:
        from langrl.feedback.records import Span

        return [Span(s["start"], s["end"], s["category"]) for s in self.task.label_spans(row, response)[0]]


def gold_tiers(gold: list[float]) -> list[list[int]]:
    """Indices tiered by gold, best first; scores within GOLD_TIE of their tier's first share the tier."""
    tiers: list[list[int]] = []
    for i in sorted(range(len(gold)), key=lambda i: -gold[i]):
        if tiers and abs(gold[tiers[-1][0]] - gold[i]) <= GOLD_TIE:
            tiers[-1].append(i)
        else:
            tiers.append([i])
    return tiers


def gold_ordered(pairs: list[tuple[int, int]], gold: dict[int, float]) -> list[tuple[int, int]]:
    """``pairs`` of text ids as (better, worse) by ``gold``; pairs without gold or tied in gold are left out."""
    out = []
    for a, b in pairs:
        if a in gold and b in gold and abs(gold[a] - gold[b]) > GOLD_TIE:
            out.append((a, b) if gold[a] > gold[b] else (b, a))
    return out


def evaluate(model, records, batch_size: int = 32, gold: TaskGold | None = None) -> dict:
    """Every metric that applies to ``records`` (feedback records), under ``model`` (a reward model or ensemble);
    with ``gold``, the gold-ordered metrics too (see the module docstring)."""
    from langrl.feedback.records import Comparison, Critique, Ranking, Rating, SpanFeedback

    texts: dict[tuple, int] = {}
    rows: dict[int, dict] = {}  # text id -> its task row (gold only)

    def ref(prompt, response, rec) -> int:
        key = (repr(prompt), response)
        if key not in texts:
            texts[key] = len(texts)
            pairs.append((prompt, response))
        row = gold.row(rec) if gold is not None else None
        if row is not None:
            rows.setdefault(texts[key], row)
        return texts[key]

    pairs: list = []
    comps, ranks, rates, spans = [], [], [], []
    for rec in records:
        if isinstance(rec, Comparison):
            comps.append((ref(rec.prompt, rec.chosen, rec), ref(rec.prompt, rec.rejected, rec), rec.tie))
        elif isinstance(rec, Critique) and rec.refinement is not None:
            comps.append((ref(rec.prompt, rec.refinement, rec), ref(rec.prompt, rec.response, rec), False))
        elif isinstance(rec, Ranking):
            ranks.append(([ref(rec.prompt, r, rec) for r in rec.responses], rec.tiers))
        elif isinstance(rec, Rating):
            rates.append((ref(rec.prompt, rec.response, rec), rec.score > 0))
        elif isinstance(rec, SpanFeedback):
            spans.append(rec)
    out: dict = {"n": len(records)}
    if pairs:
        heads = model.score_heads([p for p, _ in pairs], [r for _, r in pairs], batch_size)  # raw (T, E)
        s = heads.mean(1).tolist()
        if heads.shape[1] > 1 and not getattr(model, "meta", {}).get("objectives"):  # objective heads: no ensemble
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
    if gold is not None and rows:
        ids = sorted(rows)
        g = dict(zip(ids, gold.scores([rows[i] for i in ids], [pairs[i][1] for i in ids])))
        out.update(gold_metrics(s, g, comps, ranks))
    if spans and model.categories:
        out.update(span_metrics(model, spans, batch_size, gold))
    if getattr(model, "meta", {}).get("objectives") and pairs:
        out.update(objective_metrics(model.meta["objectives"], heads, texts, records, gold, rows))
    return out


def objective_metrics(names: list[str], heads, texts: dict, records, gold: TaskGold | None, rows: dict) -> dict:
    """Attribute heads (``rm train --objectives``): per objective k, ``objective_accuracy/k``, head k's pairwise
    accuracy on the decided comparisons and ranking pairs labelled k; with ``gold``, ``gold_objective_accuracy/k``,
    head k's accuracy on every pair of responses a comparison or ranking puts side by side (whatever its label),
    ordered by the task's gold score k (gold ties left out; objectives that are no gold score of the task skipped).

    ``heads`` (T, K) raw scores by text id; ``texts`` {(repr(prompt), response): text id}; ``rows`` text id -> row.
    """
    from itertools import combinations

    from langrl.feedback.records import Comparison, Ranking

    labelled: dict[str, list[tuple[int, int]]] = {n: [] for n in names}
    sides: set[tuple[int, int]] = set()  # every pair of texts a record puts side by side (unordered)
    for rec in records:
        if not isinstance(rec, (Comparison, Ranking)):
            continue
        resp = (rec.chosen, rec.rejected) if isinstance(rec, Comparison) else rec.responses
        ids = [texts[(repr(rec.prompt), r)] for r in resp]
        sides.update((min(a, b), max(a, b)) for a, b in combinations(ids, 2))
        pairs = ([] if rec.tie else [(ids[0], ids[1])]) if isinstance(rec, Comparison) else [
            (ids[a], ids[b]) for k, upper in enumerate(rec.tiers) for lower in rec.tiers[k + 1:]
            for a in upper for b in lower]
        if rec.extra.get("objective") in labelled:
            labelled[rec.extra["objective"]] += pairs
    out: dict = {}
    axes = {}
    if gold is not None and rows:
        ids = sorted(rows)
        response = {i: r for (_, r), i in texts.items()}
        axes = {k: dict(zip(ids, v)) for k, v in gold.task.gold([rows[i] for i in ids],
                                                                [response[i] for i in ids]).items()}
    for k, name in enumerate(names):
        s = heads[:, k].tolist()
        for key, pairs in ((f"objective_accuracy/{name}", labelled[name]),
                           (f"gold_objective_accuracy/{name}", gold_ordered(sorted(sides), axes.get(name, {})))):
            if pairs:
                out[key] = pairwise_accuracy([s[a] for a, _ in pairs], [s[b] for _, b in pairs])
    return out


def gold_metrics(s: list[float], g: dict[int, float], comps: list[tuple[int, int, bool]],
                 ranks: list[tuple[list[int], list[list[int]]]]) -> dict:
    """The gold-ordered metrics from model scores ``s`` (by text id) and gold ``g`` (text id -> gold, where known).

    ``comps``: (chosen, rejected, tie) text ids; ``ranks``: (text ids, annotator tiers) per ranking.
    """
    out: dict = {}
    comp_pairs = gold_ordered([(c, r) for c, r, _ in comps], g)
    rank_pairs = gold_ordered([(ids[a], ids[b]) for ids, _ in ranks
                               for a in range(len(ids)) for b in range(a + 1, len(ids))], g)
    both = comp_pairs + rank_pairs
    if both:
        out["gold_pairwise_accuracy"] = pairwise_accuracy([s[a] for a, _ in both], [s[b] for _, b in both])
    out["n_gold_pairs"] = len(both)
    if comp_pairs:
        out["gold_comparison_accuracy"] = pairwise_accuracy([s[a] for a, _ in comp_pairs],
                                                            [s[b] for _, b in comp_pairs])
    out["n_gold_comparisons"] = len(comp_pairs)
    decided = [(c, r) for c, r, tie in comps if not tie and c in g and r in g and abs(g[c] - g[r]) > GOLD_TIE]
    if decided:
        out["annotator_gold_agreement"] = sum(g[c] > g[r] for c, r in decided) / len(decided)
    ranked = [ids for ids, _ in ranks if all(i in g for i in ids)]
    if ranked:
        out["gold_kendall_tau"] = _mean([kendall_tau([s[i] for i in ids], gold_tiers([g[i] for i in ids]))
                                         for ids in ranked])
    return out


def _prf(pred: dict[str, list[bool]], labels: dict[str, list[bool]], cats: list[str], prefix: str) -> dict:
    out, f1s = {}, []
    for c in cats:
        p, r, f = precision_recall_f1(pred[c], labels[c])
        out[f"{prefix}precision/{c}"], out[f"{prefix}recall/{c}"], out[f"{prefix}f1/{c}"] = p, r, f
        f1s.append(f)
    if f1s:
        out[f"{prefix}span_macro_f1"] = sum(f1s) / len(f1s)
    return out


def span_metrics(model, spans, batch_size: int = 32, gold: TaskGold | None = None) -> dict:
    """Per-category segment-level precision/recall/F1 (``f1/<category>``...) and ``span_macro_f1``; with ``gold``,
    the same against the task's noiseless labels (``gold_f1/<category>``, ``gold_span_macro_f1``) on the records
    that carry the task's row, and threshold-free per category: ``gold_auc/<category>``, the ROC-AUC of P(category)
    against the gold labels (a head whose probabilities stay under 0.5 has F1 0 and may still rank the erroneous
    segments first, which is what the fine-grained reward −w·P reads), and ``gold_positive_rate/<category>``."""
    cats = list(model.categories)
    res = model.segment_probs([r.prompt for r in spans], [r.response for r in spans], batch_size)
    pred: dict[str, list[bool]] = {c: [] for c in cats}
    labels: dict[str, list[bool]] = {c: [] for c in cats}
    gpred: dict[str, list[bool]] = {c: [] for c in cats}
    glabels: dict[str, list[bool]] = {c: [] for c in cats}
    gprobs: dict[str, list[float]] = {c: [] for c in cats}
    n_gold = 0
    for rec, r in zip(spans, res):
        row = gold.row(rec) if gold is not None else None
        sources = [(rec.spans, pred, labels, None)]
        if row is not None:
            n_gold += 1
            sources.append((gold.spans(row, rec.response), gpred, glabels, gprobs))
        for marked, p_out, l_out, probs_out in sources:
            for probs, lab in zip(r["probs"], segment_labels(r["segments"], marked, cats)):
                for k, c in enumerate(cats):
                    p_out[c].append(probs[k] > 0.5)
                    l_out[c].append(lab[k] > 0.5)
                    if probs_out is not None:  # gold only: the threshold-free AUC below
                        probs_out[c].append(float(probs[k]))
    out: dict = {"n_span_records": len(spans), "n_segments": len(pred[cats[0]]) if cats else 0,
                 **_prf(pred, labels, cats, "")}
    if n_gold:
        out.update(n_gold_span_records=n_gold, **_prf(gpred, glabels, cats, "gold_"))
        for c in cats:  # threshold-free: does P(c) rank the gold-labelled segments first (what the reward uses)?
            out[f"gold_auc/{c}"] = roc_auc(gprobs[c], glabels[c])
            out[f"gold_positive_rate/{c}"] = _mean([float(y) for y in glabels[c]])
    return out
