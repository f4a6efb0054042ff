"""Typed configs of ``langrl agent sft|train|eval`` (one dataclass per subcommand, sharing the environment fields).

Fields left unset (None) take the algorithm's default from ``train/pg/algorithms.py`` (the table the single-turn
``langrl rl`` uses) in :func:`langrl.train.pg.algorithms.resolve_config` (``table=TURN_ALGORITHMS``: the same function
``langrl rl`` calls), once after parsing; the resolved values are saved with the run. The optimisation and checkpoint
fields are the shared section of every trainer (:class:`langrl.train.config.TrainerConfig`).
"""
from __future__ import annotations

from dataclasses import dataclass

from langrl.config import arg
from langrl.errors import InputError
from langrl.train.config import TrainerConfig

AGENT_ALGOS = ("ppo", "grpo", "rloo", "reinforce")


@dataclass
class EnvArgs:
    env: str = arg("builtin", "environment: the built-in treasure game, or generated TextWorld games",
                   choices=("builtin", "textworld"))
    difficulty: str = arg("easy", "builtin: easy|medium|hard or depth=N,items=M; textworld: easy|medium|hard|harder "
                                  "or rooms=R,objects=O,quest=Q[,theme=house|basic]")
    games: int = arg(64, "number of games: the seeds seed, seed+1, ..., seed+games-1")
    seed: int = arg(0, "first game seed (and the seed of sampling and data order)")
    max_turns: int = arg(8, "turn limit per episode")
    action_space: str = arg("admissible", "free: the policy writes any command; admissible: it writes one of the "
                                          "environment's admissible commands (a token trie mask)",
                            choices=("free", "admissible"))
    max_action_tokens: int = arg(16, "token budget of a free-text action (admissible commands are always whole)")
    max_context: int = arg(0, "context window in tokens (0 = the model's max_position_embeddings)")
    max_first_tokens: int = arg(0, "the first observation (objective) is clipped to this (0 = half the window)")
    max_obs_tokens: int = arg(0, "later observations are clipped to this (0 = a quarter of the window)")

    def _check_env(self, prog: str) -> None:
        for f in ("games", "max_turns", "max_action_tokens"):
            if getattr(self, f) < 1:
                raise InputError(f"{prog}: field '{f}': expected >= 1, got {getattr(self, f)}")
        for f in ("max_context", "max_first_tokens", "max_obs_tokens"):
            if getattr(self, f) < 0:
                raise InputError(f"{prog}: field '{f}': expected >= 0, got {getattr(self, f)}")
        if self.env == "builtin":
            from langrl.envs.builtin import builtin_settings

            builtin_settings(self.difficulty)
        else:
            from langrl.envs.games import parse_difficulty

            parse_difficulty(self.difficulty)

    def rollout_kwargs(self) -> dict:
        return {"max_turns": self.max_turns, "max_action_tokens": self.max_action_tokens,
                "action_space": self.action_space, "max_context": self.max_context or None,
                "max_first_tokens": self.max_first_tokens or None, "max_obs_tokens": self.max_obs_tokens or None}


@dataclass
class EngineArgs:
    """The rollout engine of ``agent train`` and ``agent eval`` (``langrl.train.pg.engines``)."""

    rollout_engine: str = arg("native", "what plays the episodes: langrl's multi-turn sampler, or vLLM in the same "
                                        "process (the langrl[vllm] extra; every turn's context re-sent as token ids, "
                                        "the policy's weights pushed after every update)", choices=("native", "vllm"),
                              group="rollout engine")
    engine_option: list[str] = arg([], "KEY=VALUE passed to vllm.LLM, repeat for several", group="rollout engine")

    def _check_engine(self, prog: str) -> None:
        from langrl.train.pg.engines import check_engine, parse_options

        check_engine(self.rollout_engine, prog)
        if self.engine_option and self.rollout_engine != "vllm":
            raise InputError(f"{prog}: field 'engine_option': expected to be used with rollout_engine vllm, got "
                             f"{self.engine_option!r}")
        parse_options(self.engine_option)  # (admissible actions run on vLLM too: langrl.rollout.vllm_trie)


@dataclass
class AgentSFTConfig(EnvArgs, TrainerConfig, defaults={"out": "runs/agent-sft", "max_steps": 150,
                                                        "learning_rate": 1e-3, "warmup_steps": 10}):
    policy: str = arg("tiny", "model spec to fine-tune: tiny, a HF dir, .gguf, smollm2")
    batch_size: int = arg(16, "examples (one per walkthrough action) per step")

    def validate(self) -> None:
        self._check_env("agent sft")
        self.check_trainer("agent sft")
        if self.max_steps < 1 or self.micro_batch_size < 1 or self.batch_size % self.micro_batch_size:
            raise InputError(f"agent sft: batch_size {self.batch_size} must be a multiple of micro_batch_size "
                             f"{self.micro_batch_size}, and max_steps >= 1")


