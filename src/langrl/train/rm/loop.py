"""Reward-model training from any mix of feedback kinds; each record uses its own likelihood.

    ratings      -> binary_loss (logistic; graded ratings are target probabilities)
    comparisons  -> bradley_terry_loss (with margins); when the data holds ties, every comparison uses the tie model
                    (Davidson by default, or Rao-Kupper) with its tie parameter learned, the margin shifting r_c
    rankings     -> plackett_luce_loss, or plackett_luce_tiers_loss (Breslow) when a ranking has tied tiers
    spans        -> segment_classification_loss on the last token of each segment, one head per category
    critiques    -> a comparison (refinement preferred) when they carry a refinement

The loss of a global batch of N records is ( sum of per-record losses over sequence-level records
+ N_spans x mean BCE over the labelled (segment, category) entries of span records ) / N, averaged over ensemble
heads. Every micro-batch (and data-parallel rank) divides by the global counts and gradients are summed, so gradient
accumulation and data parallelism reproduce the one-big-batch gradient exactly.

Ensembles: ``--ensemble N`` puts N heads on one backbone (``--ensemble-mode heads``) or trains N whole models
(``models``, written to ``out/member_i``). With ``--bootstrap`` each head / model sees its own double-or-nothing
resample of the records (weight 2 or 0 with probability 1/2; Owen & Eckles 2012), so ensemble disagreement
reflects what the data leaves uncertain rather than initialisation alone. ``--recency-half-life`` / ``--window``
multiply those weights by each record's recency weight (:mod:`langrl.train.rm.recency`). ``--objectives A,B``: one
head per objective instead, each record training its own (:mod:`langrl.train.rm.objectives`).
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from langrl import distributed as dist
from langrl.config import arg
from langrl.errors import InputError
from langrl.logging import progress_bar
from langrl.models.rm.data import SEGMENTERS, records_to_items
from langrl.models.rm.losses import batch_counts, micro_batch_loss
from langrl.models.rm.model import CONFIG_FILE, FORMAT, POOLINGS, TIE_MODELS
from langrl.train.config import TrainerConfig
from langrl.train import setup
from langrl.train.checkpoint import STATE_FILE, check_out_dir, load_state
from langrl.train.data import global_batch_indices


@dataclass
class RMConfig(TrainerConfig, defaults={"warmup_steps": 5}):
    # shared fields whose meaning is more specific here
    out: str = arg("runs/rm", "output directory (reward model: backbone + heads + reward_config.json)")
    max_steps: int = arg(0, "optimizer steps (0: from --epochs)")
    learning_rate: float = arg(1e-4, "backbone learning rate (AdamW, warm-up then cosine)")
    stop_at: int = arg(0, "stop with a checkpoint after this many steps (0: run to the end; per member in models mode)")
    # the reward model's own fields
    data: list[str] = arg([], "feedback file(s), JSONL or a JSON list, any mix of kinds (repeat --data for several)")
    base: str = arg("minilm", "backbone: minilm (encoder), tiny, tiny:TASK, smollm2, a HF model dir or id, a .gguf")
    loss: str = arg("auto", "auto: each record its own loss; binary|bt|pl|spans: convert or keep only that kind",
                    choices=("auto", "binary", "bt", "pl", "spans"))
    kind: str | None = arg(None, "read every record as this kind (default: tell from each record's fields)")
    fmt: str = arg("auto", "input format: auto, langrl, trl, hh, qa-feedback")
    on_error: str = arg("fail", "bad records: fail (stop at the first) or skip (count, write a rejects file)",
                        choices=("fail", "skip"))
    eval_data: str | None = arg(None, "held-out feedback file (default: --eval-fraction of --data)")
    eval_fraction: float = arg(0.1, "share of records (whole prompts) held out for evaluation without --eval-data")
    ensemble: int = arg(1, "ensemble size (heads on one backbone, or whole models)")
    ensemble_mode: str = arg("heads", "heads: N heads share a backbone; models: N independently trained models",
                             choices=("heads", "models"))
    bootstrap: bool = arg(True, "with an ensemble, train each member on its own double-or-nothing bootstrap resample")
    pooling: str = arg("auto", "sequence pooling: auto (causal LM: last token; encoder: mean), last, mean (all "
                       "tokens), response-mean (response tokens only)", choices=("auto", *POOLINGS))
    tie_model: str = arg("davidson", "tie likelihood used when the data holds ties", choices=TIE_MODELS)
    categories: list[str] = arg([], "span categories with a head each (default: every category in the data)")
    objectives: list[str] = arg([], "attribute heads, one per objective (helpful,harmless): every record names its "
                                    "objective in an 'objective' field and trains that head only (default: off)")
    segment: str = arg("sentence", "span-feedback segments whose last token carries the labels", choices=SEGMENTERS)
    max_length: int = arg(256, "max tokens per sequence; the whole response is kept, the prompt cut from the left")
    epochs: float = arg(0.0, "passes over the training records (0: one pass unless --max-steps is given)")
    batch_size: int = arg(16, "global batch in feedback records (a ranking of 4 is 1 record and 4 sequences)")
    head_learning_rate: float = arg(1e-3, "learning rate of the heads and the tie parameter")
    freeze_backbone: bool = arg(False, "train the heads only (fast; a linear probe on the backbone's features)")
    eval_every: int = arg(0, "steps between evaluations (0: only at the end)")
    stats_samples: int = arg(1000, "training responses scored at the end for each head's mean/std (normalisation)")
    recency_half_life: float = arg(0.0, "weight each record by 2^(-age / half-life), age = seconds before the newest "
                                         "record's time field (0: off; every record then needs a time)")
    window: float = arg(0.0, "train only on records at most this many seconds older than the newest (0: off)")
    gold_task: str | None = arg(None, "built-in task (TASK or TASK:SCORE) whose hidden gold evaluator also scores "
                                      "the held-out records (gold_* metrics; records without the task's meta are "
                                      "left out)")

    def validate(self) -> None:
        self.check_trainer("rm train")
        if not self.data:
            raise InputError("rm train: --data FILE is required (repeat it for several files)", field="data")
        if self.epochs and self.max_steps:
            raise InputError("rm train: give --epochs or --max-steps, not both", field="max_steps")
        if self.epochs < 0 or self.max_steps < 0:
            raise InputError("rm train: --epochs and --max-steps must be >= 0", field="epochs")
        if self.ensemble < 1:
            raise InputError("rm train: field 'ensemble': expected >= 1", field="ensemble")
        if self.micro_batch_size < 1 or self.batch_size % self.micro_batch_size:
            raise InputError(f"rm train: batch_size {self.batch_size} must be a multiple of micro_batch_size "
                             f"{self.micro_batch_size}", field="batch_size")
        if not 0 <= self.eval_fraction < 1:
            raise InputError("rm train: field 'eval_fraction': expected a number in [0, 1)", field="eval_fraction")
        if self.max_length < 8:
            raise InputError("rm train: field 'max_length': expected >= 8", field="max_length")
        if self.recency_half_life < 0 or self.window < 0:
            raise InputError("rm train: --recency-half-life and --window must be >= 0 (0: off)",
                             field="recency_half_life" if self.recency_half_life < 0 else "window")
        if self.objectives:
            from langrl.train.rm.objectives import parse_objectives

            self.objectives = parse_objectives(self.objectives, self.ensemble)
        if self.gold_task:
            from langrl.tasks import get_task

            get_task(self.gold_task.partition(":")[0])


def read_records(paths: list[str], kind, fmt: str, on_error: str, quiet: bool) -> list:
    """All records of ``paths`` (each file's summary printed unless ``quiet``)."""
    from langrl.feedback import read_feedback
    from langrl.jsonl import input_flag

    records = []
    for path in paths:
        with input_flag("--data"):
            fb = read_feedback(path, kind=kind, fmt=fmt, on_error=on_error)
        if not quiet or fb.skipped:
            print(fb.report(), file=sys.stderr)  # stderr: stdout stays one JSON object under --json
        records += fb.records
    if not records:
        raise InputError(f"no feedback records in {', '.join(paths)}", field="data")
    return records


def split_records(n: int, frac: float, seed: int, groups: list | None = None) -> tuple[list[int], list[int]]:
    """(train, eval) record indices: a seeded shuffle, ``frac`` held out (none below 10 records).

    With ``groups`` (one hashable per record: its prompt), whole groups are held out, taken in the shuffled order of
    their first record until at least ``round(n * frac)`` records are out: pairs from one prompt share responses, and
    a record split would score held-out pairs on responses the model was trained on.
    """
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 17)).tolist()
    k = int(round(n * frac)) if n >= 10 else 0
    if groups is None or not k:
        return perm[k:], perm[:k]
    held: set = set()
    n_held = 0
    sizes: dict = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    for i in perm:
        if n_held >= k:
            break
        if groups[i] not in held:
            held.add(groups[i])
            n_held += sizes[groups[i]]
    return [i for i in perm if groups[i] not in held], [i for i in perm if groups[i] in held]


