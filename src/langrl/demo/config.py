"""The typed config of ``langrl demo`` and the two budgets it runs at (``--quick`` and full)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from langrl.config import arg
from langrl.errors import InputError

TASK_CHOICES = ("all", "factqa", "reviews", "arithmetic", "multiobjective")  # multiobjective: demo/multiobjective.py
RUN_NAMES = ("ppo-holistic", "ppo-fine-grained", "nlpo", "dpo", "pl-dpo", "ppo-kl", "ppo-no-kl", "grpo",
             "control-factqa", "control-reviews", "control-arithmetic")
"""The demo's policy runs besides the SFT starts (``--runs`` picks some of them)."""
HOLISTIC_SWEEP = "ppo-holistic-kl"
"""Name prefix of the extra holistic-PPO runs at other β (``--holistic-kl-coefs``): ``ppo-holistic-kl1.0``."""
MAX_NEW = {"factqa": 48, "reviews": 32, "arithmetic": 40}
"""Response token budget of each task's sampling (SFT eval, feedback collection, RL, evaluation)."""


SFT_BATCH = 16  # sequences per step of every demo SFT stage and control (factqa's: --factqa-sft-batch-size)
SFT_MICRO_BATCH = 16  # sequences per forward pass of those stages (a larger batch accumulates micro-batches)


