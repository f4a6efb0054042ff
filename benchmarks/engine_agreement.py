"""Do the rollout engines agree? ``langrl eval`` and ``langrl agent eval`` with ``--rollout-engine native`` vs
``vllm`` at equal settings, on the same model, prompts and games (needs the ``langrl[vllm]`` extra).

- ``eval greedy`` (``--top-k 1``): the share of identical responses and both gold means;
- ``eval sampled`` (temperature 1, ``--n`` per prompt): both gold means with their standard errors, the difference
  in units of its standard error (independent random streams, so it should be within ~2), and the KL of vLLM's
  samples to the policy itself (~0 when vLLM's log-probs are the policy's);
- ``agent greedy``: the share of identical episodes (every action) and both success rates, per action space.

Prints one JSON line per measurement.

    python benchmarks/engine_agreement.py [--policy tiny|DIR] [--task arithmetic] [--prompts 64] [--n 4]
        [--new 48] [--agent-policy tiny|DIR] [--games 32] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import math
import time

import torch


def _se_mean(xs):
    n = len(xs)
    m = sum(xs) / n
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1) / n)


def eval_agreement(args) -> None:
    from langrl.eval.evaluate import evaluate_policy
    from langrl.models.specs import load_causal_lm
    from langrl.tasks import get_task
    from langrl.train.pg.engines import make_engine

    policy, tok = load_causal_lm(args.policy, quiet=True)
    policy.eval()
    window = int(policy.config.max_position_embeddings)
    t0 = time.time()
    engine = make_engine("vllm", policy, tok, copy_weights=False, prog="bench", seed=0,
                         sampling={"max_prompt_tokens": window, "max_new_tokens": 0},
                         engine_options={"max_model_len": window})
    startup = time.time() - t0
    task = get_task(args.task)
    rows = task.prompts("eval", args.prompts, 0)
    for name, kw in (("greedy", dict(n=1, top_k=1)), ("sampled", dict(n=args.n))):
        out = {}
        for eng in ("native", "vllm"):
            t0 = time.time()
            m, r = evaluate_policy(policy, tok, rows, task=task, max_new_tokens=args.new, seed=0, per_sample=True,
                                   engine=engine if eng == "vllm" else None,
                                   ref_model=policy if eng == "vllm" and name == "sampled" else None, **kw)
            out[eng] = (m, r, time.time() - t0)
        (mn, rn, tn), (mv, rv, tv) = out["native"], out["vllm"]
        rec = {"measure": f"eval {name}", "policy": args.policy, "task": args.task, "samples": len(rn),
               "max_new_tokens": args.new, "seconds_native": round(tn, 2), "seconds_vllm": round(tv, 2)}
        if name == "greedy":
            rec.update(identical=sum(a == b for a, b in zip(rn, rv)) / len(rn), gold_native=mn["gold/gold"],
                       gold_vllm=mv["gold/gold"], vllm_startup_s=round(startup, 1))
        else:
            (gn, sn), (gv, sv) = _se_mean(mn["gold_per_sample"]), _se_mean(mv["gold_per_sample"])
            rec.update(gold_native=round(gn, 4), se_native=round(sn, 4), gold_vllm=round(gv, 4), se_vllm=round(sv, 4),
                       diff_in_se=round((gv - gn) / math.sqrt(sn ** 2 + sv ** 2), 2) if sn + sv else 0.0,
                       length_native=round(mn["length_tokens"], 2), length_vllm=round(mv["length_tokens"], 2),
                       kl_vllm_to_policy=round(mv["kl"], 6))
        print(json.dumps(rec), flush=True)
    engine.close()


def agent_agreement(args) -> None:
    from langrl.envs import make_batch, rollout_episodes
    from langrl.models.specs import load_causal_lm
    from langrl.train.agent.config import AgentEvalConfig
    from langrl.train.agent.eval import episode_metrics, make_agent_engine

    policy, tok = load_causal_lm(args.agent_policy, quiet=True)
    policy.eval()
    engine = make_agent_engine(AgentEvalConfig(rollout_engine="vllm", action_space="admissible"), policy, tok,
                               "bench")
    seeds = list(range(1000, 1000 + args.games))
    for space in ("admissible", "free"):
        res = {}
        for eng in ("native", "vllm"):
            batch = make_batch("builtin", len(seeds), "easy")
            t0 = time.time()
            rollout_episodes(policy, tok, batch, seeds, max_turns=8, action_space=space, greedy=True, seed=0,
                             engine=engine if eng == "vllm" else None)
            res[eng] = ([list(e.actions) for e in batch.episodes],
                        episode_metrics(batch.episodes), time.time() - t0)
        (an, mn, tn), (av, mv, tv) = res["native"], res["vllm"]
        print(json.dumps({"measure": f"agent greedy {space}", "policy": args.agent_policy, "episodes": len(seeds),
                          "identical_episodes": sum(a == b for a, b in zip(an, av)) / len(seeds),
                          "success_native": mn["success_rate"], "success_vllm": mv["success_rate"],
                          "seconds_native": round(tn, 2), "seconds_vllm": round(tv, 2)}), flush=True)
    engine.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policy", default="tiny")
    ap.add_argument("--task", default="arithmetic")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--new", type=int, default=48)
    ap.add_argument("--agent-policy", default="tiny")
    ap.add_argument("--games", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip", choices=("eval", "agent"), default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.skip != "eval":
        eval_agreement(args)
    if args.skip != "agent":
        agent_agreement(args)


if __name__ == "__main__":
    main()