def data_facts(records, categories: list[str], loss: str) -> dict:
    """What the model's shape depends on: categories, whether tied pairs occur (tied ranking tiers only count when
    ``--loss bt`` turns them into tied pairs), the numeric rating range."""
    from langrl.feedback.records import Comparison, Ranking, Rating, SpanFeedback

    cats = list(categories) or sorted({s.category for r in records if isinstance(r, SpanFeedback) for s in r.spans})
    has_spans = any(isinstance(r, SpanFeedback) for r in records)
    nums = [float(r.rating) for r in records if isinstance(r, Rating) and not isinstance(r.rating, bool)]
    ties = any((isinstance(r, Comparison) and r.tie and loss in ("auto", "bt"))
               or (isinstance(r, Ranking) and loss == "bt" and any(len(t) > 1 for t in r.tiers)) for r in records)
    return {"categories": cats if has_spans else [], "ties": ties,
            "rating_range": [min(nums, default=-1.0), max(nums, default=1.0)]}


def parameter_groups(model, cfg: RMConfig) -> list[dict]:
    """The optimizer's groups: the heads (and tie parameter) at ``head_learning_rate``, then the backbone at
    ``learning_rate`` unless ``--freeze-backbone`` (which turns its gradients off here)."""
    if cfg.freeze_backbone:
        for p in model.backbone.parameters():
            p.requires_grad_(False)
    heads = [p for n, p in model.named_parameters() if not n.startswith("backbone.") and p.requires_grad]
    groups = [{"params": heads, "lr": cfg.head_learning_rate}]
    body = [p for p in model.backbone.parameters() if p.requires_grad]
    if body:
        groups.append({"params": body, "lr": cfg.learning_rate})
    return groups


