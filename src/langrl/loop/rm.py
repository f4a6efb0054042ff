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
from langrl.feedback.timing import drift_scan, recency_weights, window_weights


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


def drift_monitor(lists: torch.Tensor, rounds: torch.Tensor, now: int, *, prior_var: float, threshold: float,
                  dim: int, reset: int = 0, alpha: float = 0.05, pool: int = 2) -> dict:
    """Prequential change-point check: every round's judgements scored by the model fitted on the rounds before it
    (held out, as the loop met them), then :func:`langrl.feedback.timing.drift_scan`: the latest round (or the
    latest ``pool`` rounds together) against the rounds before, an alarm when the drop in accuracy exceeds
    ``threshold`` and is significant by Fisher's exact test at the level alpha spending gives this check.

    Only rounds from ``reset`` on count; the first of them has no earlier model and is not scored, so the first
    check (``check`` 1) comes with the second scored round (the third live one): ``check`` is the scored rounds
    since the reset minus one, so over any run the monitor fires without a change with probability at most
    ``alpha``. The older rounds' models saw less data, which can only lower their accuracy: the test errs toward not
    firing. Returns drift_scan's dict (``alarm``, ``change``: the first round of the changed block, ``acc_new``,
    ``acc_old``, ``gap``, ``p``, ``level``, counts) plus ``check``; no check (``alarm`` false, ``check`` 0) when
    round ``now`` has no scored judgement or nothing older is scored.
    """
    live = rounds >= reset
    lists, rounds = lists[live], rounds[live]
    correct, times = [], []
    seen = sorted(set(rounds.tolist()))
    for r in seen[1:]:
        train, held = rounds < r, rounds == r
        theta = fit(lists[train], torch.ones(int(train.sum()), dtype=torch.float64), prior_var, dim)[0]
        correct += order_agrees(theta, lists[held])
        times += [int(r)] * int(held.sum())
    scored = sorted(set(times))
    if now not in scored or len(scored) < 2:
        return {**drift_scan([], [], alpha=alpha, threshold=threshold, check=1, pool=pool), "check": 0}
    check = len(scored) - 1
    return {**drift_scan(correct, times, alpha=alpha, threshold=threshold, check=check, pool=pool), "check": check}
