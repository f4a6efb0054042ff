"""The policy-gradient part of the set-up (``langrl rl``, ``langrl agent train``); what every trainer shares (AdamW and
its schedule from the config, ``begin_run`` and the metrics logger, checkpoint save/restore) is
:mod:`langrl.train.setup`, which these call.

- :func:`load_models`: the policy (:func:`langrl.train.setup.load_policy`), its frozen reference (the initial policy,
  or with LoRA the base with adapters off: ``None``), the value function and NLPO's masking policy, restored from
  ``--resume`` when given.
- :func:`make_optimizer_and_schedule`: the policy (and value) parameter groups, linear warm-up then a constant rate.
- :func:`save` / :func:`restore`: the checkpoint (``langrl.train.checkpoint``) with the optimizer, scheduler, KL
  controller, the algorithm's own state (REINFORCE's baseline), the value/mask weights and the RNG streams.
"""
from __future__ import annotations

import copy
import io
from pathlib import Path

import torch

from langrl.train import setup as trainer_setup

VALUE_FILE = "langrl_value.pt"
MASK_FILE = "langrl_mask.pt"


def load_models(spec: str, *, resume: str | None, state, quiet: bool, value_model: str | None = None,
                lora_r: int = 0, lora_alpha: float = 16.0, mask_settings: dict | None = None, value_init: str = ""):
    """(policy, tokenizer, ref_model or None for the LoRA base, critic or None, NLPO mask or None).
    ``value_model``: shared|separate (None = no value function); ``mask_settings``: NLPOMask keywords (None = none);
    ``value_init``: a saved value function (``langrl_value.pt``) a fresh run's critic starts from ("" = zero head)."""
    from langrl.models.value import make_value_function
    from langrl.rollout.nlpo import NLPOMask

    policy, tok, start = trainer_setup.load_policy(spec, resume=resume, state=state, lora_r=lora_r,
                                                   lora_alpha=lora_alpha, quiet=quiet)
    ref_model = None  # with LoRA: the base with adapters disabled
    if start is not None:  # frozen: the initial policy (a copy when the policy is it)
        ref_model = (copy.deepcopy(start) if start is policy else start).eval().requires_grad_(False)
    del start
    policy.eval()  # no dropout: the ratio at the first epoch must be exactly 1
    critic = make_value_function(value_model, policy) if value_model else None
    mask = NLPOMask.copy_of(policy, **mask_settings) if mask_settings is not None else None
    if critic is not None and value_init and not state:
        critic.load_state_dict(torch.load(value_init, weights_only=True))
    if state:
        if critic is not None:
            critic.load_state_dict(torch.load(Path(resume) / VALUE_FILE, weights_only=True))
        if mask is not None:
            mask.model.load_state_dict(torch.load(Path(resume) / MASK_FILE, weights_only=True))
    return policy, tok, ref_model, critic, mask


def make_optimizer_and_schedule(policy, critic, cfg, total_updates: int):
    """(optimizer, scheduler, params): one AdamW group for the policy at ``cfg.learning_rate``, one for the value
    function at ``cfg.value_learning_rate`` (0 or absent = the policy's); ``cfg.weight_decay``; the rate warms up
    linearly over ``cfg.warmup_steps``, then stays constant (:func:`langrl.train.setup.make_optimizer_and_schedule`
    with ``min_ratio=1``)."""
    groups = [{"params": [p for p in policy.parameters() if p.requires_grad], "lr": cfg.learning_rate}]
    if critic is not None:
        groups.append({"params": [p for p in critic.parameters() if p.requires_grad],
                       "lr": getattr(cfg, "value_learning_rate", 0.0) or cfg.learning_rate})
    optimizer, scheduler = trainer_setup.make_optimizer_and_schedule(groups, cfg, total_updates, min_ratio=1.0)
    return optimizer, scheduler, [p for g in groups for p in g["params"]]


def _to_bytes(state_dict) -> bytes:
    buf = io.BytesIO()
    torch.save(state_dict, buf)
    return buf.getvalue()


def save(out, step: int, *, policy, tokenizer, config_yaml: str, logger, optimizer, scheduler, kl, algo, critic=None,
         mask=None, extra_files: dict | None = None, extra_state: dict | None = None, model_state: dict | None = None,
         critic_state: dict | None = None) -> None:
    """Write the checkpoint of a policy-gradient run at ``step`` (atomically; see ``langrl.train.checkpoint``).
    ``model_state`` / ``critic_state``: full state dicts gathered from sharded models (``train/fsdp.py``), written
    instead of ``policy``'s / ``critic``'s own (``policy`` then only gives the architecture: a whole copy)."""
    files = {**(extra_files or {})}
    if critic is not None:
        files[VALUE_FILE] = _to_bytes(critic_state if critic_state is not None else critic.state_dict())
    if mask is not None:
        files[MASK_FILE] = _to_bytes(mask.model.state_dict())
    state = {"kl_controller": kl.state_dict(), **(extra_state or {}), "baseline": getattr(algo, "baseline", None),
             "algo": algo.name}
    save_model = None
    if model_state is not None:
        def save_model(path):
            policy.save_pretrained(path, state_dict=model_state)
    trainer_setup.save(out, step, model=policy, tokenizer=tokenizer, config_yaml=config_yaml, logger=logger,
                       optimizer=optimizer, scheduler=scheduler, extra_state=state, extra_files=files,
                       save_model=save_model)


def restore(state: dict | None, *, optimizer, scheduler, kl, algo, **parts) -> int:
    """Load a checkpoint's state into the run's objects (and the RNG streams); the step to continue from (0 = fresh)."""
    if not state:
        return 0
    algo.load_state_dict(state)
    return trainer_setup.restore(state, optimizer=optimizer, scheduler=scheduler, kl_controller=kl, **parts)
