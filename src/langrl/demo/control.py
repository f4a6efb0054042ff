"""The continued-SFT control: more supervised training from the same SFT start, for the RL run's compute.

An RL run that beats its SFT start might only be spending more compute on the policy. The control spends the same
compute on SFT instead: from the same SFT checkpoint, on fresh demonstrations of the task (a data seed the SFT stage did
not draw), for as many **policy forward+backward sequences** as the RL run's updates made —

    sequences = iterations × prompts_per_step × samples_per_prompt × epochs      (read from the finished RL run)
    control steps = ⌈sequences / 16⌉                                              (16 sequences per SFT step)

(sampling the rollouts, scoring them and the reference forward passes are not counted: they are the RL run's extra
cost, not the control's). The control is then evaluated like every run (held-out gold sampled and near-greedy, KL
to the SFT start).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

CONTROL_BATCH = 16
MATCHED_RUN = {"factqa": ("ppo-holistic", "ppo-fine-grained", "nlpo"), "reviews": ("ppo-kl",), "arithmetic": ("grpo",)}
"""The RL runs whose compute each task's control matches: the first that runs (factqa's three share one setting)."""


def matched_run(task: str, runs) -> str | None:
    """The run of ``runs`` (names) whose compute ``task``'s control matches, or None when none of them runs."""
    return next((r for r in MATCHED_RUN[task] if r in runs), None)


def rl_update_sequences(run_dir: Path) -> int:
    """Policy forward+backward sequences the finished online run at ``run_dir`` (a stage dir) spent on updates."""
    done = json.loads((Path(run_dir) / "done.json").read_text())
    conf = yaml.safe_load((Path(run_dir) / "model" / "langrl_config.yaml").read_text())
    return int(done["result"]["steps"]) * int(conf["prompts_per_step"]) * int(conf["samples_per_prompt"] or 1) \
        * int(conf["epochs"] or 1)


def control_steps(sequences: int) -> int:
    return max(1, math.ceil(sequences / CONTROL_BATCH))


def stage_control(stages, cfg, task: str, lr: float, data: str, matched: str) -> str:
    """Continued SFT of ``policy-TASK`` for the compute of ``run-MATCHED`` (a stage of this demo)."""
    from langrl.config import from_dict
    from langrl.train.sft import SFTConfig, run_sft

    rl = f"run-{matched}"
    start = stages.out / f"policy-{task}" / "model"
    settings = {"start": str(start), "matched": rl, "data": data, "lr": lr, "seed": cfg.seed, "batch": CONTROL_BATCH,
                "rule": "policy forward+backward sequences of the RL updates", "version": 1}

    def run(d: Path) -> dict:  # a killed control continues from its checkpoint (every SFT_SAVE_EVERY steps)
        from langrl.demo.stages import SFT_SAVE_EVERY, checkpoint_to_resume

        sequences = rl_update_sequences(stages.out / rl)
        steps = control_steps(sequences)
        resume = checkpoint_to_resume(d)
        sc = from_dict(SFTConfig, {"model": str(start), "data": data, "out": str(d / "model"), "max_steps": steps,
                                   "batch_size": CONTROL_BATCH, "micro_batch_size": CONTROL_BATCH,
                                   "task_examples": max(2000, CONTROL_BATCH * steps), "learning_rate": lr,
                                   "warmup_steps": 5, "eval_fraction": 0.0, "eval_every": 0,
                                   "seed": cfg.seed + 7,  # fresh demonstrations: not the SFT stage's draw
                                   "save_every": SFT_SAVE_EVERY,
                                   **({"resume": resume} if resume else {"overwrite": True})})
        return {**run_sft(sc, quiet=True), "matched_run": rl, "rl_sequences": sequences}

    stages.run(f"control-{task}", settings, run, inputs=(f"policy-{task}", rl))
    return str(stages.out / f"control-{task}" / "model")
