"""Supervised fine-tuning: cross-entropy on completion tokens only.

The loss of a global batch is Σ token NLL / (number of completion tokens in the whole global batch). Each micro-batch
(and each data-parallel rank) divides its summed NLL by that same global count and gradients are summed, so gradient
accumulation and 2-process data parallelism reproduce the one-big-batch gradient exactly (up to float round-off).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import torch

from langrl import distributed as dist
from langrl.config import arg
from langrl.errors import InputError
from langrl.jsonl import input_flag
from langrl.logging import progress_bar
from langrl.train.config import TrainerConfig
from langrl.train import setup
from langrl.train.checkpoint import check_out_dir, load_state
from langrl.train.data import collate, global_batch_indices, sft_records, split_eval, tokenize_sft


@dataclass
class SFTConfig(TrainerConfig, defaults={"out": "runs/sft", "learning_rate": 1e-3, "warmup_steps": 10}):
    model: str = arg("tiny", "model spec: tiny, tiny:TASK, a HF model dir or hub id, a .gguf file, smollm2")
    data: str = arg("task:arithmetic",
                    "JSONL of prompt/completion, text or messages records, task:NAME or task:NAME:corpus")
    batch_size: int = arg(16, "global batch size in sequences (all ranks, all accumulation steps)")
    max_length: int = arg(256, "max tokens per example; longer prompts are cut from the left")
    eval_fraction: float = arg(0.05, "fraction of records held out for eval loss")
    eval_every: int = arg(50, "steps between eval-loss measurements (0 = only at the end)")
    lora_r: int = arg(0, "LoRA rank (0 = full fine-tuning)")
    lora_alpha: float = arg(16.0, "LoRA alpha")
    task_examples: int = arg(2000, "examples drawn from a task:NAME data source")
    patience: int = arg(0, "early stopping: stop after this many eval-loss measurements in a row (every eval_every "
                           "steps) without a new best, and keep the best measured weights; max_steps stays the cap "
                           "(0 = train all max_steps)")
    min_delta: float = arg(0.0, "early stopping: a new best eval loss must be lower than the best so far by more "
                                "than this (nats per token)")
    lr_schedule: str = arg("cosine", "cosine: warm-up, then cosine decay to 10% at max_steps; wsd: warm-up, a "
                                     "constant rate, then a cosine decay over decay_steps, which with patience starts "
                                     "when the loss stops falling at the constant rate (then the decay runs out and "
                                     "the last weights are kept)", choices=("cosine", "wsd"))
    decay_steps: int = arg(0, "wsd: steps of the final decay (0 = a tenth of max_steps)")

    def validate(self) -> None:
        self.check_trainer("sft")
        if self.max_steps < 1:
            raise InputError("sft: field 'max_steps': expected >= 1")
        if self.micro_batch_size < 1 or self.batch_size % self.micro_batch_size:
            raise InputError(f"sft: batch_size {self.batch_size} must be a multiple of micro_batch_size "
                             f"{self.micro_batch_size}")
        if not 0 <= self.eval_fraction < 1:
            raise InputError("sft: field 'eval_fraction': expected a number in [0, 1)")
        if self.decay_steps < 0 or (self.lr_schedule == "wsd" and self.decay_steps >= self.max_steps):
            raise InputError(f"sft: field 'decay_steps': expected 0 <= decay_steps < max_steps ({self.max_steps}), "
                             f"got {self.decay_steps}")
        if self.patience < 0 or self.min_delta < 0:
            raise InputError("sft: fields 'patience' and 'min_delta': expected >= 0")
        if self.patience:
            if self.eval_every < 1 or self.eval_fraction <= 0:
                raise InputError("sft: field 'patience': early stopping needs eval_every >= 1 and eval_fraction > 0 "
                                 "(a held-out loss measured during training)")
            if (self.resume or self.stop_at) and self.lr_schedule != "wsd":
                raise InputError("sft: field 'patience': early stopping keeps its best weights in memory, so it "
                                 "cannot be combined with resume or stop_at (with --lr-schedule wsd it can: "
                                 "that run keeps its last weights)")


class EarlyStopping:
    """Patience on a measured loss: ``update(step, loss)`` returns True when training should stop.

    A measurement is a new best when it is below the best so far by more than ``min_delta``; ``patience`` measurements
    in a row that are not stop the run. ``best_state`` holds a CPU copy of the weights at the best measurement.
    """

    def __init__(self, patience: int, min_delta: float = 0.0):
        self.patience, self.min_delta = patience, min_delta
        self.best_loss, self.best_step, self.bad, self.best_state = float("inf"), 0, 0, None

    def update(self, step: int, loss: float, model=None) -> bool:
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_step, self.bad = loss, step, 0
            if model is not None:
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            return False
        self.bad += 1
        return self.bad >= self.patience

    def state_dict(self) -> dict:
        """The patience counters (not ``best_state``: a checkpoint of a run that keeps its best weights in memory
        cannot resume, so only the WSD run, which keeps its last weights, saves this)."""
        return {"best_loss": self.best_loss, "best_step": self.best_step, "bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        self.best_loss, self.best_step, self.bad = state["best_loss"], state["best_step"], state["bad"]


def nll_sum(model, batch: dict) -> tuple[torch.Tensor, int]:
    """(Σ NLL over label tokens, number of label tokens) for a right-padded batch."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                                             ignore_index=-100, reduction="sum")
    return loss, int((labels != -100).sum())


