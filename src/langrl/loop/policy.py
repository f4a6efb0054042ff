"""The loop's policy step (``--policy-update``), each run from the round's starting policy into ``rounds/rNN/policy/``:

    dpo    iterated DPO on the round's judged pairs (rankings as their pairs, ties left out): ``langrl dpo``'s
           :func:`langrl.train.dpo.loop.run_dpo`, the reference the round's start (or the loop's, --dpo-reference)
    grpo   ``--rl-steps`` iterations of the online RL loop (:func:`langrl.train.rl.loop.run_rl`, unchanged) with
    rloo   ``--algo grpo`` or ``rloo`` on the round's reward model (:class:`langrl.loop.reward.LoopReward` on the
           round's ``reward.json``: every judgement so far, recency weights, window and drift reset applied) over the
           round's training prompts; the KL reference is the round's starting policy (run_rl's frozen copy)
    ppo    the same loop with ``--algo ppo``: the KL to the round's start in the per-token reward (k1, β =
           --rl-kl-coef), GAE on a value head that is carried from round to round (round r's run starts from round
           r−1's ``policy/langrl_value.pt``: run_rl's ``value_init``; round 1's head is zero-initialised)
    none   the policy kept

The step is one unit for ``--resume``: its inputs (judgements, reward.json) are on disk before it starts, it writes
into ``policy/`` with ``overwrite`` and deletes the optimizer state, and only then does the loop write
``policy.json``. A crash inside it leaves no policy.json, so a resumed loop reruns the whole step from the round's
start with the same seeds (nothing is asked again: the judgements are already in judgements.jsonl).
Departures: the RL step's reward is the RM's posterior mean (no uncertainty penalty), and its optimizer state is
not carried from round to round (as the DPO step's); PPO's value head is carried, though the reward it learned to
predict was the previous round's reward model.
"""
from __future__ import annotations

import json

from langrl.config import from_dict
from langrl.io import atomic_write_jsonl

POLICY_UPDATES = ("dpo", "grpo", "rloo", "ppo", "none")


def dpo_step(loop, r: int) -> dict:
    """Iterated DPO on round ``r``'s new pairs; policy.json's content."""
    from langrl.feedback import ranking_to_comparisons, read_feedback
    from langrl.train.dpo.loop import DPOConfig, run_dpo

    cfg, d = loop.cfg, loop.rdir(r)
    prev = loop.policy_at(r - 1)
    pairs = []
    for rec in read_feedback(d / "judgements.jsonl").records:
        comps = ranking_to_comparisons(rec) if rec.kind == "ranking" else [rec]
        pairs += [{"prompt": c.prompt, "chosen": c.chosen, "rejected": c.rejected} for c in comps if not c.tie]
    if not pairs:
        return {"path": prev, "pairs": 0}
    atomic_write_jsonl(d / "dpo.jsonl", pairs)
    b = min(16, len(pairs))
    ref = prev if cfg.dpo_reference == "round" else loop.start_policy
    summary = run_dpo(from_dict(DPOConfig, {
        "policy": prev, "ref": ref, "data": str(d / "dpo.jsonl"), "out": str(d / "policy"), "overwrite": True,
        "max_steps": cfg.dpo_steps, "batch_size": b, "micro_batch_size": b, "learning_rate": cfg.learning_rate,
        "beta": cfg.dpo_beta, "eval_fraction": 0.0, "eval_every": 0, "seed": cfg.seed + r, "ref_cache": False}),
        quiet=True)
    (d / "policy" / "langrl_state.pt").unlink(missing_ok=True)  # the optimizer state: never resumed here
    return {"path": str(d / "policy"), "pairs": len(pairs), "final_loss": summary.get("final_loss")}


def value_init(loop, r: int) -> str:
    """PPO: the value function round ``r``'s run starts from: round r−1's (its policy/langrl_value.pt), "" for a zero
    head (round 1, or after a round whose policy step kept the policy)."""
    from langrl.train.pg.setup import VALUE_FILE

    if loop.cfg.policy_update != "ppo" or r == 1:
        return ""
    f = loop.rdir(r - 1) / "policy" / VALUE_FILE
    return str(f) if f.is_file() else ""


def rl_step(loop, r: int) -> dict:
    """``--rl-steps`` iterations of GRPO/RLOO/PPO on round ``r``'s reward model over its training prompts."""
    from langrl.loop.reward import LoopReward
    from langrl.train.rl.loop import RLConfig, run_rl

    cfg, d = loop.cfg, loop.rdir(r)
    prev = loop.policy_at(r - 1)
    rows = json.loads((d / "samples.json").read_text())["rows"]
    atomic_write_jsonl(d / "rl_prompts.jsonl", rows)
    per_step = cfg.rl_prompts_per_step or len(rows)
    summary = run_rl(from_dict(RLConfig, {
        "policy": prev, "prompts": str(d / "rl_prompts.jsonl"), "out": str(d / "policy"), "overwrite": True,
        "algo": cfg.policy_update, "max_steps": cfg.rl_steps, "prompts_per_step": per_step,
        "samples_per_prompt": cfg.rl_samples_per_prompt, "max_new_tokens": loop.max_new,
        "learning_rate": cfg.learning_rate, "kl_coef": cfg.rl_kl_coef, "seed": cfg.seed + r, "eval_every": 0,
        "log_samples": 0, "value_init": value_init(loop, r)}), quiet=True, reward=LoopReward(str(d / "reward.json")))
    (d / "policy" / "langrl_state.pt").unlink(missing_ok=True)  # the optimizer state: never resumed here
    out = {"path": str(d / "policy"), "algo": cfg.policy_update, "steps": cfg.rl_steps,
           "final_reward": summary.get("final_reward"), "final_kl": summary.get("final_kl")}
    if cfg.policy_update == "ppo":
        out["value_init"] = value_init(loop, r) or None
    return out


def update_policy(loop, r: int) -> dict:
    """The round's policy step by ``--policy-update`` (see the module docstring)."""
    if loop.cfg.policy_update == "none":
        return {"path": loop.policy_at(r - 1), "pairs": 0}
    if loop.cfg.policy_update == "dpo":
        return dpo_step(loop, r)
    return rl_step(loop, r)
