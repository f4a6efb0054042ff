"""``langrl demo``: the lecture as one command, every stage cached and resumable.

1. ``policy/TASK``   — SFT the starting model on the task (the lecture's reason 2: start inside the trust region),
                        until its held-out loss stops falling (early stopping, the best weights kept);
2. ``feedback``      — sample from the SFT policy and collect simulated feedback of every kind (factqa);
3. ``rm/*``          — reward models: holistic Bradley-Terry, Plackett-Luce, fine-grained span model, completeness;
4. ``runs/*``        — policies: PPO on the holistic RM, PPO on the fine-grained RMs (dense segment rewards), NLPO,
                        DPO and Plackett-Luce DPO on the same preferences (factqa); PPO with and without KL on VADER
                        (reviews: the reward-hacking pair); GRPO on the verifiable answer (arithmetic);
   ``control-TASK``  — continued SFT from the same start for the matched RL run's compute (:mod:`langrl.demo.control`);
5. ``eval-NAME``     — each policy (and best-of-n) on held-out prompts as soon as it is trained, sampled (T=1) and
                        near-greedy (T=1e-4): gold, proxy, KL to SFT, length, distinct-n;
6. report.md, report.html, plots, metrics.json with the claims computed from those numbers.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from langrl.config import from_dict
from langrl.demo.config import MAX_NEW, SFT_BATCH, SFT_MICRO_BATCH, Budget, DemoConfig, budget_for
from langrl.demo.stages import RL_SAVE_EVERY, SFT_SAVE_EVERY, Stages, checkpoint_to_resume
from langrl.errors import InputError

# SFT data. factqa: the task's demonstrations. reviews: the review corpus (continuations of every sentiment, a little
# keyword-stuffed praise among them), the domain warm start of RL4LMs' IMDB task: a policy fine-tuned on positive-only
# demonstrations already scores gold ~0.96 and leaves RL nothing to improve. arithmetic: the worked-solution corpus,
# its slips, wrong operations, skipped steps and mismatched answers included: on the clean demonstrations the tiny
# model's only errors are arithmetic facts it has not memorised (13 + 5 = 19), which 40-70 GRPO/RLOO/PPO iterations
# never improved (scripts/arith-reviews-levers); the corpus's errors are habits a verifier can train away.
SFT_DATA = {"factqa": "task:factqa", "reviews": "task:reviews:corpus", "arithmetic": "task:arithmetic:corpus"}
PROXY = {"reviews": "vader", "arithmetic": "math"}  # factqa's proxy is the holistic reward model
SFT_EVAL_EXAMPLES = 320  # held-out demonstrations the SFT stage's early stopping measures (a fifth with --quick)


def sft_data(cfg: DemoConfig, task: str) -> str:
    """The task's SFT data source: ``SFT_DATA``, or for factqa with ``--factqa-sft-data corpus`` its corpus (the
    lecture's error types at the task's rates: irrelevant and redundant sentences, wrong and missing items)."""
    return "task:factqa:corpus" if task == "factqa" and cfg.factqa_sft_data == "corpus" else SFT_DATA[task]


def _tasks(cfg: DemoConfig) -> list[str]:
    return ["factqa", "reviews", "arithmetic"] if cfg.task == "all" else [cfg.task]


def sft_lr(cfg: DemoConfig, task: str) -> float:
    """Peak SFT learning rate (the long factqa run takes a higher peak, cosine)."""
    return (2e-3 if task == "factqa" else 1e-3) if cfg.model.startswith("tiny") else 5e-5


def sft_batch(cfg: DemoConfig, task: str) -> int:
    """The task's SFT batch (sequences per step): ``--factqa-sft-batch-size`` for factqa, 16 for the others."""
    return cfg.factqa_sft_batch_size if task == "factqa" else SFT_BATCH


