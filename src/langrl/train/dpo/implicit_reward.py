"""The implicit reward of a policy trained by DPO: r(x, y) = β log π_θ(y|x) / π_ref(y|x) (``langrl dpo reward``).

DPO's rewrite of the Bradley-Terry reward (eq. 5 of the paper) means a trained policy *is* a reward model, up to the
prompt-only term β log Z(x), which cancels in every comparison of two responses to the same prompt. So pairwise
accuracy on held-out preferences is well defined; absolute values are comparable only within one prompt.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from langrl.config import arg
from langrl.errors import InputError
from langrl.feedback.records import Comparison, Critique, Ranking, Rating, SpanFeedback
from langrl.train.dpo.data import OfflineData, encode_prompt, encode_response, fit


@dataclass
class ImplicitRewardConfig:
    """``langrl dpo reward``: DPO's implicit reward β log π(y|x)/π_ref(y|x) of a trained policy (a reward model's
    scores are ``langrl rm``'s, :mod:`langrl.models.rm`)."""

    policy: str = arg("", "trained policy (a langrl dpo --out directory, or any model spec)")
    ref: str | None = arg(None, "reference spec (default: the ref, else the starting policy, recorded in the "
                                "policy directory's langrl_config.yaml)")
    data: str = arg("", "feedback file to score (every kind; pairs give the accuracy)")
    beta: float | None = arg(None, "β (default: the one the policy was trained with, else 0.1)")
    max_length: int = arg(512, "max tokens per prompt + response; longer records are skipped (see --truncate)")
    truncate: bool = arg(False, "cut over-long records to max_length instead of skipping them")
    batch_size: int = arg(32, "sequences per forward pass")
    out: str | None = arg(None, "also write each record with its implicit_rewards as JSONL here")
    ref_cache: bool = arg(True, "read/write reference log-probs under $LANGRL_HOME/ref_logps")

    def validate(self) -> None:
        if not self.policy or not self.data:
            raise InputError("langrl dpo reward: --policy DIR and --data FILE are required")
        if self.beta is not None and self.beta <= 0:
            raise InputError("langrl dpo reward: field 'beta': expected a positive number")


def _trained_with(policy: str) -> dict:
    path = Path(policy) / "langrl_config.yaml"
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def responses_and_pairs(rec) -> tuple[list[str], list[tuple[int, int]], int]:
    """(responses, (better, worse) index pairs, ties) of one feedback record."""
    if isinstance(rec, Comparison):
        return [rec.chosen, rec.rejected], ([] if rec.tie else [(0, 1)]), int(rec.tie)
    if isinstance(rec, Ranking):
        pairs = [(a, b) for t, upper in enumerate(rec.tiers) for lower in rec.tiers[t + 1:]
                 for a in upper for b in lower]
        return list(rec.responses), pairs, sum(len(t) * (len(t) - 1) // 2 for t in rec.tiers)
    if isinstance(rec, Rating):
        return [rec.response], [], 0
    better = rec.refinement if isinstance(rec, Critique) else rec.corrected if isinstance(rec, SpanFeedback) else None
    return ([rec.response, better], [(1, 0)], 0) if better is not None else ([rec.response], [], 0)


def implicit_rewards(cfg: ImplicitRewardConfig, quiet: bool = False) -> dict:
    """Score every response of ``cfg.data``; return the summary (with per-record ``rewards``)."""
    from langrl.feedback import read_feedback
    from langrl.io import atomic_write_jsonl
    from langrl.models.specs import load_causal_lm, resolve_model_dir
    from langrl.train.dpo import ref_cache
    from langrl.train.dpo.step import all_row_logps

    trained = _trained_with(cfg.policy)
    ref_spec = cfg.ref or trained.get("ref") or trained.get("policy")
    if not ref_spec:
        raise InputError(f"langrl dpo reward: --ref SPEC is required ({cfg.policy} has no langrl_config.yaml naming "
                         "the reference)")
    beta = cfg.beta if cfg.beta is not None else float(trained.get("beta", 0.1))
    from langrl.jsonl import input_flag

    with input_flag("--data"):
        records = read_feedback(cfg.data).records
    policy, tok = load_causal_lm(cfg.policy, quiet=quiet)
    data = OfflineData()
    layout, ties, too_long = [], 0, 0
    for rec in records:
        responses, pairs, t = responses_and_pairs(rec)
        ties += t
        p_ids, lead = encode_prompt(tok, rec.prompt)
        seqs = [(p_ids, encode_response(tok, r, lead)) for r in responses]
        if max(len(p) + len(r) for p, r in seqs) > cfg.max_length:
            if not cfg.truncate:
                too_long += 1
                layout.append((rec, None, pairs))
                continue
            seqs = [fit(p, r, cfg.max_length) for p, r in seqs]
        layout.append((rec, [data.row(p, r) for p, r in seqs], pairs))
    if not data.prompts:
        raise InputError(f"no responses to score ({too_long} records longer than max_length {cfg.max_length})",
                         path=cfg.data)
    all_rows = list(range(len(data.prompts)))
    pol = all_row_logps(policy, data, all_rows, tok.pad_token_id, cfg.batch_size)

    def compute():
        ref_model, _ = load_causal_lm(ref_spec, quiet=quiet)
        return all_row_logps(ref_model, data, all_rows, tok.pad_token_id, cfg.batch_size)

    ref, info = ref_cache.reference_logps(data.prompts, data.responses, compute,
                                          model_dir=resolve_model_dir(ref_spec, quiet=True), use_cache=cfg.ref_cache)
    reward = beta * (pol - ref)  # r(x, y) = beta log pi(y|x) / pi_ref(y|x), DPO eq. 5 without beta log Z(x)
    per_record, correct, n_pairs, good, bad = [], 0, 0, [], []
    for rec, rows, pairs in layout:
        if rows is None:
            per_record.append(None)
            continue
        r = [round(float(reward[i]), 6) for i in rows]
        per_record.append(r)
        for a, b in pairs:
            correct += r[a] > r[b]
            n_pairs += 1
        if isinstance(rec, Rating):
            (good if rec.score > 0 else bad).append(r[0])
    if cfg.out:
        atomic_write_jsonl(cfg.out, [{**rec.to_dict(), "implicit_rewards": r} for (rec, _, _), r
                                     in zip(layout, per_record)])
    summary = {"command": "dpo reward", "policy": cfg.policy, "ref": ref_spec, "beta": beta, "records": len(records),
               "responses": len(data.prompts), "pairs": n_pairs,
               "pairwise_accuracy": correct / n_pairs if n_pairs else None, "ties_skipped": ties,
               "too_long_skipped": too_long,
               "ref_cache": "hit" if info["hit"] else ("miss" if cfg.ref_cache else "off")}
    if good or bad:
        summary["desirable_mean_reward"] = sum(good) / len(good) if good else None
        summary["undesirable_mean_reward"] = sum(bad) / len(bad) if bad else None
    summary["rewards"] = per_record
    return summary
