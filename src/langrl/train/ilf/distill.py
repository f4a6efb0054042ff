"""``langrl distill``: critique-conditioned self-distillation — the policy with the critique in context teaches the
policy without it, so feedback given at training time is not needed at inference.

Set-up (once, kept in ``out/teacher.jsonl`` with every checkpoint): for ``--prompts`` training prompts the starting policy answers (y0),
the simulated language annotator critiques each answer (one annotator action each), and the teacher — the starting
policy, frozen, reading the refinement prompt of :mod:`langrl.train.ilf.prompt` (question, y0, critique) — writes
y_T. The student (the policy, trained) then minimises

    L = a · NLL(plain SFT data) + b · L_distill                                       (mixture_loss)

with ``--sft-weight`` a and ``--distill-weight`` b, L_distill per token over y_T given only the prompt:

- ``--target samples``: the NLL of the teacher's samples (train on the teacher's improved answers);
- ``--target kl``: KL(p_teacher(· | refinement prompt, y_T<t) || p_student(· | prompt, y_T<t)) (teacher_kl).

Each step draws one global batch of SFT records and one of teacher examples, each walked like ``langrl sft``'s
(``global_batch_indices``), each term divided by its own global token count. With (a, b) = (1, 0) no teacher term is
computed and a step is exactly ``langrl sft``'s step on the same data (tested: identical weights). Single process.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from langrl.config import arg
from langrl.errors import InputError
from langrl.train.config import TrainerConfig


@dataclass
class DistillConfig(TrainerConfig, defaults={"out": "runs/distill", "learning_rate": 1e-4}):
    model: str = arg("", "policy to start from (student and, frozen, teacher): a model spec or a trainer's --out")
    task: str = arg("factqa", "built-in task: training prompts and the simulated annotator's gold",
                    choices=("factqa", "arithmetic"))
    sft_data: str = arg("task:factqa", "plain SFT data of the mixture's first term (as `langrl sft --data`)")
    task_examples: int = arg(2000, "examples drawn from a task:NAME sft_data source")
    prompts: int = arg(64, "training prompts the teacher answers with a critique in context (annotator actions)")
    target: str = arg("samples", "distillation term: samples (NLL of the teacher's answers) or kl (token KL to the "
                                 "teacher's distribution)", choices=("samples", "kl"))
    sft_weight: float = arg(0.5, "weight a of the SFT term")
    distill_weight: float = arg(1.0, "weight b of the distillation term")
    annotator_seed: int = arg(0, "seed of the simulated language annotator")
    noise: float = arg(0.1, "annotator: probability of a partial or wrong critique")
    hedge: float = arg(0.3, "annotator: probability of a hedge per critique sentence")
    temperature: float = arg(1.0, "sampling temperature of the answers and the teacher")
    max_new_tokens: int = arg(48, "token budget per answer")
    batch_size: int = arg(16, "global batch of each term (sequences)")
    max_length: int = arg(384, "max tokens per example (the teacher's refinement prompt is cut from the left)")

    def validate(self) -> None:
        self.check_trainer("distill")
        if not self.model:
            raise InputError("distill: --model POLICY is required", field="model")
        if self.sft_weight < 0 or self.distill_weight < 0 or self.sft_weight + self.distill_weight == 0:
            raise InputError("distill: fields 'sft_weight' and 'distill_weight': expected >= 0, not both 0",
                             field="sft_weight")
        for name in ("max_steps", "prompts", "batch_size", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"distill: field '{name}': expected >= 1", field=name)
        if self.batch_size % self.micro_batch_size:
            raise InputError(f"distill: batch_size {self.batch_size} must be a multiple of micro_batch_size "
                             f"{self.micro_batch_size}", field="batch_size")


def teacher_examples(cfg: DistillConfig, model, tok) -> list[dict]:
    """``{"prompt", "teacher_prompt", "completion", "critique"}`` per training prompt (the teacher's answers)."""
    from langrl.rollout import sample
    from langrl.tasks import get_task
    from langrl.tasks.language import LanguageAnnotator
    from langrl.train.ilf.prompt import refinement_prompt

    task = get_task(cfg.task)
    ann = LanguageAnnotator(task, seed=cfg.annotator_seed, noise=cfg.noise, hedge=cfg.hedge)
    rows = task.prompts("train", cfg.prompts, 1000 * cfg.seed + 999)
    y0 = sample(model, tok, [r["prompt"] for r in rows], n=1, max_new_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature, seed=cfg.seed * 7919 + 5).responses
    crits = [ann.critique(r, y)["critique"] for r, y in zip(rows, y0)]
    tprompts = [refinement_prompt(r["prompt"], y, c) for r, y, c in zip(rows, y0, crits)]
    yt = sample(model, tok, tprompts, n=1, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                stop=["\n"], max_prompt_tokens=cfg.max_length - cfg.max_new_tokens, seed=cfg.seed * 7919 + 6).responses
    out = []
    for r, tp, c, y in zip(rows, tprompts, crits, yt):
        y = y if y.startswith(" ") else " " + y
        if y.strip():
            out.append({"prompt": r["prompt"], "teacher_prompt": tp, "completion": y, "critique": c,
                        "meta": r["meta"], **({"answer": r["answer"]} if "answer" in r else {})})
    return out


def _completion_logits(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits at the positions that predict completion tokens (m, v), those tokens (m,))."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    keep = labels != -100
    return logits[keep], labels[keep]


def run_distill(cfg: DistillConfig, quiet: bool = False) -> dict:
    """Train the student; write ``cfg.out`` (a model dir + teacher.jsonl); return the summary."""
    from langrl import distributed as dist
    from langrl.jsonl import input_flag
    from langrl.logging import progress_bar
    from langrl.losses.distill import mixture_loss, teacher_kl
    from langrl.models.specs import resolve_model_dir
    from langrl.train import setup
    from langrl.train.checkpoint import check_out_dir, load_state
    from langrl.train.data import collate, global_batch_indices, sft_records, split_eval, tokenize_sft
    from langrl.train.sft import nll_sum

    dist.init_distributed()
    if dist.world_size() > 1:
        raise InputError("distill: runs in one process (start it without torchrun)")
    check_out_dir(cfg.out, cfg.resume, cfg.overwrite)
    torch.manual_seed(cfg.seed)  # as `langrl sft`: seed, check the spec, read the data, then load the model
    resolve_model_dir(cfg.model, build=False)
    with input_flag("--sft-data"):
        records = sft_records(cfg.sft_data, cfg.task_examples, cfg.seed) if cfg.sft_weight else []
    state = load_state(cfg.resume) if cfg.resume else None
    model, tok, _ = setup.load_policy(cfg.model, resume=cfg.resume, state=state, quiet=quiet)
    model.train()
    sft_ex = [tokenize_sft(tok, rec, cfg.max_length)[0] for rec in records]
    order, _ = split_eval(len(sft_ex), 0.0, cfg.seed)
    sft_ex = [sft_ex[i] for i in order]  # `langrl sft --eval-fraction 0`'s order

    out = Path(cfg.out)
    teach: list[dict] = []
    teach_file, teacher, t_ex, s_ex = Path(cfg.resume or out) / "teacher.jsonl", None, [], []
    if cfg.distill_weight:
        if state and teach_file.is_file():
            teach = [json.loads(x) for x in teach_file.read_text().splitlines() if x.strip()]
        else:
            start_model = setup.load_policy(cfg.model, quiet=True)[0] if state else model
            start_model.eval()
            teach = teacher_examples(cfg, start_model, tok)
            model.train()
        if not teach:
            raise InputError("distill: the teacher wrote no non-empty answer")
        s_ex = [tokenize_sft(tok, {"prompt": t["prompt"], "completion": t["completion"]}, cfg.max_length)[0]
                for t in teach]
        if cfg.target == "kl":
            teacher = setup.load_policy(cfg.model, quiet=True)[0].eval()  # the frozen starting policy
            t_ex = [tokenize_sft(tok, {"prompt": t["teacher_prompt"], "completion": t["completion"]},
                                 cfg.max_length)[0] for t in teach]

    opt, sched = setup.make_optimizer_and_schedule(model.parameters(), cfg, cfg.max_steps)
    start = setup.restore(state, optimizer=opt, scheduler=sched)
    logger, config_yaml = setup.open_run(cfg, start=start, resumed=bool(state))
    pad, micro, t0, last = tok.pad_token_id, cfg.micro_batch_size, time.time(), {}
    # the teacher's answers travel with every checkpoint (a checkpoint replaces the whole directory)
    files = {"teacher.jsonl": "".join(json.dumps(t) + "\n" for t in teach)} if cfg.distill_weight else {}
    end = min(cfg.max_steps, cfg.stop_at) if cfg.stop_at else cfg.max_steps

    def n_tokens(exs) -> int:
        return sum(sum(1 for x in e.labels[1:] if x != -100) for e in exs)

    with progress_bar("distill", total=cfg.max_steps, quiet=quiet) as bar:
        bar.update(start)
        for step in range(start, end):
            sft_b = [sft_ex[i] for i in global_batch_indices(len(sft_ex), cfg.batch_size, step, cfg.seed)] \
                if sft_ex else []
            d_idx = global_batch_indices(len(s_ex), cfg.batch_size, step, cfg.seed + 1) if s_ex else []
            n_sft, n_d = n_tokens(sft_b), n_tokens([s_ex[i] for i in d_idx])
            total_sft, total_d = torch.zeros(()), torch.zeros(())
            for m in range(0, max(len(sft_b), len(d_idx)), micro):
                s_sum = torch.zeros(())
                if sft_b[m:m + micro]:
                    s_sum, _ = nll_sum(model, collate(sft_b[m:m + micro], pad))
                d_sum = None
                if d_idx[m:m + micro]:
                    part = d_idx[m:m + micro]
                    if cfg.target == "samples":
                        d_sum, _ = nll_sum(model, collate([s_ex[i] for i in part], pad))
                    else:
                        s_logits, s_lab = _completion_logits(model, collate([s_ex[i] for i in part], pad))
                        with torch.no_grad():
                            t_logits, t_lab = _completion_logits(teacher, collate([t_ex[i] for i in part], pad))
                        assert torch.equal(s_lab, t_lab), "student and teacher completions must align"
                        d_sum, _ = teacher_kl(s_logits, t_logits)
                mixture_loss(s_sum, n_sft, d_sum, n_d, cfg.sft_weight, cfg.distill_weight).backward()
                total_sft += s_sum.detach()
                total_d += d_sum.detach() if d_sum is not None else 0.0
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else 1e12)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            last = {"loss_sft": total_sft.item() / max(1, n_sft), "loss_distill": total_d.item() / max(1, n_d),
                    "grad_norm": float(gnorm), "lr": sched.get_last_lr()[0]}
            logger.log(step + 1, last)
            bar.update(step + 1, loss=last["loss_sft"] if sft_b else last["loss_distill"])
            if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < end:
                setup.save(cfg.out, step + 1, model=model, tokenizer=tok, config_yaml=config_yaml, logger=logger,
                           optimizer=opt, scheduler=sched, extra_files=files)
    summary = {"command": "distill", "target": cfg.target, "steps": end, "finished": end == cfg.max_steps,
               "sft_weight": cfg.sft_weight, "distill_weight": cfg.distill_weight, "teacher_examples": len(s_ex),
               "annotator_actions": cfg.prompts if cfg.distill_weight else 0, **last,
               "seconds": round(time.time() - t0, 2), "out": str(cfg.out)}
    setup.save(cfg.out, end, model=model, tokenizer=tok, config_yaml=config_yaml, logger=logger, optimizer=opt,
               scheduler=sched, extra_files={**files, "langrl_metrics.json": json.dumps(summary, indent=2)})
    logger.close()
    return summary