def stage_sft(stages: Stages, cfg: DemoConfig, b: Budget, task: str) -> str:
    """SFT until the held-out loss stops falling: the loss on ``SFT_EVAL_EXAMPLES`` held-out demonstrations is
    measured every ``sft_eval_every`` steps, the run stops after ``sft_patience`` measurements without a new best (or
    at the step cap) and keeps the best measured weights (``langrl sft --patience``). Arithmetic trains its whole
    3,000-step cosine schedule instead (patience 0): its loss falls until the learning rate has decayed, and patience
    on the noisy loss of the schedule's high-lr middle stopped one seed at step 700. The stage result records the
    steps used (``steps``, ``best_step``, ``stopped_early``)."""
    from langrl.train.sft import SFTConfig, run_sft

    cap = {"factqa": b.factqa_sft_steps, "arithmetic": b.arithmetic_sft_steps}.get(task, b.sft_steps)
    every = b.factqa_sft_eval_every if task == "factqa" else b.sft_eval_every
    patience = {"arithmetic": b.arithmetic_sft_patience, "factqa": b.factqa_sft_patience}.get(task, b.sft_patience)
    tiny = cfg.model.startswith("tiny")
    lr = sft_lr(cfg, task)
    n_eval = SFT_EVAL_EXAMPLES // 5 if cfg.quick else SFT_EVAL_EXAMPLES
    batch = sft_batch(cfg, task)
    examples = max(2000, batch * cap) + n_eval
    settings = {"model": cfg.model, "data": sft_data(cfg, task), "steps": cap, "lr": lr, "seed": cfg.seed,
                "eval_every": every, "patience": patience, "eval_examples": n_eval}
    if batch != SFT_BATCH:  # a key only when set, so the batch-16 runs' cached stages stay valid
        settings["batch_size"] = batch
    schedule = cfg.factqa_sft_schedule if task == "factqa" else "cosine"
    if schedule != "cosine":  # a key only when set, so the cosine runs' cached stages stay valid
        settings["lr_schedule"] = schedule
    if tiny:  # the embedded model is rebuilt when its build changes: so is everything trained from it
        from langrl.models.tiny import TinySettings

        settings["tiny_build"] = TinySettings().key()

    # a killed SFT stage continues from its last checkpoint (every SFT_SAVE_EVERY steps) when the run can resume:
    # the cosine schedule with patience keeps its best weights in memory only, so that one restarts
    can_resume = patience == 0 or schedule == "wsd"

    def run(d: Path) -> dict:
        resume = checkpoint_to_resume(d) if can_resume else None
        sc = from_dict(SFTConfig, {"model": cfg.model, "data": sft_data(cfg, task), "out": str(d / "model"),
                                   "max_steps": cap, "batch_size": batch,
                                   "micro_batch_size": min(batch, SFT_MICRO_BATCH),
                                   "task_examples": examples, "learning_rate": lr, "warmup_steps": 5,
                                   "eval_fraction": n_eval / examples, "eval_every": every,
                                   "patience": patience, "lr_schedule": schedule, "seed": cfg.seed,
                                   "save_every": SFT_SAVE_EVERY if can_resume else 0,
                                   **({"resume": resume} if resume else {"overwrite": True})})
        return run_sft(sc, quiet=True)

    stages.run(f"policy-{task}", settings, run)
    return str(stages.out / f"policy-{task}" / "model")


def stage_feedback(stages: Stages, cfg: DemoConfig, b: Budget, policy: str) -> Path:
    from langrl.demo.collect import collect_feedback
    from langrl.tasks import get_task

    task = get_task("factqa")
    settings = {"policy": policy, "prompts": b.feedback_prompts, "k": b.responses_per_prompt, "seed": cfg.seed,
                "version": 2}  # 2: every record carries its prompt row's columns (meta), for the gold evaluation

    def run(d: Path) -> dict:
        rows = task.prompts("train", b.feedback_prompts, cfg.seed + 1)
        return collect_feedback(policy, task, rows, k=b.responses_per_prompt, seed=cfg.seed, out=d,
                                max_new_tokens=MAX_NEW["factqa"])

    stages.run("feedback", settings, run, inputs=("policy-factqa",))
    return stages.out / "feedback"