@torch.no_grad()
def head_statistics(model, items, n: int, seed: int) -> tuple[list[float], list[float]]:
    """Per-head mean and std of the raw scores of up to ``n`` training sequences (for normalisation)."""
    seqs = [s for it in items for s in it.seqs]
    g = torch.Generator().manual_seed(seed + 29)
    pick = torch.randperm(len(seqs), generator=g)[:n].tolist()
    seqs = sorted((seqs[i] for i in pick), key=lambda s: len(s.input_ids))
    model.eval()
    scores = torch.cat([model(**model.collate(seqs[k:k + 32]))["scores"] for k in range(0, len(seqs), 32)])
    model.train()
    std = scores.std(0, unbiased=False) if len(seqs) > 1 else torch.ones(scores.shape[1])
    return scores.mean(0).tolist(), std.clamp_min(1e-6).tolist()


def _gold(cfg: RMConfig):
    from langrl.models.rm.eval import TaskGold

    return TaskGold(cfg.gold_task) if cfg.gold_task else None


def eval_summary(metrics: dict) -> dict:
    """Evaluation metrics as ``eval_<name>``, NaN (undefined) as None so summaries stay valid JSON."""
    return {f"eval_{k}": None if isinstance(v, float) and math.isnan(v) else v for k, v in metrics.items()}


def run_rm_train(cfg: RMConfig, quiet: bool = False) -> dict:
    """Train (one model, or each member of a model ensemble); write ``cfg.out``; return the summary."""
    if cfg.ensemble_mode == "heads" or cfg.ensemble == 1:
        return _train_one(cfg, cfg.out, cfg.resume, cfg.seed, cfg.ensemble, member=None, quiet=quiet)
    check_out_dir(cfg.out, cfg.resume, cfg.overwrite)
    summaries, members = [], []
    for m in range(cfg.ensemble):
        name = f"member_{m}"
        sub = Path(cfg.out) / name
        resume = None
        if (sub / STATE_FILE).is_file() and cfg.resume:
            resume = str(sub)
            metrics = sub / "langrl_metrics.json"
            done = json.loads(metrics.read_text()) if metrics.is_file() else None
            if done and done.get("finished"):
                summaries.append(done)
                members.append(name)
                continue
        summaries.append(_train_one(cfg, sub, resume, cfg.seed + 1000 * m, 1, member=m, quiet=quiet))
        members.append(name)
        if not summaries[-1].get("finished"):
            break
    finished = len(members) == cfg.ensemble and all(s.get("finished") for s in summaries)
    summary = {"command": "rm train", "ensemble": cfg.ensemble, "ensemble_mode": "models", "finished": finished,
               "members": members, "out": str(cfg.out)}
    for key in ("eval_pairwise_accuracy", "eval_kendall_tau", "eval_rating_auc", "eval_span_macro_f1"):
        vals = [s[key] for s in summaries if isinstance(s.get(key), float)]
        if vals:
            summary[key + "_mean_member"] = sum(vals) / len(vals)
    if finished and dist.is_main_process():
        from langrl.io import atomic_write_json

        atomic_write_json(Path(cfg.out) / CONFIG_FILE, {"format": FORMAT, "members": members, "base": cfg.base})
        if cfg.eval_data or cfg.eval_fraction:
            from langrl.models.rm.eval import evaluate
            from langrl.models.rm.model import load_reward_model

            summary.update(eval_summary(evaluate(load_reward_model(cfg.out), _eval_records(cfg, quiet=True),
                                                    gold=_gold(cfg))))
        atomic_write_json(Path(cfg.out) / "langrl_metrics.json", summary)
    return summary


