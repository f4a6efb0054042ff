"""Multi-turn RL for language agents: PPO, GRPO, RLOO and REINFORCE in text environments.

Every iteration: play ``episodes_per_step`` episodes (``group_size`` of each game, for the group baselines) with the
multi-turn sampler → old, reference log-probs and values (``train/online_collect.annotate``) → per-token rewards (each
turn's environment reward on its action's last token, − β·KL per action token when the KL is in the reward) →
turn-level advantages (the ``TURN_ALGORITHMS`` of ``train/pg/algorithms.py``) → K epochs of updates (``train/pg/update.run_epochs``, the
single-turn trainer's step, with the algorithm's loss from ``train/pg/algorithms.py``). Objective (the lecture's):
max_π E[Σ_k γ^k R(s_k, a_k)] − β KL(π ‖ π_0).

Environment tokens sit inside the rows (``response_ids``) but have ``response_mask`` 0: the KL below is multiplied by
that mask, and every loss term reduces with it (``langrl.losses.token_mean``), so they get no gradient and no KL.

How this departs from single-turn RL and the papers:
- γ discounts turns, not tokens; tokens of one action share the turn's advantage (GAE over turns, V(s_k) at the
  turn's first token). GRPO/RLOO use the discounted episode return as the outcome, grouped by game.
- An episode that hits the turn limit is cut without bootstrapping (its last value is 0), like an ended one.
- One minibatch per epoch (the whole batch, split into micro-batches): the number of rows varies with the context
  policy (a long episode may span two rows), so a fixed minibatch count would drop rows.
- The value function is a head on the shared backbone only.
- ``--action-space admissible``: the ratio uses the trie-masked, renormalised distributions recorded while sampling,
  and so does the KL when it is in the reward (the policy over actions IS the masked distribution; the k1 estimate of
  the unmasked KL on masked samples is biased and goes negative). GRPO's KL in the loss is computed by the shared
  update step on the unmasked log-probs, as NLPO's masking does.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch

from langrl.logging import progress_bar
from langrl.train.agent.config import AgentTrainConfig
from langrl.train.agent.eval import episode_metrics, make_agent_engine
from langrl.train import setup as trainer_setup
from langrl.train.checkpoint import check_out_dir, load_state
from langrl.train.data import global_batch_indices
from langrl.train.pg import setup
from langrl.train.pg.algorithms import TURN_ALGORITHMS, get_algorithm, resolve_config
from langrl.train.pg.kl import KLPenalty
from langrl.train.pg.update import UpdateSettings

VALUE_FILE = setup.VALUE_FILE
AGENT_FILE = "langrl_agent.json"


def episode_seeds(games: int, first_seed: int, n_groups: int, group_size: int, step: int, seed: int) -> list[int]:
    """The game seeds of iteration ``step``: ``n_groups`` games (walking shuffled epochs over the training games),
    each repeated ``group_size`` times consecutively. Depends only on its arguments (resume is exact)."""
    picked = global_batch_indices(games, n_groups, step, seed)
    return [first_seed + i for i in picked for _ in range(group_size)]


def agent_meta(cfg, kind: str) -> dict:
    """What an eval needs to know about a trained policy: its environment and training seeds."""
    return {"kind": kind, "env": cfg.env, "difficulty": cfg.difficulty, "seed": cfg.seed, "games": cfg.games,
            "action_space": cfg.action_space, "max_turns": cfg.max_turns}


def run_agent_train(cfg: AgentTrainConfig, quiet: bool = False) -> dict:
    """Train; write the checkpoint to ``cfg.out``; return the summary metrics."""
    from langrl.envs import EnvBatch, allowed_tensor, make_env, rollout_episodes
    from langrl.rollout.nlpo import pack_mask
    from langrl.train.pg.collect import annotate, chunk_seed
    from langrl.train.pg.stats import global_explained_variance, global_whiten
    from langrl.train.pg.update import run_epochs

    cfg = resolve_config(cfg, TURN_ALGORITHMS)
    algo = get_algorithm(cfg.algo, TURN_ALGORITHMS).from_config(cfg, prog="agent train")
    kl = KLPenalty.from_config(cfg)  # β: fixed; in the reward or the loss
    settings = UpdateSettings.from_config(cfg)
    check_out_dir(cfg.out, cfg.resume, cfg.overwrite)
    torch.manual_seed(cfg.seed)
    state = load_state(cfg.resume) if cfg.resume else None
    policy, tok, ref, critic, _ = setup.load_models(cfg.policy, resume=cfg.resume, state=state, quiet=quiet,
                                                    value_model="shared" if algo.uses_value else None)
    optimizer, scheduler, params = setup.make_optimizer_and_schedule(policy, critic, cfg, cfg.max_steps * cfg.epochs)
    start = setup.restore(state, optimizer=optimizer, scheduler=scheduler, kl=kl, algo=algo)
    if cfg.env == "textworld":
        from langrl.envs.games import game_set, parse_difficulty

        game_set(parse_difficulty(cfg.difficulty), cfg.seed, cfg.games, quiet=quiet)
    batch = EnvBatch([make_env(cfg.env, cfg.difficulty) for _ in range(cfg.episodes_per_step)])
    logger, config_yaml = trainer_setup.open_run(cfg, start=start, resumed=bool(state))
    vocab = policy.get_output_embeddings().weight.shape[0]
    engine = make_agent_engine(cfg, policy, tok, "agent train")  # None: langrl's multi-turn sampler on the policy itself
    if engine is not None:  # the sampler is not the trainer itself: truncated importance sampling (train/pg/engines)
        settings = dataclasses.replace(settings, is_cap=cfg.tis_cap)

    def checkpoint(step: int, extra: dict | None = None) -> None:
        files = {AGENT_FILE: json.dumps(agent_meta(cfg, "train"), indent=2), **(extra or {})}
        setup.save(cfg.out, step, policy=policy, tokenizer=tok, config_yaml=config_yaml, logger=logger,
                   optimizer=optimizer, scheduler=scheduler, kl=kl, algo=algo, critic=critic, extra_files=files)

    end = min(cfg.max_steps, cfg.stop_at) if cfg.stop_at else cfg.max_steps
    n_groups = cfg.episodes_per_step // cfg.group_size
    t_run, history = time.time(), []
    with progress_bar(f"agent {cfg.algo}", total=cfg.max_steps, quiet=quiet) as bar:
        bar.update(start)
        for step in range(start, end):
            t0 = time.time()
            seeds = episode_seeds(cfg.games, cfg.seed, n_groups, cfg.group_size, step, cfg.seed)
            if engine is not None and step > start:
                engine.sync(policy)  # the weights of the last update, pushed in place
            ro = rollout_episodes(policy, tok, batch, seeds, temperature=cfg.temperature,
                                  seed=chunk_seed(cfg.seed, step, 0), engine=engine, **cfg.rollout_kwargs())
            dense = allowed_tensor(ro.columns["allowed"], ro.response_ids.shape[1], vocab)
            allowed = pack_mask(dense) if dense is not None else None
            del dense
            t1 = time.time()
            # admissible actions with the KL in the reward: the policy IS the masked, renormalised distribution, so
            # it is compared with the reference masked the same way (the unmasked estimate is biased on these
            # samples, even negative)
            masked_kl = allowed is not None and kl.in_reward
            full_lp, entropy = annotate(policy, ro, ref_model=ref, critic=critic, allowed=allowed,
                                        micro_batch_size=cfg.micro_batch_size, temperature=cfg.temperature, top_k=0,
                                        top_p=1.0, vocab_size=vocab, mask_reference=masked_kl)
            m = ro.response_mask
            policy_lp, ref_lp = (ro.old_logprobs if masked_kl else full_lp), ro.ref_logprobs
            # environment tokens (response_mask 0) are masked out of the KL here, and out of every loss term in
            # run_epochs (token_mean over response_mask): observations get no gradient and no KL penalty
            kl_tok = kl.per_token(policy_lp, ref_lp, m)
            beta = kl.beta
            rewards = kl.shape_turns(ro.dense_rewards, kl_tok, m)
            res = algo.advantages(rewards, m, ro.values, ro.columns["episode"])
            adv = res.advantages
            if cfg.whiten_advantages:
                adv = global_whiten(adv, m if adv.dim() == 2 else torch.ones_like(adv))
            ro.rewards, ro.advantages, ro.returns = rewards, adv, res.returns
            ev = global_explained_variance(ro.values, res.returns, m) if res.returns is not None else float("nan")
            t2 = time.time()
            upd, _ = run_epochs(policy, critic, ro, allowed, algo=algo, kl=kl, settings=settings, optimizer=optimizer,
                                scheduler=scheduler, params=params, my_chunks=[0], chunk_rows=ro.batch_size,
                                n_minibatches=1, step=step, vocab_size=vocab)
            t3 = time.time()
            played = episode_metrics(batch.episodes)
            metrics = {**played, "kl": float(kl_tok.sum() / len(batch.episodes)), "beta": beta,
                       "entropy": float((entropy * m).sum() / m.sum().clamp_min(1)),
                       "action_tokens": float(m.sum() / len(batch.episodes)), "rows": ro.batch_size,
                       "explained_variance": ev, **upd, "time/rollout": t1 - t0, "time/annotate": t2 - t1,
                       "time/update": t3 - t2}
            logger.log(step + 1, metrics)
            history.append(metrics)
            bar.update(step + 1, success=metrics["success_rate"], kl=metrics["kl"])
            if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < end:
                checkpoint(step + 1)
    batch.close()
    if engine is not None:
        engine.close()
    first, last = (history[0], history[-1]) if history else ({}, {})
    summary = {"command": "agent train", "algo": cfg.algo, "env": cfg.env, "difficulty": cfg.difficulty,
               "steps": end, "first_success_rate": first.get("success_rate"),
               "final_success_rate": last.get("success_rate"), "final_kl": last.get("kl"),
               "seconds": round(time.time() - t_run, 2), "out": str(cfg.out)}
    checkpoint(end, {"langrl_metrics.json": json.dumps(summary, indent=2)})
    logger.close()
    return summary