@dataclass
class DemoConfig:
    task: str = arg("all", "which built-in task(s) to run the pipeline on", choices=TASK_CHOICES)
    quick: bool = arg(False, "a small budget that still exercises every stage (for tests and a first look)")
    out: str = arg("runs/demo", "output directory: one folder per stage, report.md, report.html, metrics.json, plots")
    model: str = arg("tiny", "starting model: tiny (built in-process), smollm2, or a HF model directory")
    seed: int = arg(0, "seed of every stage")
    eval_prompts: int = arg(0, "held-out prompts per task for each policy's evaluation (0 = the budget's default)")
    rl_steps: int = arg(0, "online RL iterations per run (0 = the budget's default)")
    kl_coef: float = arg(0.05, "β of the KL-regularised factqa and arithmetic runs")
    reviews_kl_coef: float = arg(0.5, "β of the reviews PPO-KL run (the no-KL hacking run uses 0): the keyword-"
                                      "stuffing hack is inside the SFT policy's support, so β must outweigh VADER's "
                                      "gain from it")

    arithmetic_sft_patience: int = arg(0, "held-out-loss measurements (every 25 steps) the arithmetic SFT waits for a "
                                          "new best before stopping (0 = the budget's: full runs its whole "
                                          "3,000-step schedule, quick stops after 2)")

    factqa_sft_data: str = arg("demonstrations", "factqa's SFT data: the task's clean demonstrations, or its corpus "
                                                 "(irrelevant and redundant sentences, wrong and missing items at the "
                                                 "task's rates: habits RL can train away; the README's factqa lever)",
                               choices=("demonstrations", "corpus"))

    factqa_sft_steps: int = arg(0, "factqa SFT's step cap (0 = the budget's: 3,000 full, 20 quick); the run stops "
                                   "earlier when its held-out loss stops falling, unless --factqa-sft-patience 0")
    factqa_sft_patience: int = arg(-1, "held-out-loss measurements (every 100 steps) the factqa SFT waits for a new "
                                       "best before stopping (-1 = the budget's: 3; 0 = no early stop: the whole "
                                       "cosine schedule, which patience 3 cut at step 4,900 of 6,000 on seed 0)")
    factqa_sft_schedule: str = arg("cosine", "factqa SFT's learning-rate schedule: cosine to 10% at the step cap, or "
                                             "wsd: constant until the held-out loss stops falling (patience), then a "
                                             "cosine decay over a tenth of the cap (a cosine's decay flattens the loss "
                                             "before the model has converged: README, 'SFT to a plateau')",
                                     choices=("cosine", "wsd"))
    factqa_sft_batch_size: int = arg(SFT_BATCH, "factqa SFT's batch (and its control's): at 16 the step at which "
                                                "the model learns to copy items off the passage depends on the seed "
                                                "(seed 1: not in 12,000 steps), at 64 every seed measured learns it "
                                                "within 1,000 steps (README, 'The copying transition and the batch "
                                                "size')")
    factqa_rl_steps: int = arg(0, "factqa's online RL iterations (0 = --rl-steps, else the budget's); when set, each "
                                  "run draws factqa_rl_steps x prompts_per_step training prompts, so no prompt "
                                  "repeats (the default runs keep their 512-prompt draw)")

    holistic_kl_coefs: str = arg("", "more β values for factqa's holistic PPO, comma-separated (e.g. 1.0): each is a "
                                     "run ppo-holistic-klβ beside ppo-holistic (β = --kl-coef), so "
                                     "fine_grained_beats_holistic can compare the two methods at comparable KL")

    spans_rm_steps: int = arg(0, "the span reward model's optimizer steps (0 = the budget's: 60 full, 4 quick; 60 is "
                                 "0.7 of an epoch of the full demo's span feedback: README, 'The span model')")

    runs: str = arg("", "only these runs, comma-separated (e.g. ppo-fine-grained,control-factqa; empty = every run of "
                        "the task): the SFT starts, feedback, reward models and the evaluations of the chosen runs "
                        "still run, and a claim whose runs are missing reads 'not measured'. A control matches the "
                        "first of its task's RL runs that runs (factqa: ppo-holistic, ppo-fine-grained, nlpo)")

    jobs: int = arg(0, "stages run at once, each in its own worker process with cores/jobs torch threads, as soon as "
                       "the stages it reads are done (0 = 2 on a machine with 2 or more cores, else 1; 1 = one after "
                       "another in this process)")

    def holistic_sweep_runs(self) -> dict[str, float]:
        """{run name: β} of ``holistic_kl_coefs`` (InputError naming the field when one is not a number >= 0)."""
        bad = InputError(f"demo: field 'holistic_kl_coefs': expected comma-separated numbers >= 0, got "
                         f"{self.holistic_kl_coefs!r}")
        try:
            betas = [float(b) for b in self.holistic_kl_coefs.split(",") if b.strip()]
        except ValueError:
            raise bad from None
        if any(b < 0 for b in betas):
            raise bad
        return {f"{HOLISTIC_SWEEP}{b}": b for b in betas}

    def run_names(self) -> list[str]:
        """``runs`` as a list (empty: every run)."""
        return [r.strip() for r in self.runs.split(",") if r.strip()]

    def wants(self, run: str) -> bool:
        """Whether the run named ``run`` is among ``--runs`` (every run when it is empty)."""
        return not self.run_names() or run in self.run_names()

    def validate(self) -> None:
        if self.jobs < 0:
            raise InputError(f"demo: field 'jobs': expected >= 0, got {self.jobs}")
        for name in ("eval_prompts", "rl_steps", "arithmetic_sft_patience", "factqa_sft_steps", "factqa_rl_steps",
                     "spans_rm_steps"):
            if getattr(self, name) < 0:
                raise InputError(f"demo: field '{name}': expected >= 0, got {getattr(self, name)}")
        sweep = tuple(self.holistic_sweep_runs())
        unknown = [r for r in self.run_names() if r not in RUN_NAMES + sweep]
        if unknown:
            raise InputError(f"demo: field 'runs': unknown run(s) {', '.join(unknown)}; expected a comma-separated "
                             f"list of {', '.join(RUN_NAMES + sweep)}")
        if self.factqa_sft_batch_size < 1:
            raise InputError(f"demo: field 'factqa_sft_batch_size': expected >= 1, got {self.factqa_sft_batch_size}")
        if self.factqa_sft_patience < -1:
            raise InputError(f"demo: field 'factqa_sft_patience': expected >= -1, got {self.factqa_sft_patience}")
        if self.kl_coef < 0 or self.reviews_kl_coef < 0:
            raise InputError("demo: kl_coef and reviews_kl_coef must be >= 0")


