"""The continued-SFT control: more supervised training from the same SFT start, for the RL run's compute.

An RL run that beats its SFT start might only be spending more compute on the policy. The control spends the same
compute on SFT instead: from the same SFT checkpoint, on fresh demonstrations of the task (a data seed the SFT stage did
not draw), for as many **policy forward+backward sequences** as the RL run's updates made —

    sequences = iterations × prompts_per_step × samples_per_prompt × epochs      (the RL run's declared settings)
    control steps = ⌈sequences / batch⌉                  (the SFT stage's batch: 16 sequences per step by default)

(sampling the rollouts, scoring them and the reference forward passes are not counted: they are the RL run's extra
cost, not the control's). The count is the RL run's plan, so the control runs beside it instead of after it (a demo RL run
always runs its max_steps iterations). The control is then evaluated like every run (held-out gold sampled and
near-greedy, KL to the SFT start).
"""
from __future__ import annotations

import math
from pathlib import Path

from langrl.demo.config import SFT_BATCH, SFT_MICRO_BATCH

MATCHED_RUN = {"factqa": ("ppo-holistic", "ppo-fine-grained", "nlpo"), "reviews": ("ppo-kl",), "arithmetic": ("grpo",)}
"""The RL runs whose compute each task's control matches: the first that runs (factqa's three share one setting)."""


def matched_run(task: str, runs) -> str | None:
    """The run of ``runs`` (names) whose compute ``task``'s control matches, or None when none of them runs."""
    return next((r for r in MATCHED_RUN[task] if r in runs), None)


def planned_update_sequences(settings: dict) -> int:
    """Policy forward+backward sequences an online run with these ``langrl rl`` settings (a stage's declared settings;
    absent fields take RLConfig's defaults, samples and epochs the algorithm's) spends on its updates."""
    from langrl.train.pg.algorithms import ALGORITHMS
    from langrl.train.rl.config import RLConfig

    fields = RLConfig.__dataclass_fields__

    def get(name):
        value = settings.get(name, fields[name].default)
        return value if value is not None else ALGORITHMS[get("algo")].defaults.get(name, 1)

    return int(get("max_steps")) * int(get("prompts_per_step")) * int(get("samples_per_prompt")) * int(get("epochs"))


def control_steps(sequences: int, batch: int = SFT_BATCH) -> int:
    return max(1, math.ceil(sequences / batch))


def stage_control(stages, cfg, task: str, lr: float, data: str, matched: str, batch: int = SFT_BATCH) -> str:
    """Continued SFT of ``policy-TASK`` for the compute of ``run-MATCHED`` (a stage of this demo), ``batch``
    sequences per step (the SFT stage's: the control continues its recipe)."""
    from langrl.config import from_dict
    from langrl.train.sft import SFTConfig, run_sft

    rl = f"run-{matched}"
    start = stages.out / f"policy-{task}" / "model"
    sequences = planned_update_sequences(stages.settings[rl])
    settings = {"start": str(start), "matched": rl, "sequences": sequences, "data": data, "lr": lr, "seed": cfg.seed,
                "batch": batch, "rule": "policy forward+backward sequences of the RL updates", "version": 2}

    def run(d: Path) -> dict:  # a killed control continues from its checkpoint (every SFT_SAVE_EVERY steps)
        from langrl.demo.stages import SFT_SAVE_EVERY, checkpoint_to_resume

        steps = control_steps(sequences, batch)
        resume = checkpoint_to_resume(d)
        sc = from_dict(SFTConfig, {"model": str(start), "data": data, "out": str(d / "model"), "max_steps": steps,
                                   "batch_size": batch, "micro_batch_size": min(batch, SFT_MICRO_BATCH),
                                   "task_examples": max(2000, batch * steps), "learning_rate": lr,
                                   "warmup_steps": 5, "eval_fraction": 0.0, "eval_every": 0,
                                   "seed": cfg.seed + 7,  # fresh demonstrations: not the SFT stage's draw
                                   "save_every": SFT_SAVE_EVERY,
                                   **({"resume": resume} if resume else {"overwrite": True})})
        return {**run_sft(sc, quiet=True), "matched_run": rl, "rl_sequences": sequences}

    stages.run(f"control-{task}", settings, run, inputs=(f"policy-{task}",))
    return str(stages.out / f"control-{task}" / "model")
