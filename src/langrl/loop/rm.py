"""The loop's reward model: linear in fixed features, a Laplace posterior, bootstrap members, and its checks.

Judgements become ordered feature lists (a comparison: [chosen, rejected]; a ranking: its tiers flattened best first;
ties are left out), fitted by :func:`langrl.annotate.elicit.laplace_posterior` with one weight per judgement:

    w_i = 2 ** (-(r - r_i) / half_life)   if --recency-half-life (r: the current round, r_i: the judgement's)
        * [r - r_i < window]              if --window
        * [r_i >= reset]                  after a drift alarm with --drift-response retrain

Legend: n judgements, m responses per judgement, d features, P gold pairs, E members.
"""
from __future__ import annotations

import torch

from langrl.annotate.elicit import laplace_posterior
from langrl.feedback.timing import drift_test, recency_weights, window_weights


def ordered_texts(rec: dict) -> list[str] | None:
    """A judgement's responses best first (None for a tie, which the fit leaves out)."""
    if "chosen" in rec:
        return [rec["chosen"], rec["rejected"]]
    if "ranking" in rec:
        return [rec["responses"][i] for tier in rec["ranking"] for i in tier]
    return None


def judgement_lists(records: list[dict], feat) -> tuple[torch.Tensor, torch.Tensor]:
    """(lists (n, m, d) best first, rounds (n,)) of the records that order their responses."""
    kept = [(ordered_texts(r), r["round"]) for r in records]
    kept = [(t, rnd) for t, rnd in kept if t is not None]
    if not kept:
        return torch.zeros((0, 2, feat.dim), dtype=torch.float64), torch.zeros(0)
    lists = torch.stack([feat(t) for t, _ in kept])
    return lists, torch.tensor([float(rnd) for _, rnd in kept])


def round_weights(rounds: torch.Tensor, now: int, *, half_life: float = 0.0, window: int = 0,
                  reset: int = 0) -> torch.Tensor:
    """(n,) weights of judgements made in ``rounds`` as seen at round ``now`` (see the module docstring); a window
    of N rounds keeps the judgements 0..N-1 rounds old."""
    r = rounds.tolist()
    w = recency_weights(r, half_life, now=float(now)) if half_life > 0 else [1.0] * len(r)
    if window > 0:
        w = [a * b for a, b in zip(w, window_weights(r, window - 0.5, now=float(now)))]  # ages 0..N-1 (whole rounds)
    return torch.tensor(w, dtype=torch.float64) * (rounds >= reset).to(torch.float64)


def fit(lists: torch.Tensor, weights: torch.Tensor, prior_var: float, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior (mean (d,), cov (d, d)); the prior alone when no judgement has weight."""
    keep = weights > 0
    if not bool(keep.any()):
        return torch.zeros(dim, dtype=torch.float64), torch.eye(dim, dtype=torch.float64) * prior_var
    return laplace_posterior(lists[keep], weights[keep], prior_var=prior_var)


def bootstrap_members(lists: torch.Tensor, weights: torch.Tensor, members: int, seed: int, prior_var: float,
                      dim: int) -> torch.Tensor:
    """(E, d) MAP weights, each fitted on a double-or-nothing resample of the judgements (Owen & Eckles 2012)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(members):
        boot = (torch.rand(len(weights), generator=g) < 0.5).to(torch.float64) * 2
        out.append(fit(lists, weights * boot, prior_var, dim)[0])
    return torch.stack(out)


def order_agrees(theta: torch.Tensor, lists: torch.Tensor) -> list[bool]:
    """Per judgement: does theta order its responses as the annotator did (more concordant than discordant pairs)?"""
    s = lists @ theta  # (n, m), column 0 the annotator's best
    m = lists.shape[1]
    out = []
    for row in s:
        conc = sum(int(row[i] > row[j]) - int(row[i] < row[j]) for i in range(m) for j in range(i + 1, m))
        out.append(conc > 0)
    return out


def gold_accuracy(theta: torch.Tensor, xa: torch.Tensor, xb: torch.Tensor, ua: list[float], ub: list[float]) -> float:
    """Share of gold pairs (utility differs) that theta orders like the utility: xa, xb (P, d); ua, ub (P,)."""
    diff = ((xa - xb) @ theta).tolist()
    pairs = [(d, a - b) for d, a, b in zip(diff, ua, ub) if abs(a - b) > 1e-9]
    return sum((d > 0) == (g > 0) for d, g in pairs) / len(pairs) if pairs else float("nan")


FOLDS = 5  # the drift monitor's cross-validation folds on the older judgements


def drift_monitor(lists: torch.Tensor, rounds: torch.Tensor, now: int, *, prior_var: float, threshold: float,
                  dim: int, reset: int = 0, alpha: float = 0.05, pool: int = 2) -> dict:
    """Have the preferences changed? A change-point check at round ``now`` on the judgements of rounds >= ``reset``.

    Candidate change rounds c: ``now`` and the ``pool`` - 1 rounds before it (each with an older round before it
    since the reset). For each, a model fitted on the older judgements (rounds < c, uniform weights) scores the new
    ones (rounds >= c); the older ones are scored by ``FOLDS``-fold cross-validation among themselves (judgement i in
    fold i mod 5, each fold by the model fitted on the other four), so both sides are predicted by models fitted on
    about as much of the same data, and with no change they agree about equally often (the older side's models saw
    4/5 of the data, which errs toward not firing; the policy's responses move between rounds, which can lower the
    new side's accuracy with no change of preferences and errs the other way: scripts/loop-measure's drift-none
    setting counts the false alarms). Then :func:`langrl.feedback.timing.drift_test`:
    an alarm when the drop exceeds ``threshold`` and is significant by Fisher's exact test at level ``alpha``
    (Bonferroni over the candidates). Scoring the older rounds prequentially instead (each by the model of the rounds
    before it) compares the new judgements with predictions of models fitted on a handful of judgements, near chance
    in a loop's first rounds: a reversal then hardly shows.

    Returns drift_test's dict (``alarm``, ``change``: the first round of the changed block, ``acc_new``,
    ``acc_old``, ``gap``, ``p``, counts), ``change`` None (no check) when nothing older than ``now`` is live.
    """
    live = rounds >= reset
    lists, rounds = lists[live], rounds[live]
    seen = sorted({int(r) for r in rounds.tolist()})
    cands = [c for c in seen if c <= now and any(r < c for r in seen)][-pool:]
    if now not in seen:
        cands = []
    ones = torch.ones(len(rounds), dtype=torch.float64)
    splits = []
    for c in cands:
        old, new = rounds < c, rounds >= c
        theta = fit(lists[old], ones[old], prior_var, dim)[0]
        new_ok = order_agrees(theta, lists[new])
        idx = torch.nonzero(old).flatten()
        old_ok = []
        for f in range(FOLDS):
            held = idx[torch.arange(len(idx)) % FOLDS == f]
            train = idx[torch.arange(len(idx)) % FOLDS != f]
            if len(held):
                th = fit(lists[train], ones[train], prior_var, dim)[0]
                old_ok += order_agrees(th, lists[held])
        splits.append((new_ok, old_ok, c))
    return drift_test(splits, alpha=alpha, threshold=threshold)