@torch.no_grad()
def eval_loss(model, examples, pad_id: int, micro: int) -> float:
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(examples), micro):
        s, c = nll_sum(model, collate(examples[i:i + micro], pad_id))
        total, count = total + s.item(), count + c
    model.train()
    return total / max(1, count)


def make_schedule(model, cfg: SFTConfig):
    """(AdamW, LambdaLR, the WarmupStableDecay multiplier or None) for ``cfg.lr_schedule``."""
    if cfg.lr_schedule == "cosine":
        return (*setup.make_optimizer_and_schedule(model.parameters(), cfg, cfg.max_steps), None)
    return setup.make_optimizer_and_wsd(model.parameters(), cfg, cfg.max_steps,
                                        cfg.decay_steps or max(1, cfg.max_steps // 10))


def run_sft(cfg: SFTConfig, quiet: bool = False) -> dict:
    """Train; write the checkpoint to ``cfg.out``; return the summary metrics."""
    from langrl.models.specs import resolve_model_dir

    dist.init_distributed()
    rank, world = dist.rank(), dist.world_size()
    check_out_dir(cfg.out, cfg.resume, cfg.overwrite)
    accum = cfg.batch_size // (cfg.micro_batch_size * world)
    if accum < 1 or cfg.batch_size % (cfg.micro_batch_size * world):
        raise InputError(f"sft: batch_size {cfg.batch_size} must be a multiple of micro_batch_size × ranks "
                         f"({cfg.micro_batch_size} × {world})")
    torch.manual_seed(cfg.seed)
    resolve_model_dir(cfg.model, build=False)  # a bad spec, then bad data, fail before the model loads
    with input_flag("--data"):
        records = sft_records(cfg.data, cfg.task_examples, cfg.seed)
    state = load_state(cfg.resume) if cfg.resume else None
    model, tok, _ = setup.load_policy(cfg.model, resume=cfg.resume, state=state, lora_r=cfg.lora_r,
                                      lora_alpha=cfg.lora_alpha, quiet=quiet or rank != 0)
    model.train()

    examples, n_trunc = [], 0
    for rec in records:
        ex, cut = tokenize_sft(tok, rec, cfg.max_length)
        examples.append(ex)
        n_trunc += cut
    train_idx, eval_idx = split_eval(len(examples), cfg.eval_fraction, cfg.seed)
    train_ex = [examples[i] for i in train_idx]
    eval_ex = [examples[i] for i in eval_idx]

    opt, sched, wsd = make_schedule(model, cfg)
    stopper = EarlyStopping(cfg.patience, cfg.min_delta) if cfg.patience else None
    # wsd: the step whose measurement started the decay; a checkpoint carries it and the patience counters (the
    # moved decay start itself is in the scheduler's state)
    plateau_step = (state or {}).get("plateau_step")
    if plateau_step is not None:
        stopper = None
    start = setup.restore(state, optimizer=opt, scheduler=sched,
                          **({"stopper": stopper} if stopper is not None and state and "stopper" in state else {}))
    logger, config_yaml = setup.open_run(cfg, start=start, resumed=bool(state), rank=rank)
    pad = tok.pad_token_id

    def checkpoint(step: int, extra_files: dict | None = None) -> None:
        if rank == 0:
            extra = {"plateau_step": plateau_step} if wsd is not None else None
            if wsd is not None and stopper is not None:
                extra["stopper"] = stopper.state_dict()
            setup.save(cfg.out, step, model=model, tokenizer=tok, config_yaml=config_yaml, logger=logger,
                       optimizer=opt, scheduler=sched, extra_state=extra, extra_files=extra_files)
        dist.barrier()

    t0, tokens_seen, last = time.time(), 0, {}
    with progress_bar("sft", total=cfg.max_steps, quiet=quiet) as bar:
        bar.update(start)
        end = min(cfg.max_steps, cfg.stop_at) if cfg.stop_at else cfg.max_steps
        if plateau_step is not None:  # resumed inside the decay: the run ends where the decay does
            end = min(end, plateau_step + wsd.decay_steps)
        for step in range(start, cfg.max_steps):
            if step >= end:
                break
            idx = global_batch_indices(len(train_ex), cfg.batch_size, step, cfg.seed)
            batch_ex = [train_ex[i] for i in idx]
            n_tokens = sum(sum(1 for x in e.labels[1:] if x != -100) for e in batch_ex)  # global normaliser
            mine = batch_ex[rank::world]
            total = torch.zeros(())
            for m in range(accum):
                mb = collate(mine[m * cfg.micro_batch_size:(m + 1) * cfg.micro_batch_size], pad)
                s, _ = nll_sum(model, mb)
                (s / n_tokens).backward()
                total += s.detach()
            dist.all_reduce_sum(total)
            if world > 1:
                for p in model.parameters():
                    if p.grad is not None:
                        dist.all_reduce_sum(p.grad)  # each rank divided by the global count: sum, not mean
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else 1e12)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            tokens_seen += n_tokens
            last = {"loss": total.item() / n_tokens, "grad_norm": float(gnorm), "lr": sched.get_last_lr()[0],
                    "tokens_per_s": tokens_seen / max(1e-9, time.time() - t0)}
            stop = False
            # patience counts the scheduled measurements only: the one a --stop-at end adds is not one, so a run
            # stopped and resumed measures its plateau where the uninterrupted run does
            scheduled = (cfg.eval_every and (step + 1) % cfg.eval_every == 0) or step + 1 == cfg.max_steps
            if eval_ex and (scheduled or step + 1 == end):
                last["eval_loss"] = eval_loss(model, eval_ex, pad, cfg.micro_batch_size)
                if stopper is not None and scheduled:
                    stop = stopper.update(step + 1, last["eval_loss"], None if wsd else model)
            logger.log(step + 1, last)
            bar.update(step + 1, loss=last["loss"])
            if stop and wsd is not None:  # the loss stopped falling at the constant rate: decay from here, then stop
                stop, stopper, plateau_step = False, None, step + 1
                wsd.start_decay(step + 1)
                end = min(end, step + 1 + wsd.decay_steps)
            if stop:
                end = step + 1
                break
            if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < end:
                checkpoint(step + 1)
    summary = {"command": "sft", "steps": end, "final_loss": last.get("loss"),
               "eval_loss": last.get("eval_loss"), "train_examples": len(train_ex), "eval_examples": len(eval_ex),
               "truncated_examples": n_trunc, "seconds": round(time.time() - t0, 2), "world_size": world,
               "batch_size": cfg.batch_size, "out": str(cfg.out)}
    if wsd is not None:
        summary.update({"lr_schedule": "wsd", "decay_start": wsd.decay_start, "decay_steps": wsd.decay_steps,
                        "plateau_step": plateau_step, "stopped_early": end < cfg.max_steps})
    elif stopper is not None:  # the checkpoint holds the best measured weights, not the last ones
        if stopper.best_state is not None:
            model.load_state_dict(stopper.best_state)
        summary.update({"best_step": stopper.best_step, "best_eval_loss": stopper.best_loss,
                        "stopped_early": end < cfg.max_steps, "eval_loss": stopper.best_loss})
    checkpoint(end, {"langrl_metrics.json": json.dumps(summary, indent=2)})
    logger.close()
    return summary
