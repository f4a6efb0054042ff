"""The typed config of ``langrl pareto``: the objectives, the weight vectors, the RL budget per vector, the held-out
evaluation and the hypervolume's reference point. Checked before anything trains."""
from __future__ import annotations

from dataclasses import dataclass

from langrl.config import arg
from langrl.errors import InputError
from langrl.losses.multiobjective import AGGREGATIONS
from langrl.rewards.conditioning import CONFIG_FORMATS

RL_FIELDS = ("policy", "prompts", "reward", "algo", "aggregation", "max_steps", "prompts_per_step",
             "samples_per_prompt", "learning_rate", "kl_coef", "max_new_tokens", "temperature", "seed")
"""The fields passed through to every stage's ``langrl rl`` config under the same names."""


@dataclass
class ParetoConfig:
    policy: str = arg("tiny", "the SFT start every policy of the sweep is trained from (a model spec or an sft --out)")
    prompts: str = arg("task:hh", "training prompts: task:NAME or a JSONL with a 'prompt' column")
    reward: list[str] = arg([], "one reward spec per objective (repeat), as in `langrl rl --reward`; the weights "
                                "come from --weights / --grid")
    weights: list[str] = arg([], "a weight vector to train (repeat for several): NAME=W,... or W1,W2,... in "
                                 "--reward order (default: the --grid)")
    grid: int = arg(2, "without --weights: every vector of the simplex grid with this many steps (2 objectives, 2: "
                       "(1,0), (0.5,0.5), (0,1))")
    soups: bool = arg(True, "also evaluate rewarded soups: the one-objective policies (trained too when the sweep "
                            "lacks them) weight-interpolated at every vector of the sweep, at no training cost")
    conditioned: bool = arg(False, "also train one preference-conditioned policy (langrl rl --condition) with the "
                                   "sweep's total compute (max_steps × the number of weight vectors iterations, the "
                                   "offline stage's included) and evaluate it at every vector, written before each "
                                   "prompt")
    conditioned_sft: bool = arg(False, "conditioned: first an offline conditional SFT stage (Rewards-in-Context): "
                                      "the start's own samples, for each w of the conditioning grid the one "
                                      "maximising w·r written after w's prefix; the online RL gets the rest of the "
                                      "sweep's compute")
    cond_sft_prompts: int = arg(64, "conditioned_sft: training prompts sampled")
    cond_sft_samples: int = arg(8, "conditioned_sft: responses sampled per prompt (the candidates)")
    cond_sft_steps: int = arg(150, "conditioned_sft: SFT steps, each on prompts_per_step × samples_per_prompt records "
                                   "(counted as half an RL iteration each)")
    cond_sft_learning_rate: float = arg(1e-3, "conditioned_sft: SFT learning rate")
    condition_format: str = arg("auto", "conditioned: the prefix format (langrl rl --condition-format; auto: byte "
                                        "where the start's tokenizer keeps it, else short); w is drawn from the grid "
                                        "of twentieths (--rl-option condition_steps=N)", choices=CONFIG_FORMATS)
    population: list[str] = arg([], "an annotator type NAME:SHARE:OBJ=W,... (repeat; shares sum to 1): its w and "
                                    "the share-averaged w̄ join the sweep, and pareto.json reports each type's "
                                    "satisfaction w_g·gold under the averaged policy and under its own")
    algo: str = arg("grpo", "RL algorithm of every stage", choices=("grpo", "rloo"))
    aggregation: str = arg("normalize_then_sum", "how each stage turns the reward vector into advantages (langrl rl "
                                                 "--aggregation)", choices=AGGREGATIONS)
    max_steps: int = arg(30, "RL iterations per weight vector")
    prompts_per_step: int = arg(8, "prompts per RL iteration")
    samples_per_prompt: int = arg(4, "responses per prompt (the group of GRPO/RLOO)")
    learning_rate: float = arg(2e-5, "policy learning rate")
    kl_coef: float = arg(0.02, "β: KL coefficient to the SFT start")
    max_new_tokens: int = arg(40, "response token budget (training and evaluation)")
    temperature: float = arg(1.0, "sampling temperature (training)")
    rl_option: list[str] = arg([], "KEY=VALUE for any other `langrl rl` field, repeat for several (e.g. lora_r=8)")
    eval_prompts: str | None = arg(None, "held-out prompts: task:NAME or JSONL (default: the eval split of --prompts)")
    eval_num: int = arg(64, "held-out prompts; every policy and soup is evaluated on the same ones")
    eval_temperature: float = arg(1.0, "sampling temperature of the held-out evaluation (one seeded sample per prompt)")
    reference: str | None = arg(None, "hypervolume reference point: one value per objective, comma-separated "
                                      "(default: 0 for every objective)")
    gold_axes: list[str] = arg([], "the task's gold scores forming the gold front, repeat (default: the gold scores "
                                   "named like the objectives)")
    out: str = arg("runs/pareto", "output directory: one stage per weight vector and soup, pareto.json, front.png")
    seed: int = arg(0, "random seed (every stage's and the evaluation's)")
    overwrite: bool = arg(False, "start over in a non-empty --out that is not a pareto run")
    resume: str | None = arg(None, "a pareto --out to continue: its finished stages are kept, the rest run (the same "
                                   "as re-running the command with --out DIR)")

    def validate(self) -> None:
        def need(ok: bool, field: str, expected: str) -> None:
            if not ok:
                raise InputError(f"pareto: field '{field}': expected {expected}, got {getattr(self, field)!r}")

        if self.resume is not None:
            from pathlib import Path

            need((Path(self.resume) / "pareto_config.json").is_file(), "resume", "a pareto --out directory")
        need(len(self.reward) >= 2, "reward", "at least two reward specs (one per objective)")
        need(self.grid >= 1, "grid", ">= 1")
        for f in ("max_steps", "prompts_per_step", "eval_num", "max_new_tokens", "cond_sft_prompts",
                  "cond_sft_samples", "cond_sft_steps"):
            need(getattr(self, f) >= 1, f, ">= 1")
        need(self.samples_per_prompt >= 2, "samples_per_prompt", ">= 2 (a group)")
        need(self.eval_temperature > 0, "eval_temperature", "> 0")
        for opt in self.rl_option:
            key = opt.partition("=")[0].strip().replace("-", "_")
            need("=" in opt and key, "rl_option", "KEY=VALUE")
            need(key not in RL_FIELDS + ("out", "weights", "eval_every", "resume", "overwrite", "condition", "condition_format"),
                 "rl_option",
                 f"a field pareto does not set itself ({key} is a pareto field or set per stage)")

    def reference_point(self, k: int) -> list[float]:
        if self.reference is None:
            return [0.0] * k
        try:
            ref = [float(x) for x in self.reference.split(",")]
        except ValueError:
            raise InputError(f"pareto: field 'reference': expected {k} comma-separated numbers, got "
                             f"{self.reference!r}") from None
        if len(ref) != k:
            raise InputError(f"pareto: field 'reference': expected {k} values (one per objective), got {len(ref)}")
        return ref

    def groups(self, names: list[str]) -> dict[str, dict]:
        """--population → {type: {"share", "weights"}} (weights over the objectives ``names``), checked."""
        from langrl.rewards.weights import parse_weights

        out = {}
        for text in self.population:
            parts = text.split(":", 2)
            if len(parts) != 3 or not parts[0].strip():
                raise InputError(f"pareto: field 'population': expected NAME:SHARE:OBJ=W,..., got {text!r}")
            try:
                share = float(parts[1])
            except ValueError:
                raise InputError(f"pareto: field 'population': share of {parts[0]!r}: expected a number, got "
                                 f"{parts[1]!r}") from None
            if not share > 0 or parts[0] in out:
                raise InputError(f"pareto: field 'population': type {parts[0]!r}: expected a positive share, once")
            out[parts[0]] = {"share": share, "weights": parse_weights(parts[2], names, field="population")}
        if out and abs(sum(g["share"] for g in out.values()) - 1) > 1e-6:
            raise InputError(f"pareto: field 'population': shares must sum to 1, got "
                             f"{sum(g['share'] for g in out.values()):g}")
        return out
