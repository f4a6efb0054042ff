"""The typed config of ``langrl rl`` (every knob of the online loop), its validation and its one resolution step.

Fields left unset (None) take the algorithm's default (``train/pg/algorithms.py``: e.g. GRPO puts a k3 KL in the loss, PPO a
k1 KL in the reward) in :func:`langrl.train.pg.algorithms.resolve_config`, called once right after parsing; the resolved values are what the
run saves in ``langrl_config.yaml``, so the choice made is always on record. Values the user gave are never changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from langrl.config import arg
from langrl.errors import InputError
from langrl.losses.multiobjective import AGGREGATIONS
from langrl.rewards.conditioning import CONFIG_FORMATS
from langrl.train.config import TrainerConfig
from langrl.train.pg.algorithms import ALGORITHMS, resolve_config


@dataclass
class RLConfig(TrainerConfig, defaults={"out": "runs/rl"}):
    # shared fields (langrl.train.config) whose meaning is more specific here: a step is an iteration
    max_steps: int = arg(100, "iterations: collect → score → shape → advantages → K epochs of updates")
    learning_rate: float = arg(1e-5, "policy learning rate (AdamW, constant after warm-up)")
    algo: str = arg("ppo", "algorithm", choices=tuple(ALGORITHMS))
    policy: str = arg("tiny", "policy model spec: tiny, tiny:TASK, a HF model dir (e.g. an sft --out), .gguf, smollm2")
    prompts: str = arg("task:reviews", "JSONL with a 'prompt' column (text, or a list of {role, content} messages; "
                                       "other columns go to the rewards) or task:NAME")
    reward: list[str] = arg([], "reward spec, repeat for several: NAME[:key=value,...,weight=W] (langrl reward list)")
    weights: str | None = arg(None, "objective weights overriding the specs' weight=: NAME=W,... (every reward "
                                    "named once) or W1,W2,... in --reward order; non-negative")
    aggregation: str = arg("sum", "how the reward vector becomes advantages (grpo/rloo): sum = Σ w_k r_k then the "
                                  "algorithm's estimator; normalize_then_sum = GDPO (each objective normalised in its "
                                  "group, weighted sum, batch-normalised; grpo); per_objective = each objective's own "
                                  "group advantage, A = Σ w_k A_k", choices=AGGREGATIONS)
    condition: bool = arg(False, "one preference-conditioned policy (Rewards-in-Context): each prompt gets a weight "
                                 "vector w from the simplex grid, written before it (--condition-format); its reward "
                                 "is w·r (the reward functions never see the prefix)")
    condition_format: str = arg("auto", "condition: the prefix, w in twentieths: byte = the levels of all but the "
                                        "last objective as control characters (k - 1 tokens); short = the same as "
                                        "letters, then a newline ('p\\n' is w = 0.75, 0.25; 2k - 2 tokens); compact = "
                                        "one letter per objective ('[p,f] '; 2k + 2 tokens); names = '[w NAME=W "
                                        "...] '; auto = byte where the policy's tokenizer keeps it as one token a "
                                        "level, else short (the run saves its choice)", choices=CONFIG_FORMATS)
    condition_steps: int = arg(10, "condition: steps of the simplex grid w is drawn from (2 objectives, 10: w_1 in "
                                   "0, 0.1, ..., 1)")
    # ---- budget and batch shape
    prompts_per_step: int = arg(16, "prompts per iteration (global: all ranks together)")
    samples_per_prompt: int | None = arg(None, "responses sampled per prompt (default: 4 for grpo/rloo, 1 otherwise)")
    rollout_prompts: int = arg(0, "prompts per sampling call (0 = prompts_per_step / ranks); each call is seeded by "
                                  "(seed, step, call), so the samples do not depend on the number of ranks")
    epochs: int | None = arg(None, "K: passes over each batch (default: 4 for ppo/nlpo, 1 otherwise)")
    minibatch_size: int = arg(0, "sequences per optimizer step, global (0 = the whole batch: one step per epoch)")
    # ---- sampling (the same temperature/top-k/top-p is used for every log-prob: old, new and reference)
    max_new_tokens: int = arg(32, "response token budget")
    max_prompt_tokens: int = arg(256, "prompts longer than this keep their last tokens")
    temperature: float = arg(1.0, "sampling temperature; every log-prob (policy, old, reference) is taken at it")
    top_k: int = arg(0, "sample from the k most likely tokens (0 = all); the ratio uses the same truncation")
    top_p: float = arg(1.0, "nucleus sampling mass (1 = all); the ratio uses the same truncation")
    stop: list[str] = arg([], "stop strings ending a response (repeat the flag for several)")
    chat_template: bool = arg(True, "apply the model's chat template (with the generation prompt) to every prompt when "
                                    "it has one; false = the prompt text as is")
    system_prompt: str | None = arg(None, "system message put before each prompt (through the chat template)")
    # ---- optimisation (learning_rate, weight_decay, warmup_steps, grad_clip: the shared section)
    value_learning_rate: float = arg(0.0, "value-function learning rate (0 = learning_rate)")
    # ---- losses and advantages
    clip_eps: float = arg(0.2, "PPO/GRPO ratio clip ε")
    value_clip_eps: float = arg(0.2, "value clipping around the old values (0 = no clipping)")
    vf_coef: float = arg(0.1, "weight of the value loss")
    entropy_coef: float = arg(0.0, "entropy bonus weight (loss − coef · entropy)")
    gamma: float = arg(1.0, "discount γ over tokens (GAE)")
    lam: float = arg(0.95, "GAE λ")
    value_model: str = arg("shared", "value function: a head on the policy backbone, or a separate copy",
                           choices=("shared", "separate"))
    value_init: str = arg("", "PPO/NLPO: start the value function from this saved one (a run's langrl_value.pt, "
                              "same --value-model; empty: a zero-initialised head)")
    whiten_advantages: bool | None = arg(None, "whiten advantages over the batch (default: on for ppo/nlpo)")
    whiten_rewards: bool = arg(False, "scale per-token rewards by their batch std before the advantages (PPO)")
    reward_baseline: str = arg("none", "subtract a per-prompt baseline from each sequence score before the KL "
                                       "shaping: loo = the mean score of the prompt's other samples (needs "
                                       "samples_per_prompt >= 2; PPO/NLPO's value function then learns the "
                                       "residual, not the prompt's difficulty)", choices=("none", "loo"))
    grpo_scale_std: bool = arg(True, "GRPO: divide by the group std (false = Dr. GRPO)")
    baseline_decay: float = arg(0.9, "REINFORCE: decay of the moving-average baseline")
    # ---- KL trust region
    kl_coef: float = arg(0.05, "β: initial KL coefficient")
    kl_estimator: str | None = arg(None, "per-token KL estimator (default: k1 in the reward, k3 in the loss)",
                                   choices=("k1", "k2", "k3"))
    kl_in: str | None = arg(None, "where the KL goes: subtracted from the reward, or added to the loss (default: "
                                  "loss for grpo, reward otherwise)", choices=("reward", "loss"))
    kl_controller: str = arg("fixed", "β schedule: fixed, or adaptive (Ziegler et al.) toward kl_target",
                             choices=("fixed", "adaptive"))
    kl_target: float = arg(6.0, "adaptive β: target KL per sequence (nats)")
    kl_horizon: float = arg(10000.0, "adaptive β: horizon in sequences")
    # ---- reward shaping
    missing_eos_penalty: float = arg(0.0, "subtracted from the score of a response that hit the budget without EOS")
    reward_clip: float = arg(0.0, "clip the sequence score to [-c, c] (0 = no clipping)")
    # ---- NLPO
    mask_top_p: float = arg(0.9, "NLPO: nucleus mass of the masking policy")
    mask_min_tokens: int = arg(10, "NLPO: tokens always kept by the mask")
    mask_sync_every: int = arg(5, "NLPO: copy the policy into the masking policy every N iterations")
    # ---- model
    lora_r: int = arg(0, "LoRA rank (0 = full fine-tuning); with LoRA the reference is the base with adapters off")
    lora_alpha: float = arg(16.0, "LoRA alpha")
    lora_merge_sampling: str = arg("auto", "LoRA: sample with the adapters folded into the weights (one matmul per "
                                           "layer; the base restored exactly after); auto = measure both on the first "
                                           "two rollouts and keep the faster", choices=("auto", "true", "false"))
    # ---- rollout engine, asynchrony, scale
    rollout_engine: str = arg("native", "what samples the rollouts: langrl's sampler, or vLLM in the same process "
                                        "(the langrl[vllm] extra) with the policy's weights pushed after every update",
                              choices=("native", "vllm"), group="rollout engine and scale")
    engine_option: list[str] = arg([], "KEY=VALUE passed to vllm.LLM, repeat for several (e.g. "
                                       "gpu_memory_utilization=0.5, enforce_eager=false, dtype=bfloat16)", group="rollout engine and scale")
    max_staleness: int = arg(0, "K: sample the next batches while the current one trains, each with weights at most "
                                "K updates old (0 = synchronous)", group="rollout engine and scale")
    tis_cap: float = arg(2.0, "truncated importance sampling cap C: with an asynchronous or vllm engine every token's "
                              "policy loss is weighted by min(π_old/π_behaviour, C) (0 = no correction)", group="rollout engine and scale")
    ray: bool = arg(False, "run the rollout engine in a Ray actor (the langrl[ray] extra), apart from the learner "
                           "processes; weights go through Ray's object store after every update",
                    group="rollout engine and scale")
    ray_address: str | None = arg(None, "Ray cluster to join (e.g. auto after `ray start`; default: a local one)",
                                  group="rollout engine and scale")
    ray_num_gpus: float = arg(0.0, "GPUs given to each rollout actor", group="rollout engine and scale")
    ray_num_cpus: float = arg(1.0, "CPUs given to each rollout actor", group="rollout engine and scale")
    strategy: str = arg("ddp", "multi-process training under torchrun: ddp (every rank a whole copy, gradients "
                               "all-reduced) or fsdp (FSDP2: weights, gradients and optimizer state sharded over the "
                               "ranks; sampling uses a whole copy)", choices=("ddp", "fsdp"), group="rollout engine and scale")
    # ---- data, eval, logging (out, seed, save_every, stop_at, resume, overwrite: the shared section)
    task_prompts: int = arg(512, "training prompts drawn from a task:NAME source")
    eval_every: int = arg(0, "iterations between held-out evaluations (0 = none)")
    eval_prompts: str | None = arg(None, "held-out prompts: JSONL or task:NAME (default: the task's eval split)")
    eval_num: int = arg(32, "held-out prompts evaluated")
    watch: str | None = arg(None, "held-out signal for the reward-hacking watch: a reward spec (e.g. a second reward "
                                  "model, rm:path=DIR) logged as eval/watch (default: the task's gold, eval/gold)")
    hacking_window: int = arg(3, "warn of reward hacking when, across this many held-out evaluations, the proxy "
                                 "rose while the watched signal fell by more than hacking_min_drop")
    hacking_min_drop: float = arg(0.05, "fall of the watched held-out signal that counts (keep it above its noise)")
    log_samples: int = arg(2, "responses per iteration written to samples.jsonl")

    def validate(self) -> None:
        self.check_trainer("rl")

        def need(ok: bool, field: str, expected: str) -> None:
            if not ok:
                raise InputError(f"rl: field '{field}': expected {expected}, got {getattr(self, field)!r}")

        for f in ("max_steps", "prompts_per_step", "micro_batch_size", "max_new_tokens"):
            need(getattr(self, f) >= 1, f, ">= 1")
        need(self.temperature > 0, "temperature", "> 0")
        need(0 < self.top_p <= 1, "top_p", "a number in (0, 1]")
        need(self.clip_eps > 0, "clip_eps", "> 0")
        need(0 <= self.lam <= 1 and 0 <= self.gamma <= 1, "lam", "gamma and lam in [0, 1]")
        need(self.kl_coef >= 0, "kl_coef", ">= 0")
        need(self.kl_target > 0 and self.kl_horizon > 0, "kl_target", "kl_target and kl_horizon > 0")
        need(0 <= self.baseline_decay <= 1, "baseline_decay", "a number in [0, 1]")
        need(0 < self.mask_top_p <= 1, "mask_top_p", "a number in (0, 1]")
        need(self.mask_min_tokens >= 1 and self.mask_sync_every >= 1, "mask_sync_every",
             "mask_sync_every and mask_min_tokens >= 1")
        need(self.rollout_prompts >= 0 and self.minibatch_size >= 0, "minibatch_size", ">= 0")
        need(self.samples_per_prompt is None or self.samples_per_prompt >= 1, "samples_per_prompt", ">= 1")
        need(self.epochs is None or self.epochs >= 1, "epochs", ">= 1")
        need(self.hacking_window >= 1, "hacking_window", ">= 1")
        need(self.max_staleness >= 0, "max_staleness", ">= 0")
        need(self.tis_cap >= 0, "tis_cap", ">= 0")
        need(not self.engine_option or self.rollout_engine == "vllm", "engine_option",
             "to be used with rollout_engine vllm")
        need(self.hacking_min_drop >= 0, "hacking_min_drop", ">= 0")
        need(not self.watch or self.eval_every > 0, "watch", "to be used with eval_every > 0 (it is scored on the "
                                                            "held-out evaluations)")
        algo = ALGORITHMS[self.algo]
        need(not self.value_init or algo.uses_value, "value_init", f"empty with --algo {self.algo} (it has no value "
                                                                   "function)")
        if self.value_init and not Path(self.value_init).is_file():
            raise InputError(f"rl: field 'value_init': expected a saved value function (langrl_value.pt), "
                             f"{self.value_init} is not a file")
        if algo.group_based and self.samples_per_prompt is not None and self.samples_per_prompt < 2:
            raise InputError(f"rl: --algo {self.algo} compares the samples of a prompt: field 'samples_per_prompt' "
                             f"must be >= 2, got {self.samples_per_prompt}")
        if self.reward_baseline == "loo" and (self.samples_per_prompt or algo.defaults.get("samples_per_prompt",
                                                                                               1)) < 2:
            raise InputError("rl: field 'reward_baseline' loo compares the samples of a prompt: field "
                             f"'samples_per_prompt' must be >= 2, got {self.samples_per_prompt}")
        if self.condition:
            need(self.condition_steps >= 1, "condition_steps", ">= 1")
            need(self.eval_every == 0, "eval_every", "0 with condition true (evaluate a conditioned policy at the "
                                                     "weights you choose: langrl eval --weights, langrl pareto)")
            need(not self.weights, "weights", "none with condition true (each prompt draws its own w)")
        if self.aggregation != "sum":
            if algo.vector_estimator is None:
                raise InputError(f"rl: field 'aggregation': {self.aggregation} needs a group algorithm (--algo grpo "
                                 f"or rloo), got --algo {self.algo}")
            if self.aggregation == "normalize_then_sum" and (algo.vector_estimator != "grpo" or not
                                                             self.grpo_scale_std):
                raise InputError("rl: field 'aggregation': normalize_then_sum (GDPO) is group normalisation: expected "
                                 f"--algo grpo with grpo_scale_std true, got --algo {self.algo}")
            if self.whiten_rewards:
                raise InputError(f"rl: field 'whiten_rewards': expected false with aggregation {self.aggregation} "
                                 f"(the objectives are normalised per group instead), got true")
            if self.reward_baseline != "none":
                raise InputError(f"rl: field 'reward_baseline': expected none with aggregation {self.aggregation} "
                                 f"(each objective gets its own group baseline), got {self.reward_baseline!r}")
        if algo.uses_mask and self.max_staleness:
            raise InputError(f"rl: --algo {self.algo} samples under its masking policy, which is synchronised with "
                             f"the policy: field 'max_staleness' must be 0, got {self.max_staleness}")
        if self.strategy == "fsdp":
            for field, bad, why in (("lora_r", self.lora_r != 0, "0 (LoRA adapters are not sharded)"),
                                    ("algo", algo.uses_mask, "an algorithm without NLPO's masking policy"),
                                    ("eval_every", self.eval_every != 0, "0 (evaluate the saved policy with "
                                                                         "`langrl eval`)")):
                if bad:
                    raise InputError(f"rl: --strategy fsdp: field '{field}': expected {why}, "
                                     f"got {getattr(self, field)!r}")
        n = self.samples_per_prompt or algo.defaults.get("samples_per_prompt", 1)
        batch = self.prompts_per_step * n
        if self.minibatch_size and batch % self.minibatch_size:
            raise InputError(f"rl: the batch of {batch} sequences (prompts_per_step × samples_per_prompt) must be a "
                             f"multiple of minibatch_size {self.minibatch_size}")
        if self.rollout_prompts and self.prompts_per_step % self.rollout_prompts:
            raise InputError(f"rl: prompts_per_step {self.prompts_per_step} must be a multiple of rollout_prompts "
                             f"{self.rollout_prompts}")
        if self.kl_controller == "adaptive" and self.kl_coef == 0:
            raise InputError("rl: the adaptive KL controller needs kl_coef > 0 to scale (it multiplies β)")


OnlineConfig = RLConfig  # the earlier name (the command has always been `rl`): kept for user code

__all__ = ["RLConfig", "resolve_config"]