def stage_reward_models(stages: Stages, cfg: DemoConfig, b: Budget, policy: str, fb: Path) -> dict[str, str]:
    from langrl.train.rm.loop import RMConfig, run_rm_train

    # name: (feedback file, loss, the hidden gold its held-out accuracy is also measured against). The holistic
    # model, the proxy PPO, NLPO and best-of-n optimise, reads the passage with the MiniLM encoder: trained on the
    # same feedback, a tiny-backbone model orders held-out SFT samples like gold 0.55 of the time (150 steps),
    # MiniLM 0.80 after 100 steps (0.71 after 60, 0.81 after 150; scripts/rm-levers); 100 keeps the full demo near
    # its 15-minute budget. The fine-grained models (spans, completeness) judge too, so they start from that trained
    # encoder: on 800 held-out SFT samples (scripts/rm-judge-levers) the span model's untruthful head orders them by
    # gold factuality 0.50 on the SFT policy's backbone, 0.61 on a fresh MiniLM (100 steps), 0.76 from the holistic
    # encoder (60 steps); completeness by gold completeness 0.49 on tiny, 0.83 from the holistic encoder (40 steps).
    # The listwise model keeps the SFT policy (its stage budget): 0.52 there, chance (its -0.16 τ in the baseline demo
    # was its 60 held-out rankings; the loss trains the right way round, τ 0.78 on its training rankings)
    models = {"holistic": ("comparisons.jsonl", "bt", "factqa"), "listwise": ("rankings.jsonl", "pl", "factqa"),
              "spans": ("spans.jsonl", "spans", "factqa"),
              "completeness": ("completeness.jsonl", "bt", "factqa:completeness")}
    holistic = str(stages.out / "rm-holistic" / "model")
    encoder = {"holistic": {"base": "minilm", "learning_rate": 1e-4, "max_steps": b.holistic_rm_steps},
               "spans": {"base": holistic, "learning_rate": 1e-4, "max_steps": b.spans_rm_steps},
               "completeness": {"base": holistic, "learning_rate": 1e-4, "max_steps": b.completeness_rm_steps}}
    paths = {}
    for name, (data, loss, gold) in models.items():
        settings = {"data": [str(fb / data)], "base": policy, "loss": loss, "max_steps": b.rm_steps,
                    "batch_size": 16, "micro_batch_size": 16, "learning_rate": 3e-4, "head_learning_rate": 3e-3,
                    "eval_fraction": 0.15, "seed": cfg.seed, "gold_task": gold, **encoder.get(name, {}),
                    **({"categories": ["irrelevant", "untruthful"]} if loss == "spans" else {})}

        def run(d: Path, settings=settings) -> dict:
            rc = from_dict(RMConfig, {**settings, "out": str(d / "model"), "overwrite": True})
            return run_rm_train(rc, quiet=True)

        inputs = ("policy-factqa", "feedback") + (("rm-holistic",) if settings["base"] == holistic else ())
        # version 2: the held-out split is by prompt (no held-out pair shares a response with a trained one)
        stages.run(f"rm-{name}", {**settings, "version": 2}, run, inputs=inputs)
        paths[name] = str(stages.out / f"rm-{name}" / "model")
    return paths


def stage_online(stages: Stages, cfg: DemoConfig, b: Budget, name: str, task: str, policy: str, rewards: list[str],
                 inputs: tuple[str, ...], **overrides) -> str:
    from langrl.train.rl.loop import run_rl
    from langrl.train.rl.config import RLConfig

    base = {"algo": "ppo", "policy": policy, "prompts": f"task:{task}", "reward": rewards, "max_steps": b.rl_steps,
            "prompts_per_step": b.prompts_per_step, "max_new_tokens": MAX_NEW[task], "learning_rate": 1e-4,
            "kl_coef": cfg.kl_coef, "eval_every": b.eval_every, "eval_num": min(32, b.eval_prompts), "seed": cfg.seed,
            "micro_batch_size": 32, "overwrite": True}
    base.update(overrides)
    settings = {**base, "out": None, "version": 2}  # 2: the run watches for reward hacking (warnings.jsonl)

    def run(d: Path) -> dict:  # a killed run continues from its last checkpoint (every RL_SAVE_EVERY iterations)
        resume = checkpoint_to_resume(d)
        more = {"resume": resume, "overwrite": False} if resume else {}
        return run_rl(from_dict(RLConfig, {**base, "out": str(d / "model"), "save_every": RL_SAVE_EVERY, **more}),
                      quiet=True)

    stages.run(f"run-{name}", settings, run, inputs=inputs)
    return str(stages.out / f"run-{name}" / "model")


def factqa_rl_settings(cfg: DemoConfig, b: Budget) -> dict:
    """The overrides of factqa's online runs (PPO-holistic, PPO-fine-grained, NLPO) on :func:`stage_online`'s base.

    n samples per prompt, each scored against the mean of its prompt's others (two thirds of the holistic RM's
    variance is between prompts, which tiny's value head cannot predict); λ = 1: the weak critic's errors do not enter
    the advantages (scripts/ppo-levers measures each of these). ``--factqa-rl-steps N`` runs N iterations on
    N × prompts_per_step training prompts, every prompt once: repeated prompts are memorised (the oracle levers'
    training reward is flat over the first pass and jumps on the second)."""
    out = {"samples_per_prompt": b.factqa_rl_samples, "reward_baseline": "loo", "lam": 1.0}
    if cfg.factqa_rl_steps:
        out.update(max_steps=cfg.factqa_rl_steps, task_prompts=max(512, cfg.factqa_rl_steps * b.prompts_per_step))
    return out


