"""Offline RL from preferences: DPO, IPO, conservative DPO, Plackett-Luce DPO and KTO (``langrl dpo``).

DPO rewrites the Bradley-Terry reward in terms of the policy, r(x, y) = β log π_θ(y|x)/π_ref(y|x) + β log Z(x), so the
reward-model loss becomes a policy loss (Rafailov et al. 2023, eq. 7). The loop is thin:

1. feedback file → units (pairs, ranked lists or rated responses; :mod:`langrl.train.dpo.data`);
2. reference log-probs of every response, once, from the on-disk cache when possible (:mod:`langrl.train.dpo.ref_cache`);
3. per step: a global batch of units, micro-batched and split over ranks, each micro-batch one forward pass over all
   its responses, the objective from the table in :mod:`langrl.train.dpo.objectives`, gradients normalised per
   unit of the global batch (:mod:`langrl.train.dpo.step`);
4. held-out loss, implicit-reward accuracy and KL to the reference; a loadable checkpoint; exact ``--resume``.

Departures from the papers: IPO uses τ = ``--beta`` (TRL's convention); KTO's z0 is estimated from mismatched pairs
fixed once per dataset (each prompt with another unit's response) rather than re-drawn per batch, so their reference
log-probs can be cached; KTO also reads comparisons (chosen desirable, rejected undesirable, as in the KTO paper's
experiments). Reference-free DPO (``--reference-free``) uses log π_ref = 0.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

import torch

from langrl import distributed as dist
from langrl.config import arg
from langrl.errors import InputError
from langrl.logging import progress_bar
from langrl.train.config import TrainerConfig
from langrl.train import setup
from langrl.train.checkpoint import check_out_dir, load_state
from langrl.train.data import global_batch_indices, split_eval
from langrl.train.dpo.objectives import OBJECTIVES


@dataclass
class DPOConfig(TrainerConfig, defaults={"out": "runs/dpo", "warmup_steps": 10}):
    loss: str = arg("dpo", "offline objective", choices=tuple(OBJECTIVES))
    policy: str = arg("tiny", "starting policy: tiny, tiny:TASK, a HF model dir or hub id, a .gguf file, smollm2")
    ref: str | None = arg(None, "reference policy spec (default: the policy's starting point; with LoRA, the base "
                                "with adapters disabled, no second copy)")
    data: str = arg("", "feedback file (JSONL or JSON list; langrl, TRL, Anthropic HH or QA-Feedback records)")
    on_error: str = arg("fail", "bad feedback records: fail (stop at the first) or skip (each reported with path:line, "
                                "a count, and a rejects file)", choices=("fail", "skip"))
    beta: float = arg(0.1, "β: strength of the KL anchor to the reference (IPO: τ)")
    label_smoothing: float = arg(0.1, "cDPO: assumed probability that a preference label is flipped (--loss cdpo)")
    rpo_alpha: float = arg(0.0, "dpo/cdpo: weight of the RPO NLL term on the chosen response (0 = off)")
    ipo_length_average: bool = arg(False, "ipo: average log-ratios per token (TRL) instead of summing (paper)")
    desirable_weight: float = arg(1.0, "kto: λ_D, weight of desirable responses")
    undesirable_weight: float = arg(1.0, "kto: λ_U, weight of undesirable responses")
    rating_threshold: float = arg(0.0, "kto: ratings above are desirable, below undesirable, equal skipped")
    reference_free: bool = arg(False, "use log π_ref = 0 (reference-free DPO/IPO); no reference pass")
    batch_size: int = arg(16, "global batch in units (pairs, lists or rated responses; all ranks, all micro-batches)")
    max_length: int = arg(512, "max tokens per prompt + response; longer records are skipped (see --truncate)")
    truncate: bool = arg(False, "cut over-long records to max_length (prompt from the left, then response) instead")
    eval_fraction: float = arg(0.05, "fraction of units held out for eval loss, accuracy and KL (needs >= 20 units)")
    eval_every: int = arg(50, "steps between held-out evaluations (0 = only at the end)")
    lora_r: int = arg(0, "LoRA rank (0 = full fine-tuning)")
    lora_alpha: float = arg(16.0, "LoRA alpha")
    ref_batch_size: int = arg(32, "sequences per forward in the reference pass")
    ref_cache: bool = arg(True, "read/write reference log-probs under $LANGRL_HOME/ref_logps")

    def validate(self) -> None:
        self.check_trainer("langrl dpo")
        if not self.data:
            raise InputError("langrl dpo: --data FILE is required (a feedback JSONL file)")
        if self.max_steps < 1:
            raise InputError("langrl dpo: field 'max_steps': expected >= 1")
        if self.micro_batch_size < 1 or self.batch_size % self.micro_batch_size:
            raise InputError(f"langrl dpo: batch_size {self.batch_size} must be a multiple of micro_batch_size "
                             f"{self.micro_batch_size}")
        if self.beta <= 0:
            raise InputError("langrl dpo: field 'beta': expected a positive number")
        low_ok = self.label_smoothing > 0 if self.loss == "cdpo" else self.label_smoothing >= 0  # cDPO at 0 = DPO
        if not (low_ok and self.label_smoothing < 0.5):
            raise InputError("langrl dpo: field 'label_smoothing': expected a number in (0, 0.5) (0 is allowed when "
                             "--loss is not cdpo, which alone uses it)")
        if self.rpo_alpha < 0 or (self.rpo_alpha and self.loss not in ("dpo", "cdpo")):
            raise InputError("langrl dpo: field 'rpo_alpha': a weight >= 0, only for --loss dpo or cdpo")
        if self.reference_free and self.loss not in ("dpo", "cdpo", "ipo"):
            raise InputError("langrl dpo: --reference-free is for --loss dpo, cdpo or ipo (KTO and PL need π_ref)")
        if not 0 <= self.eval_fraction < 1:
            raise InputError("langrl dpo: field 'eval_fraction': expected a number in [0, 1)")
        if self.max_length < 2:
            raise InputError("langrl dpo: field 'max_length': expected >= 2")
        OBJECTIVES[self.loss].from_config(self)  # a setting the chosen loss would ignore is refused here


def read_data(cfg: DPOConfig) -> list:
    """The feedback records of ``cfg.data`` (read before any model loads); with ``--on-error skip`` each bad record is
    reported on stderr as path:line with a count."""
    from langrl.feedback import read_feedback
    from langrl.jsonl import input_flag

    with input_flag("--data"):
        fb = read_feedback(cfg.data, on_error=cfg.on_error)
    if fb.skipped and dist.is_main_process():
        print(fb.report(), file=sys.stderr)
    return fb.records


def load_units(cfg: DPOConfig, tok, shape: str, records: list | None = None):
    """Build units from the feedback records (read here unless given); refuse a file with nothing usable; report
    skipped records on stderr (also under --json: stdout stays machine-readable)."""
    from langrl.train.dpo.data import build_units

    records = read_data(cfg) if records is None else records
    data = build_units(records, tok, shape=shape, max_length=cfg.max_length, truncate=cfg.truncate,
                       rating_threshold=cfg.rating_threshold, seed=cfg.seed)
    st = data.stats
    if st["too_long_skipped"] and dist.is_main_process():
        first = ", ".join(f"record {n} ({k} tokens)" for n, k in st["too_long"])
        print(f"warning: {cfg.data}: skipped {st['too_long_skipped']} unit(s) longer than max_length {cfg.max_length} "
              f"tokens (e.g. {first}); pass --truncate to cut them instead", file=sys.stderr)
    if not data.units:
        found = ", ".join(f"{k} {n}" for k, n in st["ignored"].items()) or "none usable"
        extra = f"; {st['too_long_skipped']} too long" if st["too_long_skipped"] else ""
        extra += f"; {st['ties_skipped']} ties skipped" if st["ties_skipped"] else ""
        raise InputError(f"no training units for --loss {cfg.loss} (ignored: {found}{extra}); {cfg.loss} reads "
                         + {"pair": "comparisons, rankings, critiques with refinements, spans with corrections",
                            "list": "rankings, comparisons, critiques with refinements, spans with corrections",
                            "single": "ratings, comparisons, rankings, critiques with refinements"}[shape],
                         path=cfg.data)
    return data


class Reference:
    """The reference policy, only when needed: the LoRA base with adapters disabled, or a frozen loaded model."""

    def __init__(self, cfg: DPOConfig, policy, lora: bool, quiet: bool):
        self.cfg, self.policy, self.lora, self.quiet = cfg, policy, lora, quiet
        self.spec = cfg.ref or cfg.policy
        self._model = None

    def shares_policy(self) -> bool:
        return self.lora and self.cfg.ref is None

    def borrow(self, model) -> None:
        """Use ``model`` (the untouched starting point) as the reference until :meth:`release`: no second load."""
        self._model = model

    def release(self) -> None:
        """Forget a borrowed policy (it is about to move); a later call loads the reference itself."""
        self._model = None

    def __call__(self):
        """A context manager yielding the reference model."""
        from langrl.models.lora import adapters_disabled
        from langrl.train.dpo.step import frozen

        if self.shares_policy():
            return adapters_disabled(self.policy)
        if self._model is None:
            from langrl.models.specs import load_causal_lm

            self._model, _ = load_causal_lm(self.spec, quiet=self.quiet)
            self._model.requires_grad_(False)
        return frozen(self._model)


def reference_logps(cfg: DPOConfig, data, reference: Reference, pad: int) -> tuple[torch.Tensor, dict]:
    from langrl.models.specs import resolve_model_dir
    from langrl.train.dpo import ref_cache
    from langrl.train.dpo.step import sharded_row_logps

    if cfg.reference_free:
        return torch.zeros(len(data.prompts)), {"hit": None, "seconds": 0.0}

    def compute():
        with reference() as ref_model:
            return sharded_row_logps(ref_model, data, pad, cfg.ref_batch_size)

    def agree(hit: bool) -> bool:  # every rank must take the same path: compute() is collective
        return dist.all_reduce_sum(torch.tensor([float(not hit)])).item() == 0

    return ref_cache.reference_logps(data.prompts, data.responses, compute,
                                     model_dir=resolve_model_dir(reference.spec, quiet=True),
                                     use_cache=cfg.ref_cache, write=dist.is_main_process(), agree=agree)


def run_dpo(cfg: DPOConfig, quiet: bool = False) -> dict:
    """Train; write the checkpoint to ``cfg.out``; return the summary metrics."""
    from langrl.models.specs import resolve_model_dir
    from langrl.train.dpo.step import evaluate, train_step

    dist.init_distributed()
    rank, world = dist.rank(), dist.world_size()
    check_out_dir(cfg.out, cfg.resume, cfg.overwrite)
    if cfg.batch_size % (cfg.micro_batch_size * world):
        raise InputError(f"langrl dpo: batch_size {cfg.batch_size} must be a multiple of micro_batch_size × ranks "
                         f"({cfg.micro_batch_size} × {world})")
    objective = OBJECTIVES[cfg.loss].from_config(cfg)  # owns β and the loss's own settings
    torch.manual_seed(cfg.seed)
    state = load_state(cfg.resume) if cfg.resume else None
    resolve_model_dir(cfg.policy, build=False)  # a bad spec, then bad data, fail before any model loads
    records = read_data(cfg)
    model, tok, start = setup.load_policy(cfg.policy, resume=cfg.resume, state=state, lora_r=cfg.lora_r,
                                          lora_alpha=cfg.lora_alpha, quiet=quiet or rank != 0)
    data = load_units(cfg, tok, objective.shape, records)
    pad = tok.pad_token_id
    reference = Reference(cfg, model, bool(cfg.lora_r), quiet or rank != 0)
    if start is not None and cfg.ref is None:  # the untouched starting point is the reference: no second load
        reference.borrow(start.requires_grad_(False) if start is not model else start)
    ref, ref_info = reference_logps(cfg, data, reference, pad)
    if start is model:
        reference.release()  # the policy itself scored the reference pass, before it trains
    del start
    model.train()

    train_idx, eval_idx = split_eval(len(data.units), cfg.eval_fraction, cfg.seed)
    train_units = [data.units[i] for i in train_idx]
    eval_units = [data.units[i] for i in eval_idx]
    opt, sched = setup.make_optimizer_and_schedule(model.parameters(), cfg, cfg.max_steps)
    start = setup.restore(state, optimizer=opt, scheduler=sched)
    logger, config_yaml = setup.open_run(cfg, start=start, resumed=bool(state), rank=rank)

    def save(step: int, extra=None) -> None:
        if rank == 0:
            setup.save(cfg.out, step, model=model, tokenizer=tok, config_yaml=config_yaml, logger=logger,
                       optimizer=opt, scheduler=sched, extra_files=extra)
        dist.barrier()

    def held_out() -> dict:
        return evaluate(model, data, eval_units, ref, pad, objective=objective,
                        batch_size=cfg.micro_batch_size, reference=None if cfg.reference_free else reference)

    t0, seen, last = time.time(), 0, {}
    end = min(cfg.max_steps, cfg.stop_at) if cfg.stop_at else cfg.max_steps
    with progress_bar(f"dpo ({cfg.loss})", total=cfg.max_steps, quiet=quiet) as bar:
        bar.update(start)
        for step in range(start, end):
            idx = global_batch_indices(len(train_units), cfg.batch_size, step, cfg.seed)
            mine = [train_units[i] for i in idx][rank::world]
            last = train_step(model, data, mine, cfg.batch_size, ref, pad, objective=objective,
                              micro_batch_size=cfg.micro_batch_size)
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else 1e12)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            seen += cfg.batch_size
            last.update(grad_norm=float(gnorm), lr=sched.get_last_lr()[0],
                        units_per_s=seen / max(1e-9, time.time() - t0))
            if eval_units and ((cfg.eval_every and (step + 1) % cfg.eval_every == 0) or step + 1 == end):
                last.update(held_out())
            logger.log(step + 1, last)
            bar.update(step + 1, loss=last["loss"], acc=last["accuracy"])
            if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < end:
                save(step + 1)
    st = data.stats
    summary = {"command": "dpo", "loss": cfg.loss, "steps": end, "final_loss": last.get("loss"),
               "accuracy": last.get("accuracy"), "margin": last.get("margin"),
               "chosen_rewards": last.get("chosen_rewards"), "rejected_rewards": last.get("rejected_rewards"),
               **{k: last[k] for k in ("eval_loss", "eval_accuracy", "eval_kl") if k in last},
               "train_units": len(train_units), "eval_units": len(eval_units), "rows": st["rows"],
               "units_from": st["from"], "ties_skipped": st["ties_skipped"], "ignored": st["ignored"],
               "too_long_skipped": st["too_long_skipped"], "truncated": st["truncated"],
               "neutral_ratings_skipped": st["neutral_ratings_skipped"],
               "ref_cache": ("off (reference-free)" if cfg.reference_free else "disabled" if not cfg.ref_cache
                             else "hit" if ref_info["hit"] else "miss"),
               "ref_seconds": round(ref_info["seconds"], 3), "seconds": round(time.time() - t0, 2),
               "world_size": world, "out": str(cfg.out)}
    save(end, {"langrl_metrics.json": json.dumps(summary, indent=2, default=str)})
    logger.close()
    return summary

