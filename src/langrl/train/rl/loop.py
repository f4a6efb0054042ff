"""Online RL from rewards: one loop, five algorithms (PPO, NLPO, GRPO, RLOO, REINFORCE).

Every iteration: collect n responses per prompt → score them → shape per-token rewards (score on the last token or
dense segment rewards, − β·KL per token when the KL is in the reward) → advantages → K epochs of minibatch updates
(+ β·KL in the loss when it is there). The algorithms differ only in the pure functions they plug in
(``train/pg/algorithms.py``); the pieces live in ``online_collect.py`` (collect, score, log-probs, shaping) and
``online_update.py`` (losses and optimizer steps). Objective (Ziegler et al. 2019; the lecture's trust region):
max_π E[r(x, y)] − β KL(π ‖ π_ref).

How this departs from the papers:
- PPO (Schulman et al. 2017; Ziegler et al. 2019; Stiennon et al. 2020): token-level MDP with γ = 1 by default,
  the KL per token in the reward (k1 by default, as in Ziegler et al.), GAE over response tokens only. Losses are
  averaged over all policy tokens of a minibatch (not per sequence). Value clipping follows OpenAI baselines' ppo2, and
  advantages (and optionally rewards) are whitened over the whole global batch. The value function is a zero-initialised
  head on the shared backbone by default (``--value-model separate`` gives InstructGPT's separate copy).
- NLPO (Ramamurthy et al. 2023): see ``langrl.rollout.nlpo`` — the masking policy really re-syncs (RL4LMs' sampler
  keeps its initial mask model), and masks are recorded while sampling rather than recomputed. The held-out evaluation
  samples the policy alone (what the saved model does), without the mask.
- GRPO (Shao et al. 2024): outcome supervision only; token-level loss averaging (as DAPO / Dr. GRPO) instead of per
  sequence then per group; the KL (k3 by default) is in the loss with a fixed or adaptive β; ``grpo_scale_std false``
  gives Dr. GRPO's unscaled advantages. With ``epochs 1`` and one minibatch the ratio is 1 and clipping is inactive.
- RLOO (Ahmadian et al. 2024) and REINFORCE: −A·log π with no ratio (on-policy: use ``epochs 1``), the KL in the
  reward (k1) so the sequence return is r − β Σ_t KL_t; REINFORCE's baseline is an exponential moving average of
  past batch-mean returns (the first batch uses its own mean).
- Missing-EOS penalty (TRL) and reward clipping act on the sequence score before the KL shaping, and so does the
  optional per-prompt leave-one-out baseline (``reward_baseline loo``: RLOO's baseline under PPO's critic).
- Several rewards are a reward vector: ``--aggregation`` (GRPO/RLOO) sums it before the estimator, normalises each
  objective in its group first (GDPO) or keeps a group advantage per objective (``losses/multiobjective.py``);
  ``--condition`` writes a weight vector per prompt into its context and scores it w·r (``rewards/conditioning.py``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import torch

from langrl import distributed as dist
from langrl.errors import InputError
from langrl.jsonl import input_flag
from langrl.logging import progress_bar
from langrl.models.lora import MergeChoice, merged_for_sampling
from langrl.train import fsdp
from langrl.train.pg import setup
from langrl.train import setup as trainer_setup
from langrl.train.checkpoint import check_out_dir, load_state
from langrl.train.data import global_batch_indices
from langrl.train.pg.algorithms import get_algorithm
from langrl.losses.multiobjective import weighted_sum
from langrl.rewards.conditioning import CONDITION_COLUMN, condition_rows, resolve_format, strip_prefix
from langrl.train.pg.collect import annotate, load_prompt_rows, score, shape_rewards
from langrl.train.pg.engines import RolloutSchedule, check_engine, make_engine, parse_options
from langrl.train.pg.kl import KLPenalty
from langrl.train.pg.stats import global_explained_variance, global_max, global_means, global_whiten
from langrl.train.pg.update import UpdateSettings, run_epochs
from langrl.train.rl.config import OnlineConfig, RLConfig, resolve_config
from langrl.train.rl.eval import default_evaluator, evaluate, truncate_samples, with_watch, write_samples
from langrl.train.rl.hacking import HackingWatch, WarningLog, replay

__all__ = ["RLConfig", "resolve_config", "run_rl"]


def _as_composite(reward):
    from langrl.rewards import CompositeReward

    return reward if isinstance(reward, CompositeReward) else CompositeReward([reward])


def run_rl(cfg: RLConfig, quiet: bool = False, reward=None, evaluator=None) -> dict:
    """Train ``cfg.policy`` online; write the checkpoint to ``cfg.out``; return the summary.

    ``reward``: a RewardFunction / CompositeReward used instead of ``cfg.reward`` specs (programmatic use, tests).
    ``evaluator``: ``(prompt_rows, responses) -> {name: float}`` run on held-out prompts every ``eval_every``
    iterations and logged as ``eval/NAME`` (default for task:NAME prompts: the task's hidden gold scores).
    """
    cfg = resolve_config(cfg)
    cfg.validate()
    algo = get_algorithm(cfg.algo).from_config(cfg)  # its settings; one it would ignore is refused here
    kl = KLPenalty.from_config(cfg)  # β: estimator, reward or loss, fixed or adaptive
    settings = UpdateSettings.from_config(cfg)
    dist.init_distributed()
    rank, world = dist.rank(), dist.world_size()
    fsdp.check_world(cfg.strategy, world, "rl")
    check_out_dir(cfg.out, cfg.resume, cfg.overwrite)
    if reward is None and not cfg.reward:
        raise InputError("rl: no reward given; pass --reward SPEC (repeat for several; see `langrl reward list`)")
    n, chunk_prompts = cfg.samples_per_prompt, cfg.rollout_prompts or cfg.prompts_per_step // world
    n_chunks = cfg.prompts_per_step // max(chunk_prompts, 1)
    if chunk_prompts < 1 or cfg.prompts_per_step % chunk_prompts or n_chunks % world:
        raise InputError(f"rl: prompts_per_step {cfg.prompts_per_step} must split into sampling calls of "
                         f"rollout_prompts {chunk_prompts} prompts, a multiple of the {world} ranks")
    batch = cfg.prompts_per_step * n
    n_minibatches = batch // cfg.minibatch_size if cfg.minibatch_size else 1
    if (chunk_prompts * n) % n_minibatches:
        raise InputError(f"rl: minibatches take an equal slice of every sampling call: the {chunk_prompts * n} "
                         f"sequences of a call must split into {n_minibatches} minibatches (raise minibatch_size "
                         f"or rollout_prompts)")
    my_chunks = list(range(rank, n_chunks, world))
    torch.manual_seed(cfg.seed)
    state = load_state(cfg.resume) if cfg.resume else None
    with input_flag("--prompts"):  # bad input fails before models load
        rows = load_prompt_rows(cfg.prompts, "train", cfg.task_prompts, cfg.seed)
    reward = _as_composite(reward) if reward is not None else _as_composite(_build_rewards(cfg.reward))
    if cfg.weights:  # objective weights overriding the specs' (checked against the objectives before models load)
        from langrl.rewards.weights import parse_weights

        reward.set_weights(parse_weights(cfg.weights, reward.objective_names, field="weights"))
    eval_rows, evaluator = _eval_setup(cfg, evaluator)
    policy, tok, ref_model, critic, mask = setup.load_models(
        cfg.policy, resume=cfg.resume, state=state, quiet=quiet or rank != 0,
        value_model=cfg.value_model if algo.uses_value else None, lora_r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
        mask_settings=dict(top_p=cfg.mask_top_p, min_tokens=cfg.mask_min_tokens,
                           temperature=cfg.temperature) if algo.uses_mask else None, value_init=cfg.value_init)
    if cfg.condition:  # auto → byte where this tokenizer keeps it (one token a level), else short; saved as chosen
        cfg = dataclasses.replace(cfg, condition_format=resolve_format(
            cfg.condition_format, tok, [r["prompt"] for r in rows[:16]], len(reward.objective_names)))
    sampling = dict(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p,
                    stop=cfg.stop, max_prompt_tokens=cfg.max_prompt_tokens,
                    chat_template=cfg.chat_template, system=cfg.system_prompt)
    vocab = policy.get_output_embeddings().weight.shape[0]
    # the rollout engine: K = 0 with the native sampler samples from the policy itself (the synchronous loop);
    # asynchronous or sharded training samples from a whole copy whose weights are pushed after every update
    sharded = cfg.strategy == "fsdp"
    engine_kw = dict(mask=mask, sampling=sampling, seed=cfg.seed, engine_options=parse_options(cfg.engine_option))
    if cfg.ray:  # the engine in a Ray actor apart from this learner (train/pg/ray_engine.py)
        from langrl.train.pg.ray_engine import RayEngine

        check_engine(cfg.rollout_engine)
        engine = RayEngine(cfg.rollout_engine, policy, tok, address=cfg.ray_address, num_gpus=cfg.ray_num_gpus,
                           num_cpus=cfg.ray_num_cpus, **engine_kw)
    else:
        engine = make_engine(cfg.rollout_engine, policy, tok, copy_weights=cfg.max_staleness > 0 or sharded,
                             **engine_kw)
    # a sharded run saves the gathered weights into a whole copy of the policy: the native engine's; a Ray actor
    # keeps its copy on its own node, so rank 0 keeps one here
    whole = getattr(engine, "model", None) if sharded else policy
    if sharded and whole is None and rank == 0:
        import copy

        whole = copy.deepcopy(policy)
    if sharded:  # FSDP2: parameters, gradients and AdamW moments split over the ranks (train/fsdp.py)
        for model in (policy, ref_model, critic):
            if model is not None:
                fsdp.shard(model)
    optimizer, scheduler, params = setup.make_optimizer_and_schedule(policy, critic, cfg,
                                                                     cfg.max_steps * cfg.epochs * n_minibatches)
    opt_state = fsdp.ShardedOptimizerState(optimizer, policy, critic) if sharded else optimizer
    start = setup.restore(state, optimizer=opt_state, scheduler=scheduler, kl=kl, algo=algo, reward=reward)
    logger, config_yaml = trainer_setup.open_run(cfg, start=start, resumed=bool(state), rank=rank)
    if rank == 0:  # a resumed run rewrites the lines after its step; a fresh one (--overwrite) starts empty
        truncate_samples(Path(cfg.out) / "samples.jsonl", start)
    watch = HackingWatch("eval/watch" if cfg.watch else "eval/gold", window=cfg.hacking_window,
                         min_drop=cfg.hacking_min_drop)
    warnings = WarningLog(cfg.out, enabled=rank == 0, resume_step=start if state else None)
    replay(watch, logger.rows)  # a resumed run's watch continues from the logged history

    def checkpoint(step: int, extra: dict | None = None) -> None:
        extra = {**(extra or {}), **schedule.checkpoint_files(rank, world)}  # queued batches (collective)
        gathered = {}
        if sharded:  # collectives on every rank; rank 0 receives the whole model, value function and optimizer
            gathered = fsdp.gather_checkpoint(policy, critic, optimizer)
            opt_state.gathered = gathered.pop("optimizer")
        if rank == 0:
            setup.save(cfg.out, step, policy=whole, tokenizer=tok,
                       config_yaml=config_yaml, logger=logger, optimizer=opt_state, scheduler=scheduler, kl=kl,
                       algo=algo, critic=critic, mask=mask, extra_files=extra,
                       extra_state={"reward": reward.state_dict()}, model_state=gathered.get("model"),
                       critic_state=gathered.get("critic"))
        dist.barrier()

    off_policy = cfg.max_staleness > 0 or cfg.rollout_engine != "native"  # the sampler is not the trainer itself
    if off_policy:
        settings = dataclasses.replace(settings, is_cap=cfg.tis_cap)

    # LoRA with langrl's sampler: sample merged when it is faster (measured on the first two rollouts)
    merge = MergeChoice(cfg.lora_merge_sampling, bool(cfg.lora_r) and cfg.rollout_engine == "native")
    live = {"bar": None}  # the synchronous loop shows each rollout's progress (tokens, tokens/s) on its bar

    def make_batch(j: int):
        step_rows = [rows[i] for i in global_batch_indices(len(rows), cfg.prompts_per_step, j, cfg.seed)]
        if cfg.condition:  # a weight vector per prompt, written before it (rewards/conditioning.py)
            step_rows = condition_rows(step_rows, reward.objective_names, seed=cfg.seed, step=j,
                                       steps=cfg.condition_steps, fmt=cfg.condition_format)
        extra = {"progress": _sampling_progress(live["bar"], j)} if live["bar"] is not None else {}
        merged, t_start = merge.merged(), time.time()
        with merged_for_sampling(getattr(engine, "model", policy), merged):
            out = engine.generate(step_rows, my_chunks, chunk_prompts, n=n, step=j, seed=cfg.seed, mask=mask,
                                  **sampling, **extra)
        merge.record(merged, time.time() - t_start, float(out[0].response_mask.sum()))
        return out

    schedule = RolloutSchedule(engine, make_batch, max_staleness=cfg.max_staleness, last_step=cfg.max_steps)
    if state and cfg.max_staleness:
        schedule.load_checkpoint(cfg.resume, rank, world, start)
    policy_pass = needs_policy_pass(cfg.epochs, n_minibatches, cfg.kl_in, critic is not None)
    end = min(cfg.max_steps, cfg.stop_at) if cfg.stop_at else cfg.max_steps
    t_run, history = time.time(), []
    if eval_rows is not None and start == 0:  # the starting point of the held-out curves (KL 0 by definition)
        with merged_for_sampling(policy, merge.merged() and not sharded):
            row0 = {"kl": 0.0, **evaluate(policy, tok, eval_rows, reward, evaluator, seed=cfg.seed, **sampling)}
        watch.update(0, row0)
        logger.log(0, row0)
    with progress_bar(f"rl {cfg.algo}", total=cfg.max_steps, quiet=quiet) as bar:
        live["bar"] = None if cfg.max_staleness else bar
        bar.update(start)
        for step in range(start, end):
            t0 = time.time()
            if mask is not None and step > 0 and step % cfg.mask_sync_every == 0:
                mask.sync(policy)  # NLPO: the masking policy becomes the current policy
            ro, allowed, version = schedule.next(step, policy)  # batch `step`, sampled with weights `version`
            t1 = time.time()
            cond_w = None
            if cfg.condition:  # the rewards see neither the prefix nor the weights; the score is then w·r per prompt
                cond_w = torch.tensor(ro.columns.pop(CONDITION_COLUMN), dtype=torch.float32)  # (b, k)
                ro.prompts = [strip_prefix(p, fmt=cfg.condition_format)[0] for p in ro.prompts]
            scores = score(reward, ro, tok)
            if cond_w is not None:
                if scores.columns is None or scores.columns.shape != cond_w.shape:
                    raise InputError("rl: condition true needs one sequence-level column per reward (no dense "
                                     "segment rewards, no multi-column rewards)")
                scores = dataclasses.replace(scores, score=weighted_sum(scores.columns, cond_w), weights=cond_w)
            t2 = time.time()
            full_logprobs, entropy = annotate(policy, ro, ref_model=ref_model, critic=critic, allowed=allowed,
                                              micro_batch_size=cfg.micro_batch_size, temperature=cfg.temperature,
                                              top_k=cfg.top_k, top_p=cfg.top_p, vocab_size=vocab,
                                              policy_pass=policy_pass)
            t3 = time.time()
            m = ro.response_mask
            # (b, t) per-token KL estimate from the unmasked log-probs; measured by the loss pass when it runs at θ_old
            kl_tok = kl.per_token(full_logprobs, ro.ref_logprobs, m) if policy_pass else torch.zeros_like(m)
            rewards, final_score = shape_rewards(scores.score, ro.ended, kl_tok, m, dense=scores.dense, penalty=kl,
                                                 missing_eos_penalty=cfg.missing_eos_penalty,
                                                 reward_clip=cfg.reward_clip,
                                                 group_baseline=n if cfg.reward_baseline == "loo" else 0)
            if cfg.whiten_rewards:
                rewards = global_whiten(rewards, m, shift_mean=False)
            seq_return = (rewards * m).sum(1)
            stats = global_means({"return": (seq_return.sum(), len(m)), "score": (final_score.sum(), len(m)),
                                  "response_length": (m.sum(), len(m)),
                                  "ended_fraction": (ro.ended.float().sum(), len(m)),
                                  **{f"reward/{k}": (v.nansum(), torch.isfinite(v).sum())
                                     for k, v in scores.objectives.items()}})
            if cfg.aggregation == "sum":
                res = algo.advantages(rewards, m, ro.values)
            else:  # the reward vector keeps its columns through the advantages (losses/multiobjective.py)
                if scores.columns is None:
                    raise InputError(f"rl: aggregation {cfg.aggregation} needs sequence-level objectives; a reward "
                                     f"with dense segment rewards can only be summed (aggregation sum)")
                res = algo.vector_advantages(scores.columns, scores.weights, seq_return - scores.score,
                                             cfg.aggregation)
            adv = res.advantages
            if cfg.whiten_advantages:
                adv = global_whiten(adv, m if adv.dim() == 2 else torch.ones_like(adv))
            ro.rewards, ro.advantages, ro.returns = rewards, adv, res.returns
            ev = global_explained_variance(ro.values, res.returns, m) if res.returns is not None else float("nan")
            beta = kl.beta  # this iteration's β (the controller moves it after the update)
            upd, measured = run_epochs(policy, critic, ro, allowed, algo=algo, kl=kl, settings=settings,
                                       optimizer=optimizer, scheduler=scheduler, params=params, my_chunks=my_chunks,
                                       chunk_rows=chunk_prompts * n, n_minibatches=n_minibatches, step=step,
                                       vocab_size=vocab)
            t4 = time.time()
            if not policy_pass:
                kl_tok, entropy = measured["kl"], measured["entropy"]
            seq_kl = kl_tok.sum(1)
            stats.update(global_means({"kl": (seq_kl.sum(), len(m)), "entropy": ((entropy * m).sum(), m.sum())}))
            kl.update(stats["kl"], batch)  # Ziegler et al.: β follows the measured KL (no-op when fixed)
            metrics = {"reward": stats.pop(f"reward/{reward.name}"), **stats,
                       "kl_max": float(global_max(seq_kl.max())), "beta": beta, "explained_variance": ev,
                       **upd, "tokens_per_s": stats["response_length"] * batch / max(t4 - t0, 1e-9),
                       "time/sample": t1 - t0, "sampling_merged": float(merge.last), "time/score": t2 - t1, "time/logprobs": t3 - t2,
                       "time/update": t4 - t3}
            if off_policy:  # every sample of the batch was drawn with the weights after `version` updates
                metrics.update({"rollout/staleness": float(step - version), "rollout/weight_version": float(version)})
            if eval_rows is not None and ((step + 1) % cfg.eval_every == 0 or step + 1 == end):
                with merged_for_sampling(policy, merge.merged() and not sharded):
                    metrics.update(evaluate(policy, tok, eval_rows, reward, evaluator, seed=cfg.seed, **sampling))
            if rank == 0 and cfg.log_samples:
                write_samples(Path(cfg.out) / "samples.jsonl", step + 1, ro, final_score, cfg.log_samples,
                              extra={"staleness": step - version} if off_policy else None)
            warnings.write(step + 1, watch.update(step + 1, metrics))  # proxy up while held-out down; length drift
            metrics["time/step"] = time.time() - t0
            logger.log(step + 1, metrics)
            history.append(metrics)
            bar.update(step + 1, reward=metrics["reward"], kl=metrics["kl"])
            if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < end:
                checkpoint(step + 1)
    first, last = (history[0], history[-1]) if history else ({}, {})
    summary = {"command": "rl", "algo": cfg.algo, "steps": end, "first_reward": first.get("reward"),
               "final_reward": last.get("reward"), "final_kl": last.get("kl"), "beta": kl.beta,
               "seconds": round(time.time() - t_run, 2), "world_size": world, "out": str(cfg.out)}
    summary.update({k: v for k, v in last.items() if k.startswith("eval/")})
    summary["warnings"] = warnings.all()
    checkpoint(end, {"langrl_metrics.json": json.dumps(summary, indent=2, default=_json_float)})
    schedule.close()
    logger.close()
    return summary


def needs_policy_pass(epochs: int, n_minibatches: int, kl_in: str, has_value: bool) -> bool:
    """Whether the no-grad policy pass before the update is needed. With one optimizer step per batch and nothing
    needed before it (no value function, no KL in the reward) the loss pass itself runs at θ_old, so its detached
    log-probs are the ratio's denominator (ratio 1, as TRL's GRPO does): one forward pass fewer per iteration."""
    return not (epochs == 1 and n_minibatches == 1 and kl_in == "loss" and not has_value)


def _sampling_progress(bar, step: int):
    """A sampler callback showing the rollout's progress on the bar: tokens sampled so far and tokens/s (a long
    rollout of a real model shows it is alive; in a log, a line every LANGRL_PROGRESS_EVERY seconds)."""
    t0, total = time.time(), [0]

    def on_step(new_tokens: int) -> None:
        total[0] += new_tokens
        bar.update(step, phase="sampling", tokens=total[0], tok_s=round(total[0] / max(time.time() - t0, 1e-9), 1))

    return on_step


def _json_float(x):
    return None if isinstance(x, float) and math.isnan(x) else str(x)


def _build_rewards(specs):
    from langrl.rewards import build_rewards

    return build_rewards(specs)


def _eval_setup(cfg: RLConfig, evaluator):
    """(held-out prompt rows, evaluator) when ``eval_every`` is set, else (None, None)."""
    if not cfg.eval_every:
        return None, None
    spec = cfg.eval_prompts or (cfg.prompts if cfg.prompts.startswith("task:") else None)
    if spec is None:
        raise InputError("rl: eval_every needs held-out prompts: pass --eval-prompts FILE.jsonl or task:NAME")
    with input_flag("--eval-prompts" if cfg.eval_prompts else "--prompts"):
        rows = load_prompt_rows(spec, "eval", cfg.eval_num, cfg.seed)[:cfg.eval_num]
    evaluator = evaluator or default_evaluator(spec)
    if cfg.watch:  # a second held-out signal (e.g. another reward model), logged as eval/watch
        evaluator = with_watch(evaluator, _build_rewards([cfg.watch]))
    return rows, evaluator


run_online = run_rl  # the earlier name, kept for user code