def stage_dpo(stages: Stages, cfg: DemoConfig, b: Budget, name: str, policy: str, data: Path, loss: str) -> str:
    from langrl.train.dpo.loop import DPOConfig, run_dpo

    settings = {"loss": loss, "policy": policy, "data": str(data), "beta": 0.1, "max_steps": b.dpo_steps,
                "batch_size": 16, "micro_batch_size": 16, "learning_rate": 1e-4, "eval_fraction": 0.05,
                "eval_every": 0, "seed": cfg.seed}

    def run(d: Path) -> dict:
        return run_dpo(from_dict(DPOConfig, {**settings, "out": str(d / "model"), "overwrite": True}), quiet=True)

    stages.run(f"run-{name}", settings, run, inputs=("policy-factqa", "feedback"))
    return str(stages.out / f"run-{name}" / "model")


def run_demo(cfg: DemoConfig, log=print) -> dict:
    """Run every stage for the chosen task(s); write the report; return metrics.json's content."""
    from langrl.demo.evaluate import collect_evals, declare_evals
    from langrl.demo.report import write_report
    from langrl.models.specs import resolve_model_dir

    t0 = time.time()
    b = budget_for(cfg)
    out = Path(cfg.out)
    stages = make_stages(out, cfg, log)
    tasks = _tasks(cfg)
    wanted = cfg.wants
    resolve_model_dir(cfg.model)  # the stages run quietly: a first-use tiny build or GGUF conversion shows it here
    sft = {t: stage_sft(stages, cfg, b, t) for t in tasks}
    runs: dict[str, dict] = {f"sft-{t}": {"task": t, "path": sft[t], "method": "sft"} for t in tasks}
    rm_paths: dict[str, str] = {}
    skipped: dict[str, str] = {}
    if "factqa" in tasks:
        fb = stage_feedback(stages, cfg, b, sft["factqa"])
        rm_paths = stage_reward_models(stages, cfg, b, sft["factqa"], fb)
        fq = ("policy-factqa",)
        holistic = f"rm:path={rm_paths['holistic']}"
        # fine-grained RLHF's reward (Wu et al. 2023; fine_grained_config.yml): relevance 0.3 and factuality 0.5 per
        # sentence, completeness holistic (standardised) x 0.3; each sentence's value is -w P(error) / n (segment_value
        # =fraction: the sum is minus the expected share of bad sentences, like factqa's gold), not the paper's
        # +-w (1 - 2P), whose sum pays for every extra sentence a weak head passes (fine-grained PPO grew length 30%).
        # Best-of-8 on 800 held-out SFT samples (scripts/rm-judge-levers): gold 0.658 vs the holistic RM's 0.616
        fine = [f"rm:path={rm_paths['spans']},name=fg,segment_value=fraction,"
                f"category_weights=irrelevant:0.3;untruthful:0.5",
                f"rm:path={rm_paths['completeness']},name=completeness,weight=0.3"]
        holistic_rl = factqa_rl_settings(cfg, b)
        if wanted("ppo-holistic"):
            runs["ppo-holistic"] = {"task": "factqa", "method": "ppo", "path": stage_online(
                stages, cfg, b, "ppo-holistic", "factqa", sft["factqa"], [holistic], fq + ("rm-holistic",),
                **holistic_rl)}
        for name, beta in cfg.holistic_sweep_runs().items():  # other β: fine-grained vs holistic at comparable KL
            if wanted(name):
                runs[name] = {"task": "factqa", "method": "ppo", "path": stage_online(
                    stages, cfg, b, name, "factqa", sft["factqa"], [holistic], fq + ("rm-holistic",),
                    **{**holistic_rl, "kl_coef": beta})}
        if wanted("ppo-fine-grained"):
            runs["ppo-fine-grained"] = {"task": "factqa", "method": "ppo", "path": stage_online(
                stages, cfg, b, "ppo-fine-grained", "factqa", sft["factqa"], fine, fq + ("rm-spans", "rm-completeness"),
                **holistic_rl)}  # the same PPO setting: the baseline is on the completeness score (dense ones are not)
        if wanted("nlpo"):
            runs["nlpo"] = {"task": "factqa", "method": "nlpo", "path": stage_online(
                stages, cfg, b, "nlpo", "factqa", sft["factqa"], [holistic], fq + ("rm-holistic",), algo="nlpo",
                **holistic_rl)}
        for name, data, loss in (("dpo", "comparisons.jsonl", "dpo"), ("pl-dpo", "rankings.jsonl", "pl")):
            if not wanted(name):
                continue
            try:
                runs[name] = {"task": "factqa", "method": name, "path": stage_dpo(
                    stages, cfg, b, name, sft["factqa"], fb / data, loss)}
            except InputError as err:  # e.g. every judgement a tie: report the run as missing, with the reason
                log(f"[demo] run-{name}: skipped: {err}")
                skipped[name] = str(err)
    if "reviews" in tasks:
        # held-out gold after every iteration: without KL the policy can find the keyword-stuffing hack within a few
        # iterations, and the over-optimisation curve's rise comes before that
        curve = {"eval_every": 1, "eval_num": min(64, b.eval_prompts)}
        if wanted("ppo-kl"):
            runs["ppo-kl"] = {"task": "reviews", "method": "ppo", "path": stage_online(
                stages, cfg, b, "ppo-kl", "reviews", sft["reviews"], ["vader"], ("policy-reviews",),
                kl_coef=cfg.reviews_kl_coef, prompts_per_step=b.ppo_kl_prompts_per_step, **curve)}
        if wanted("ppo-no-kl"):
            runs["ppo-no-kl"] = {"task": "reviews", "method": "ppo", "path": stage_online(
                stages, cfg, b, "ppo-no-kl", "reviews", sft["reviews"], ["vader"], ("policy-reviews",),
                kl_coef=0.0, **curve)}
    if "arithmetic" in tasks:
        if wanted("grpo"):
            runs["grpo"] = {"task": "arithmetic", "method": "grpo", "path": stage_online(
                stages, cfg, b, "grpo", "arithmetic", sft["arithmetic"], ["math"], ("policy-arithmetic",),
                algo="grpo", max_steps=b.grpo_steps, samples_per_prompt=8, learning_rate=5e-5)}
    from langrl.demo.control import matched_run, stage_control

    for t in tasks:  # continued SFT from the same start for the matched RL run's compute, evaluated like every run
        matched = matched_run(t, runs)
        if matched and wanted(f"control-{t}"):
            runs[f"control-{t}"] = {"task": t, "method": "sft-control", "path": stage_control(
                stages, cfg, t, sft_lr(cfg, t), sft_data(cfg, t), matched, batch=sft_batch(cfg, t))}
    evals = declare_evals(stages, cfg, b, runs, sft, rm_paths)  # each starts once its policy is trained
    stages.wait()  # with --jobs > 1: every stage has run
    for name in [n for n in runs if f"run-{n}" in stages.errors and n not in skipped]:  # refused in a worker
        log(f"[demo] run-{name}: skipped: {stages.errors[f'run-{name}']}")
        skipped[name] = stages.errors[f"run-{name}"]
        del runs[name]
    results = collect_evals(stages, evals)
    rm_quality = {name: {k[5:]: v for k, v in stages.results.get(f"rm-{name}", {}).items()
                         if k.startswith("eval_") and isinstance(v, (int, float))} for name in rm_paths}
    metrics = write_report(out, cfg, b, runs, results, stages.seconds, total_seconds=time.time() - t0,
                           skipped=skipped, reward_models=rm_quality,
                           sft={t: stages.results.get(f"policy-{t}", {}) for t in tasks})
    log(f"[demo] report: {out / 'report.md'} ({time.time() - t0:.0f}s in all)")
    return metrics


def make_stages(out: Path, cfg: DemoConfig, log) -> Stages:
    """The stage runner for ``cfg.jobs`` workers (0: :func:`default_jobs`), each with cores/jobs torch threads
    (cores: torch's default thread count, which honours OMP_NUM_THREADS)."""
    import torch

    from langrl.demo.stages import default_jobs

    jobs = cfg.jobs or default_jobs()
    if jobs == 1:
        return Stages(out, log=log)
    cores = torch.get_num_threads()
    # this process only schedules (and builds the model on first use): a worker forked from a process whose OpenMP
    # pool never grew past one thread may use any thread count (forked after a larger pool, it would hang)
    torch.set_num_threads(1)
    log(f"[demo] {jobs} stages at once, {max(1, cores // jobs)} torch thread(s) each ({cores} cores)")
    return Stages(out, log=log, jobs=jobs, threads=max(1, cores // jobs), all_threads=cores)
