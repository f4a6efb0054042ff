"""The typed config of ``langrl loop`` (one field per option, a doc line each)."""
from __future__ import annotations

from dataclasses import dataclass

from langrl.annotate.elicit import STRATEGIES
from langrl.config import arg
from langrl.errors import InputError
from langrl.loop.policy import POLICY_UPDATES
from langrl.tasks.drift import SCHEDULES, SECOND_UTILITIES


@dataclass
class LoopConfig:
    out: str = arg("runs/loop", "loop directory: config, state, one folder per round, rounds.jsonl, metrics.json")
    resume: bool = arg(False, "continue the loop in --out where it stopped (nothing asked twice, nothing lost)")
    overwrite: bool = arg(False, "start over in an --out that already holds a loop")
    task: str = arg("reviews", "built-in task: prompts, simulated annotators and the hidden gold",
                    choices=("reviews", "factqa", "arithmetic"))
    policy: str = arg("tiny", "starting policy: tiny, tiny:TASK, a policy directory (e.g. an SFT run's model)")
    rounds: int = arg(4, "rounds of sample -> ask -> reward model -> policy -> evaluate")
    prompts_per_round: int = arg(16, "training prompts sampled from the current policy each round")
    samples_per_prompt: int = arg(4, "responses per prompt (a list is all of them; pairs are any two)")
    max_new_tokens: int = arg(0, "response tokens (0: the task's demo budget)")
    unit: str = arg("pair", "what one judgement is about: a pair of responses, or the list of all a prompt's "
                    "responses (a ranking)", choices=("pair", "list"))
    labels_per_round: int = arg(16, "judgements asked each round (the round's quota)")
    strategy: str = arg("eig", "what to ask: random, disagreement (ensemble), eig (expected information gain), "
                        "predictive (expected drop of the predictive variance on the policy's pairs), coverage (of "
                        "the policy's samples)", choices=STRATEGIES)
    warmup_rounds: int = arg(0, "rounds whose questions every strategy picks at random (the cold start: before any "
                             "judgement the posterior is the prior, and eig/predictive/disagreement rank by feature "
                             "distance alone)")
    compare: list[str] = arg(["random"], "strategies shadowed on the same candidates, judged by the simulated "
                             "annotator, for the label-efficiency curves (repeat the flag for several; none: no "
                             "shadows; simulated annotators only)")
    annotator: str = arg("simulated", "who judges: the task's simulated annotator, or people through the annotation "
                         "app (--db)", choices=("simulated", "app"))
    annotator_temperature: float = arg(0.05, "simulated annotator: Bradley-Terry temperature on the utility")
    annotator_flip: float = arg(0.05, "simulated annotator: probability a judgement is flipped")
    drift: str = arg("none", "simulated preference drift: none, switch (at --drift-round), rotate (per round)",
                     choices=SCHEDULES)
    drift_round: int = arg(2, "switch: the first round judged with the new preferences")
    drift_angle: float = arg(180.0, "switch: rotation in degrees (180 reverses the preferences); rotate: per round")
    drift_target: str = arg("brevity", "the second utility the preferences rotate toward",
                            choices=tuple(SECOND_UTILITIES))
    features: str = arg("minilm", "reward-model features: minilm (sentence embedding + log length) or bow "
                        "(hashed bag of words + log length; fast, for tests)", choices=("minilm", "bow"))
    prior_var: float = arg(1.0, "reward model: Gaussian prior variance of each weight (the L2 strength's inverse)")
    ensemble: int = arg(5, "reward model: bootstrap members (disagreement uses them)")
    recency_half_life: float = arg(0.0, "reward model: weight a judgement k rounds old by 2^(-k / half-life) (0: off)")
    window: int = arg(0, "reward model: fit on the judgements of the last N rounds only (0: all)")
    drift_threshold: float = arg(0.25, "drift monitor: alarm when the judgements from a candidate change round on are "
                                 "predicted this much worse than the older ones (the model of the older ones; they "
                                 "cross-validated)")
    drift_alpha: float = arg(0.05, "drift monitor: the drop must also be significant at this level (Fisher's exact "
                             "test, Bonferroni over the candidates): one check's false-alarm probability")
    drift_pool: int = arg(2, "drift monitor: candidate change rounds are the newest and the N-1 before it (a change "
                          "one round missed is caught with the next round's evidence)")
    drift_response: str = arg("retrain", "after an alarm: retrain (fit only on judgements from the changed block's first "
                              "round on) "
                              "or warn (log only)", choices=("retrain", "warn"))
    policy_update: str = arg("dpo", "policy step each round: iterated DPO on the round's new pairs, GRPO, RLOO or "
                             "PPO (langrl rl; PPO's value head carried between rounds) on the round's reward model, "
                             "or none", choices=POLICY_UPDATES)
    dpo_steps: int = arg(10, "DPO optimizer steps per round")
    dpo_beta: float = arg(0.1, "DPO beta")
    learning_rate: float = arg(1e-4, "policy step learning rate (DPO, GRPO, RLOO, PPO)")
    rl_steps: int = arg(4, "grpo/rloo/ppo: RL iterations per round on the round's reward model")
    rl_prompts_per_step: int = arg(0, "grpo/rloo/ppo: prompts per RL iteration, drawn from the round's training "
                                   "prompts (0: all of them)")
    rl_samples_per_prompt: int = arg(4, "grpo/rloo/ppo: responses per prompt in each RL iteration (the group)")
    rl_kl_coef: float = arg(0.05, "grpo/rloo/ppo: KL coefficient beta toward the round's starting policy")
    dpo_reference: str = arg("round", "DPO reference: the round's starting policy (iterated DPO) or the loop's start",
                             choices=("round", "start"))
    eval_prompts: int = arg(32, "held-out prompts for the policy's gold and KL after every round")
    rm_eval_prompts: int = arg(32, "held-out prompts whose start-policy samples give the reward model's gold pairs")
    front: str = arg("", "also elicit a person's weight vector over this langrl pareto run's front (pareto.json or a "
                     "front JSON, as langrl loop elicit-weights --front): --front-questions comparisons a round")
    front_questions: int = arg(2, "front: comparisons between front points asked each round (chosen by EIG; with "
                               "--annotator app asked in the app one at a time)")
    front_weights: str = arg("", "front: the simulated person's true weights W1,W2,... in the front's axis order "
                             "(with --annotator app, optional: the person's stated weights, to report the error)")
    db: str = arg("", "annotator app: the annotation app's database URL, as for langrl annotate (sqlite:///FILE, "
                  "postgresql://...)")
    deadline_s: float = arg(0.0, "annotator app: give up waiting for a round's quota after this many seconds "
                            "(0: wait until judged); whatever was judged is used")
    poll_s: float = arg(2.0, "annotator app: seconds between progress checks")
    seed: int = arg(0, "seed of every step")

    @property
    def shadows(self) -> list[str]:
        """The ``--compare`` strategies (``none``: no shadows), the main strategy left out."""
        return [s for s in self.compare if s not in ("none", self.strategy)]

    def validate(self) -> None:
        def bad(field: str, what: str) -> InputError:
            return InputError(f"loop: {what}", field=field)

        for name in ("rounds", "prompts_per_round", "labels_per_round", "eval_prompts", "rm_eval_prompts",
                     "ensemble"):
            if getattr(self, name) < 1:
                raise bad(name, f"expected >= 1, got {getattr(self, name)}")
        if self.samples_per_prompt < 2:
            raise bad("samples_per_prompt", f"expected >= 2 responses per prompt, got {self.samples_per_prompt}")
        if self.unit == "list" and self.samples_per_prompt > 5:
            raise bad("samples_per_prompt", "lists of more than 5 make expected information gain enumerate too many "
                                            f"orders ({self.samples_per_prompt}!); use <= 5")
        if "none" in self.compare and len(self.compare) > 1:
            raise bad("compare", f"expected 'none' alone or strategies, got {self.compare}")
        for s in self.shadows:
            if s not in STRATEGIES:
                raise bad("compare", f"expected strategies from {', '.join(STRATEGIES)}, got {s!r}")
        if self.annotator == "app":
            if not self.db:
                raise bad("db", "--annotator app needs --db (the annotation app's database)")
            if self.shadows:
                raise bad("compare", "shadow strategies need the simulated annotator; pass --compare none with app")
        if self.front:
            if not self.front_weights and self.annotator != "app":
                raise bad("front_weights", "--front needs the simulated person's --front-weights W1,W2,... (or "
                                           "--annotator app: people answer in the app)")
            if self.front_questions < 1:
                raise bad("front_questions", f"expected >= 1, got {self.front_questions}")
        if self.warmup_rounds < 0:
            raise bad("warmup_rounds", f"expected >= 0, got {self.warmup_rounds}")
        if self.drift_pool < 1:
            raise bad("drift_pool", f"expected >= 1, got {self.drift_pool}")
        if not 0 < self.drift_alpha < 1:
            raise bad("drift_alpha", f"expected 0 < alpha < 1, got {self.drift_alpha}")
        if self.prior_var <= 0:
            raise bad("prior_var", f"expected > 0, got {self.prior_var}")
        if self.recency_half_life < 0 or self.window < 0:
            raise bad("recency_half_life" if self.recency_half_life < 0 else "window", "expected >= 0 (0: off)")
        if self.drift == "switch" and not 1 <= self.drift_round <= self.rounds:
            raise bad("drift_round", f"expected a round in 1..{self.rounds}, got {self.drift_round}")
        if self.dpo_steps < 1 or self.dpo_beta <= 0 or self.learning_rate <= 0:
            raise bad("dpo_steps", "expected dpo_steps >= 1, dpo_beta > 0 and learning_rate > 0")
        if self.policy_update in ("grpo", "rloo", "ppo"):
            if self.rl_steps < 1:
                raise bad("rl_steps", f"expected >= 1, got {self.rl_steps}")
            if self.rl_samples_per_prompt < (1 if self.policy_update == "ppo" else 2):
                raise bad("rl_samples_per_prompt", f"expected >= 1 (ppo) or a group of >= 2 responses per prompt "
                                                   f"(grpo, rloo), got {self.rl_samples_per_prompt}")
            if self.rl_prompts_per_step < 0:
                raise bad("rl_prompts_per_step", f"expected >= 0 (0: all the round's prompts), got "
                                                 f"{self.rl_prompts_per_step}")
            if self.rl_kl_coef < 0:
                raise bad("rl_kl_coef", f"expected >= 0, got {self.rl_kl_coef}")
        if self.deadline_s < 0 or self.poll_s <= 0:
            raise bad("deadline_s", "expected deadline_s >= 0 and poll_s > 0")