@dataclass
class AgentTrainConfig(EnvArgs, EngineArgs, TrainerConfig, defaults={"out": "runs/agent"}):
    # shared fields (langrl.train.config) whose meaning is more specific here: a step is an iteration
    max_steps: int = arg(50, "iterations: play a batch of episodes → advantages → K epochs of updates")
    learning_rate: float = arg(1e-4, "learning rate (AdamW, constant after warm-up)")
    policy: str = arg("tiny", "policy model spec (e.g. an `agent sft` --out directory)")
    algo: str = arg("ppo", "algorithm (PPO is what the measured TextWorld results use)", choices=AGENT_ALGOS)
    episodes_per_step: int = arg(32, "episodes per iteration (games per iteration × group_size)")
    group_size: int | None = arg(None, "episodes of the same game per iteration (GRPO/RLOO groups; default 4 for "
                                       "grpo/rloo, 1 otherwise)")
    epochs: int | None = arg(None, "K: passes over each batch (default: 4 for ppo, 1 otherwise)")
    temperature: float = arg(1.0, "sampling temperature (every log-prob is taken at it)")
    clip_eps: float = arg(0.2, "PPO/GRPO ratio clip ε")
    value_clip_eps: float = arg(0.2, "value clipping around the old values (0 = none)")
    vf_coef: float = arg(0.1, "weight of the value loss (PPO)")
    entropy_coef: float = arg(0.0, "entropy bonus weight")
    gamma: float = arg(0.95, "discount γ across turns")
    lam: float = arg(0.95, "GAE λ across turns (PPO)")
    kl_coef: float = arg(0.02, "β: KL coefficient to the initial policy")
    kl_estimator: str | None = arg(None, "per-token KL estimator (default: k1 in the reward, k3 in the loss)",
                                   choices=("k1", "k2", "k3"))
    kl_in: str | None = arg(None, "where the KL goes (default: loss for grpo, reward otherwise)",
                            choices=("reward", "loss"))
    whiten_advantages: bool | None = arg(None, "whiten advantages over the batch (default: on for ppo)")
    grpo_scale_std: bool = arg(True, "GRPO: divide by the group std (false = Dr. GRPO)")
    baseline_decay: float = arg(0.9, "REINFORCE: decay of the moving-average baseline")
    tis_cap: float = arg(2.0, "truncated importance sampling cap C: with --rollout-engine vllm every token's policy "
                              "loss is weighted by min(π_old/π_behaviour, C) (0 = no correction)",
                         group="rollout engine")

    def validate(self) -> None:
        self._check_env("agent train")
        self._check_engine("agent train")
        if self.tis_cap < 0:
            raise InputError(f"agent train: field 'tis_cap': expected >= 0, got {self.tis_cap}")
        self.check_trainer("agent train")
        if self.group_size is not None and self.group_size < 1:
            raise InputError(f"agent train: field 'group_size': expected >= 1 (or unset), got {self.group_size}")
        n = self.group_size or (4 if self.algo in ("grpo", "rloo") else 1)
        if self.algo in ("grpo", "rloo") and n < 2:
            raise InputError(f"agent train: --algo {self.algo} compares episodes of the same game: field "
                             f"'group_size' must be >= 2, got {n}")
        if self.episodes_per_step < 1 or self.episodes_per_step % n:
            raise InputError(f"agent train: episodes_per_step {self.episodes_per_step} must be a positive multiple "
                             f"of group_size {n}")
        if self.temperature <= 0 or self.clip_eps <= 0 or self.kl_coef < 0 or self.micro_batch_size < 1:
            raise InputError("agent train: temperature and clip_eps must be > 0, kl_coef >= 0, micro_batch_size >= 1")
        if not (0 <= self.gamma <= 1 and 0 <= self.lam <= 1):
            raise InputError("agent train: gamma and lam must be in [0, 1]")
        if self.max_steps < 1 or (self.epochs is not None and self.epochs < 1):
            raise InputError("agent train: max_steps and epochs must be >= 1")


@dataclass
class AgentEvalConfig(EnvArgs, EngineArgs):
    policy: str | None = arg(None, "policy to evaluate (model spec or directory); none = only the random baseline")
    out: str | None = arg(None, "optional directory for eval.json (per-game results)")
    greedy: bool = arg(True, "play the most likely action (false: sample at --temperature)")
    temperature: float = arg(1.0, "sampling temperature when not greedy")
    episodes_per_game: int = arg(1, "policy episodes per game (sampled play: more for a tighter estimate)")
    baseline_episodes: int = arg(10, "random-admissible episodes per game")
    batch_size: int = arg(32, "episodes played together")

    def validate(self) -> None:
        self._check_env("agent eval")
        self._check_engine("agent eval")
        if self.episodes_per_game < 1 or self.baseline_episodes < 0 or self.batch_size < 1 or self.temperature <= 0:
            raise InputError("agent eval: episodes_per_game and batch_size must be >= 1, baseline_episodes >= 0, "
                             "temperature > 0")