@dataclass(frozen=True)
class Budget:
    """Sizes of every stage; ``quick`` keeps each stage alive at a fraction of the cost."""

    sft_steps: int  # reviews: the SFT step cap (the run stops earlier when held-out loss plateaus)
    # arithmetic SFT's cap: with a 1,000-step schedule its held-out loss still fell at the end on seeds 0, 1 and 2
    arithmetic_sft_steps: int
    # factqa SFT's cap: reading the names off the passage is learned late, so it gets many more steps
    factqa_sft_steps: int
    feedback_prompts: int
    responses_per_prompt: int
    rm_steps: int
    holistic_rm_steps: int  # the holistic reward model's MiniLM backbone costs several times tiny's per step
    spans_rm_steps: int  # the span and completeness models fine-tune the holistic model's MiniLM encoder
    completeness_rm_steps: int
    rl_steps: int
    prompts_per_step: int
    # factqa PPO-holistic and NLPO: responses per prompt, compared with each other (a leave-one-out reward baseline)
    factqa_rl_samples: int
    dpo_steps: int
    eval_prompts: int
    eval_every: int
    best_of_n: int
    grpo_steps: int  # arithmetic GRPO iterations (8 samples per prompt)
    ppo_kl_prompts_per_step: int  # reviews PPO-KL: twice the prompts of the other runs halves its gradient noise
    # SFT early stopping: held-out loss every sft_eval_every steps (factqa: factqa_sft_eval_every); stop after
    # sft_patience measurements without a new best and keep the best weights
    sft_eval_every: int = 25
    factqa_sft_eval_every: int = 100
    sft_patience: int = 3
    # the arithmetic SFT's (--arithmetic-sft-patience); 0 = no early stop: its loss falls until the cosine
    # schedule ends, and patience on the noisy loss of the high-lr middle stopped one seed at step 700
    arithmetic_sft_patience: int = 0
    factqa_sft_patience: int = 3  # the factqa SFT's (--factqa-sft-patience)


QUICK = Budget(sft_steps=20, arithmetic_sft_steps=20, factqa_sft_steps=20, feedback_prompts=24,
               responses_per_prompt=4, rm_steps=20, holistic_rm_steps=10, spans_rm_steps=4, completeness_rm_steps=3,
               rl_steps=4, prompts_per_step=8,
               dpo_steps=10, eval_prompts=16, eval_every=2, best_of_n=4, sft_eval_every=10, factqa_sft_eval_every=10,
               sft_patience=2, arithmetic_sft_patience=2, factqa_rl_samples=2, grpo_steps=4, ppo_kl_prompts_per_step=8)
FULL = Budget(sft_steps=1000, arithmetic_sft_steps=3000, factqa_sft_steps=3000, feedback_prompts=400,
              responses_per_prompt=4, rm_steps=150, holistic_rm_steps=100, spans_rm_steps=60, completeness_rm_steps=40,
              rl_steps=40, prompts_per_step=16,
              dpo_steps=80, eval_prompts=200, eval_every=5, best_of_n=8, factqa_rl_samples=4, grpo_steps=80,
              ppo_kl_prompts_per_step=32)


def reproduce_command(cfg: DemoConfig) -> str:
    """The ``langrl demo`` command line that gives ``cfg``'s numbers: every field that differs from its default, as
    ``--key value`` in field order (``--out`` and ``--jobs`` left out: they change where and how fast, not what)."""
    parts = ["langrl demo"]
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in ("out", "jobs") or value == f.default:
            continue
        flag = "--" + f.name.replace("_", "-")
        parts.append(flag if value is True else f"--no-{flag[2:]}" if value is False else f"{flag} {value}")
    return " ".join(parts)


def budget_for(cfg: DemoConfig) -> Budget:
    base = QUICK if cfg.quick else FULL
    updates = {}
    if cfg.eval_prompts:
        updates["eval_prompts"] = cfg.eval_prompts
    if cfg.rl_steps:
        updates["rl_steps"] = updates["grpo_steps"] = cfg.rl_steps
    if cfg.arithmetic_sft_patience:
        updates["arithmetic_sft_patience"] = cfg.arithmetic_sft_patience
    if cfg.factqa_sft_patience >= 0:
        updates["factqa_sft_patience"] = cfg.factqa_sft_patience
    if cfg.factqa_sft_steps:
        updates["factqa_sft_steps"] = cfg.factqa_sft_steps
    if cfg.spans_rm_steps:
        updates["spans_rm_steps"] = cfg.spans_rm_steps
    return Budget(**{**base.__dict__, **updates})
