"""The set-up every trainer shares (``sft``, ``rm train``, ``dpo``, ``rl``, ``agent train``), read from the shared
config section (:class:`langrl.train.config.TrainerConfig`):

- :func:`load_policy`: the policy a trainer starts from (a model spec), with fresh LoRA adapters or full weights, and on
  ``--resume`` the checkpoint's adapters or weights instead; also the untouched starting point, which the trainers
  that need a reference (``dpo``, ``rl``, ``agent train``) take it from;
- :func:`make_optimizer_and_schedule`: AdamW (``langrl.train.optim``) over the trainable parameters or parameter
  groups, with ``learning_rate``/``weight_decay``, and linear warm-up over ``warmup_steps`` then a cosine decay to
  ``min_ratio`` of the rate (the policy-gradient loops pass ``min_ratio=1``: constant after warm-up);
- :func:`open_run`: on rank 0 make ``--out`` and clear what killed runs left (``begin_run``), then the metrics logger
  (continuing ``metrics.csv`` on resume) and the resolved config as YAML;
- :func:`save` / :func:`restore`: the checkpoint (``langrl.train.checkpoint``) with the optimizer, scheduler, step and
  RNG streams, plus whatever state a trainer adds (the policy-gradient one: ``langrl.train.pg.setup``).

Before these, each trainer calls ``checkpoint.check_out_dir`` (refuse a fresh run over a non-empty ``--out``) and
``checkpoint.load_state`` (the ``--resume`` state) where its order of input checks, seeding and model loading puts
them: that order is part of its exact results and of which bad input is reported first.
"""
from __future__ import annotations

from pathlib import Path

import torch
import yaml

from langrl.config import to_dict
from langrl.logging import MetricsLogger
from langrl.train.checkpoint import begin_run, restore_state, save_checkpoint
from langrl.train.optim import WarmupStableDecay, make_optimizer, make_scheduler


def load_policy(spec: str, *, resume: str | None = None, state: dict | None = None, lora_r: int = 0,
                lora_alpha: float = 16.0, quiet: bool = False):
    """(policy, tokenizer, start). ``spec``: the starting point (``langrl.models.specs``); ``state``: the ``--resume``
    checkpoint's state (``checkpoint.load_state(resume)``; None = a fresh run), whose model is read from ``resume``.

    With ``lora_r`` > 0 the policy is the spec's model with fresh adapters (rank ``lora_r``, ``lora_alpha``), or with
    the checkpoint's (``resume/adapter``); ``start`` is then None: the starting point is the base with the adapters
    disabled, not a second copy. Otherwise the policy is the spec's model, or the checkpoint's weights, and ``start``
    the spec's model as loaded (the policy itself in a fresh run: copy it before training if it must stay put).
    Modes are as loaded (``from_pretrained``: eval); each trainer sets its own."""
    from langrl.models.lora import apply_lora, load_lora
    from langrl.models.specs import load_causal_lm

    start, tok = load_causal_lm(spec, quiet=quiet)
    if lora_r:
        policy = load_lora(start, Path(resume) / "adapter") if state else apply_lora(start, lora_r, lora_alpha)
        return policy, tok, None
    if state:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(resume, dtype=torch.float32), tok, start
    return start, tok, start


def make_optimizer_and_schedule(params, cfg, total_steps: int, *, min_ratio: float = 0.1):
    """(AdamW, LambdaLR) from ``cfg``'s ``learning_rate``, ``weight_decay`` and ``warmup_steps``. ``params``: the
    parameters, or groups (dicts with ``params`` and their own ``lr``); ``total_steps``: scheduler steps in the run."""
    optimizer = make_optimizer(params, cfg.learning_rate, cfg.weight_decay)
    return optimizer, make_scheduler(optimizer, cfg.warmup_steps, total_steps, min_ratio=min_ratio)


def make_optimizer_and_wsd(params, cfg, total_steps: int, decay_steps: int):
    """(AdamW, LambdaLR, its :class:`~langrl.train.optim.WarmupStableDecay` multiplier): warm-up over
    ``cfg.warmup_steps``, constant, then a cosine decay over ``decay_steps`` ending at ``total_steps`` unless the caller
    moves its start earlier. The multiplier is an object, so LambdaLR's state (and a checkpoint) carries its moved
    ``decay_start``."""
    optimizer = make_optimizer(params, cfg.learning_rate, cfg.weight_decay)
    wsd = WarmupStableDecay(cfg.warmup_steps, total_steps - decay_steps, decay_steps)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, wsd), wsd


def open_run(cfg, *, start: int, resumed: bool, rank: int = 0, out=None) -> tuple[MetricsLogger, str]:
    """(metrics logger, config YAML) for a run about to write into ``out`` (default ``cfg.out``): rank 0 makes the
    directory and removes stale temporaries first; only rank 0 logs; a resumed run continues after ``start``."""
    out = cfg.out if out is None else out
    if rank == 0:
        begin_run(out)
    logger = MetricsLogger(out, enabled=rank == 0, resume_step=start if resumed else None)
    return logger, yaml.safe_dump(to_dict(cfg), sort_keys=False)


def save(out, step: int, *, model, tokenizer, config_yaml: str, logger, optimizer, scheduler,
         extra_state: dict | None = None, extra_files: dict | None = None, save_model=None) -> None:
    """Write the checkpoint at ``step`` atomically: the model, the config, and the state ``{step, optimizer,
    scheduler, **extra_state}`` (the RNG streams are added by ``save_checkpoint``)."""
    state = {"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             **(extra_state or {})}
    save_checkpoint(out, model=model, tokenizer=tokenizer, config_yaml=config_yaml, metrics_logger=logger,
                    state=state, extra_files=extra_files, save_model=save_model)


def restore(state: dict | None, *, optimizer, scheduler, **parts) -> int:
    """Load a checkpoint's state into the optimizer, scheduler and ``parts`` (each loads the entry of its name), then
    the RNG streams; the step to continue from (0 for a fresh run)."""
    return restore_state(state, optimizer=optimizer, scheduler=scheduler, **parts)