def _eval_records(cfg: RMConfig, quiet: bool) -> list:
    if cfg.eval_data:
        return read_records([cfg.eval_data], cfg.kind, cfg.fmt, cfg.on_error, quiet)
    records = read_records(cfg.data, cfg.kind, cfg.fmt, cfg.on_error, quiet=True)
    _, ev = split_records(len(records), cfg.eval_fraction, cfg.seed, [repr(r.prompt) for r in records])
    return [records[i] for i in ev]


def _train_one(cfg: RMConfig, out, resume, seed: int, n_heads: int, member, quiet: bool) -> dict:
    from langrl.models.rm.eval import evaluate
    from langrl.models.rm.model import build_reward_model, load_reward_model

    dist.init_distributed()
    rank, world = dist.rank(), dist.world_size()
    if member is None:
        check_out_dir(out, resume, cfg.overwrite)
    accum = cfg.batch_size // (cfg.micro_batch_size * world)
    if accum < 1 or cfg.batch_size % (cfg.micro_batch_size * world):
        raise InputError(f"rm train: batch_size {cfg.batch_size} must be a multiple of micro_batch_size x ranks "
                         f"({cfg.micro_batch_size} x {world})", field="batch_size")
    torch.manual_seed(seed)
    if cfg.objectives:  # every record names its objective: checked before any model is loaded
        from langrl.train.rm.objectives import check_objective_rows, head_of

        check_objective_rows(cfg.data + ([cfg.eval_data] if cfg.eval_data else []), cfg.objectives)
    records = read_records(cfg.data, cfg.kind, cfg.fmt, cfg.on_error, quiet or rank != 0 or member is not None)
    if cfg.eval_data:
        train_recs, eval_recs = records, read_records([cfg.eval_data], cfg.kind, cfg.fmt, cfg.on_error, True)
    else:
        tr, ev = split_records(len(records), cfg.eval_fraction, cfg.seed,  # same split for every member
                               [repr(r.prompt) for r in records])  # by prompt: no shared responses
        train_recs, eval_recs = [records[i] for i in tr], [records[i] for i in ev]
    facts = data_facts(records, cfg.categories, cfg.loss)
    state = load_state(resume) if resume else None
    if state:
        model = load_reward_model(resume)
        if not hasattr(model, "backbone"):
            raise InputError(f"--resume {resume}: an ensemble directory; resume it with --ensemble-mode models")
    else:
        model = build_reward_model(cfg.base, pooling=cfg.pooling, n_heads=len(cfg.objectives) or n_heads,
                                   categories=facts["categories"], tie_model=cfg.tie_model if facts["ties"] else None,
                                   max_length=cfg.max_length, segment=cfg.segment, seed=seed, quiet=quiet or rank != 0)
        model.meta.update(rating_range=facts["rating_range"], **({"objectives": cfg.objectives} if cfg.objectives
                                                                  else {}))  # objectives: one head each
    model.train()
    convert = dict(loss=cfg.loss, encode=model.encode, categories=model.categories,
                   rating_range=tuple(model.meta.get("rating_range", (-1.0, 1.0))),
                   head=(lambda rec: head_of(rec, cfg.objectives)) if cfg.objectives else None)
    item_w = None
    if cfg.recency_half_life or cfg.window:
        from langrl.train.rm.recency import recency_items

        items, dropped, item_w = recency_items(train_recs, cfg.recency_half_life, cfg.window, convert)
    else:
        items, dropped = records_to_items(train_recs, **convert)
    model.meta.setdefault("sequence_head", any(it.kind != "spans" for it in items))  # False: a spans-only model
    if dropped and not quiet and rank == 0:
        print("left out: " + "; ".join(f"{n}x {why}" for why, n in dropped.items()), file=sys.stderr)
    if not items:
        raise InputError(f"no training records usable with --loss {cfg.loss} in {', '.join(cfg.data)}", field="loss")
    if any(it.kind == "comparison" and it.tie for it in items) and model.tie_param is None:
        raise InputError("the data holds ties but the resumed model has no tie parameter", field="resume")
    total = cfg.max_steps or max(1, math.ceil((cfg.epochs or 1.0) * len(items) / cfg.batch_size))
    # bootstrap weights (item x head): 2 or 0 with probability 1/2 (double-or-nothing), fixed by the seed
    g = torch.Generator().manual_seed(seed + 7)
    boot = cfg.bootstrap and cfg.ensemble > 1
    weights = (torch.rand(len(items), n_heads, generator=g) < 0.5).float() * 2 if boot else torch.ones(len(items),
                                                                                                      n_heads)
    if item_w is not None:
        weights = weights * item_w.unsqueeze(1)  # recency x bootstrap, per item and head
    opt, sched = setup.make_optimizer_and_schedule(parameter_groups(model, cfg), cfg, total)
    start = setup.restore(state, optimizer=opt, scheduler=sched)
    logger, config_yaml = setup.open_run(cfg, start=start, resumed=bool(state), rank=rank, out=out)

    def checkpoint(step: int, extra: dict | None = None) -> None:
        if rank == 0:
            setup.save(out, step, model=model.backbone, tokenizer=model.tokenizer, config_yaml=config_yaml,
                       logger=logger, optimizer=opt, scheduler=sched,
                       extra_files={**model.extra_files(), **(extra or {})})
        dist.barrier()

    t0, seen, last = time.time(), 0, {}
    end = min(total, cfg.stop_at) if cfg.stop_at else total
    label = "rm" if member is None else f"rm member {member}"
    with progress_bar(label, total=total, quiet=quiet) as bar:
        bar.update(start)
        for step in range(start, end):
            idx = global_batch_indices(len(items), cfg.batch_size, step, seed)
            counts = batch_counts([items[i] for i in idx])
            mine = idx[rank::world]
            loss_sum, parts = torch.zeros(()), {}
            for m in range(accum):
                mb = mine[m * cfg.micro_batch_size:(m + 1) * cfg.micro_batch_size]
                if not mb:
                    continue
                loss, p = micro_batch_loss(model, [items[i] for i in mb], weights[mb], **counts)
                loss.backward()
                loss_sum += loss.detach()
                for k, (v, n) in p.items():
                    s, c = parts.get(k, (0.0, 0))
                    parts[k] = (s + v * n, c + n)
            dist.all_reduce_sum(loss_sum)
            params = [p_ for p_ in model.parameters() if p_.requires_grad]
            for p_ in params:  # a head no record of this batch (or rank) reached gets a zero gradient, so every
                if p_.grad is None:  # rank joins the same collectives and AdamW treats it the same in every layout
                    p_.grad = torch.zeros_like(p_)
                if world > 1:
                    dist.all_reduce_sum(p_.grad)  # every rank divided by the global counts: sum, not mean
            gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else 1e12)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            seen += sum(len(items[i].seqs) for i in idx)
            last = {"loss": loss_sum.item(), "grad_norm": float(gnorm), "lr": sched.get_last_lr()[-1],
                    "sequences_per_s": seen / max(1e-9, time.time() - t0),
                    **{k: s / c for k, (s, c) in parts.items() if c}}
            if model.tie_param is not None:
                last["tie_param"] = model.tie_param.item()
            if eval_recs and cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < end:
                last.update({k: v for k, v in eval_summary(evaluate(model, eval_recs, gold=_gold(cfg))).items()
                             if isinstance(v, float)})
            logger.log(step + 1, last)
            bar.update(step + 1, loss=last["loss"])
            if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < end:
                checkpoint(step + 1)
    finished = end == total
    summary = {"command": "rm train", "base": cfg.base, "steps": end, "finished": finished,
               "final_loss": last.get("loss"), "train_records": len(train_recs), "train_items": len(items),
               "eval_records": len(eval_recs), "n_heads": model.n_heads, "categories": model.categories,
               "ties_modelled": model.tie_model,
               "truncated_sequences": sum(s.truncated for it in items for s in it.seqs),
               "seconds": round(time.time() - t0, 2), "out": str(out)}
    if finished:
        mean, std = head_statistics(model, items, cfg.stats_samples, seed)
        model.meta.update(score_mean=mean, score_std=std)
        if eval_recs:
            ev = eval_summary(evaluate(model, eval_recs, gold=_gold(cfg)))
            summary.update(ev)
            logger.log(end, {k: v for k, v in ev.items() if isinstance(v, float)})
    checkpoint(end, {"langrl_metrics.json": json.dumps(summary, indent=2, default=str)})
    logger.close()
    return summary
