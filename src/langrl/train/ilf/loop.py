"""``langrl ilf``: imitation learning from language feedback (Scheurer et al. 2023), several rounds, resumable.

One round: sample an answer y0 per training prompt from the current policy; the simulated language annotator
(:mod:`langrl.tasks.language`) critiques each (one annotator action per critique); for every critique that names a
problem, the policy writes ``--refinements`` refinements conditioned on the critique (:mod:`.prompt`) and, with
``--plain-candidates M``, M fresh answers to the plain prompt; a scorer that never sees the gold (:mod:`.select`)
keeps one of these candidates; the policy is fine-tuned (``langrl sft``'s trainer) on (prompt,
selected refinement), plus, with ``--approved``, (prompt, y0) for the answers the critique approves. The next round
starts from the fine-tuned policy.

Departures from the paper: the refiner is the policy itself (the paper uses a large instruction-following LM, which a
small policy is not: here ILF is as good as the policy's ability to use a critique in context plus the selection);
the feedback is the simulated annotator's (:class:`~langrl.tasks.language.LanguageAnnotator`), not humans'.

Measured against the gold (reported, never used for training or selection): how often the selected refinement fixes
every category of problem the critique named that the answer really has (``fixed_named``), the same for the first
sample (``fixed_named_first``: what selection adds), and the mean gold of answers, selected and first refinements.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from langrl.config import arg
from langrl.errors import InputError
from langrl.train.config import TrainerConfig
from langrl.train.ilf.select import SCORERS


@dataclass
class ILFConfig(TrainerConfig, defaults={"out": "runs/ilf", "learning_rate": 1e-4,
                                         "micro_batch_size": 16}):
    max_steps: int = arg(30, "fine-tuning optimizer steps per round")
    stop_at: int = arg(0, "stop after this many rounds (continue later with --resume OUT; 0: run every round)")
    model: str = arg("", "policy to start from: a model spec or a trainer's --out directory (e.g. an SFT policy)")
    task: str = arg("factqa", "built-in task: its training prompts, and its gold behind the simulated annotator",
                    choices=("factqa", "arithmetic"))
    rounds: int = arg(2, "rounds of sample -> critique -> refine -> select -> fine-tune")
    prompts_per_round: int = arg(64, "training prompts per round (one critique each: the annotator actions)")
    refinements: int = arg(4, "refinements sampled per critique that names a problem, from the refinement prompt")
    plain_candidates: int = arg(0, "also sample this many fresh answers to the plain prompt as candidates (the "
                                   "critique then only selects)")
    scorer: str = arg("embedding", "selection without the gold: embedding (cos(critique, refinement), ILF's), change "
                                   "(cos(critique, words the refinement adds)), first (no selection)", choices=SCORERS)
    embedder: str = arg("minilm", "sentence-embedding model of the embedding and change scorers")
    approved: bool = arg(True, "also fine-tune on the answers the critique approves, as they are")
    annotator_seed: int = arg(0, "seed of the simulated language annotator")
    noise: float = arg(0.1, "annotator: probability of a partial or wrong critique")
    hedge: float = arg(0.3, "annotator: probability of a hedge per critique sentence")
    temperature: float = arg(1.0, "sampling temperature of answers and refinements")
    max_new_tokens: int = arg(48, "token budget per answer and per refinement")
    max_prompt_tokens: int = arg(384, "refinement prompts longer than this are cut from the left")
    batch_size: int = arg(16, "fine-tuning global batch (sequences)")

    def validate(self) -> None:
        self.check_trainer("ilf")
        if not self.model:
            raise InputError("ilf: --model POLICY is required (e.g. an SFT policy directory)", field="model")
        for name in ("rounds", "prompts_per_round", "max_steps", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"ilf: field '{name}': expected >= 1, got {getattr(self, name)}", field=name)
        if self.refinements < 0 or self.plain_candidates < 0 or self.refinements + self.plain_candidates < 1:
            raise InputError("ilf: fields 'refinements' and 'plain_candidates': expected >= 0 and at least one "
                             "candidate", field="refinements")
        if not self.temperature > 0:
            raise InputError("ilf: field 'temperature': expected > 0", field="temperature")
        if self.batch_size % self.micro_batch_size:
            raise InputError(f"ilf: batch_size {self.batch_size} must be a multiple of micro_batch_size "
                             f"{self.micro_batch_size}", field="batch_size")
        if self.resume and Path(self.resume).resolve() != Path(self.out).resolve():
            raise InputError("ilf: --resume continues the run in --out; give the same directory", field="resume")


#: For factqa, the gold component each problem category must bring to 1 for the problem to count as fixed.
FACTQA_COMPONENT = {"irrelevant": "relevance", "untruthful": "factuality", "missing": "completeness"}


def fixes_named(task: str, row: dict, refinement: str, named: set) -> bool:
    """Whether ``refinement`` has none of the problem categories in ``named`` left, by the task's gold."""
    if task == "factqa":
        from langrl.tasks.factqa import analyze

        res = analyze(row["meta"], refinement)
        return all(res[FACTQA_COMPONENT[c]] == 1.0 for c in named)
    from langrl.tasks.arithmetic import analyze

    return analyze(row["meta"], row["answer"], refinement)["correct"] == 1.0


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def run_round(cfg: ILFConfig, r: int, policy: str, round_dir: Path, embed, quiet: bool) -> dict:
    """One ILF round from ``policy``; writes ``round_dir/{data.jsonl,model,done.json}``; returns its metrics."""
    from langrl.io import atomic_write_json, atomic_write_jsonl
    from langrl.models.specs import load_causal_lm
    from langrl.rollout import sample
    from langrl.tasks import get_task
    from langrl.tasks.issues import task_issues
    from langrl.tasks.language import LanguageAnnotator
    from langrl.train.ilf.prompt import refinement_prompt
    from langrl.train.ilf.select import score_refinements, select_best
    from langrl.train.sft import SFTConfig, run_sft

    t0 = time.time()
    task = get_task(cfg.task)
    ann = LanguageAnnotator(task, seed=cfg.annotator_seed, noise=cfg.noise, hedge=cfg.hedge)
    rows = task.prompts("train", cfg.prompts_per_round, 1000 * cfg.seed + r)
    model, tok = load_causal_lm(policy, quiet=True)
    y0 = sample(model, tok, [x["prompt"] for x in rows], n=1, max_new_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature, seed=cfg.seed * 7919 + 2 * r).responses
    believed = [ann.believed(row, y)[0] for row, y in zip(rows, y0)]
    crits = [ann.critique(row, y)["critique"] for row, y in zip(rows, y0)]
    todo = [i for i, b in enumerate(believed) if b]
    n, n_plain = cfg.refinements, cfg.plain_candidates
    refs: list[list[str]] = [[] for _ in rows]
    for k, (count, prompt_of) in enumerate([(n, lambda i: refinement_prompt(rows[i]["prompt"], y0[i], crits[i])),
                                            (n_plain, lambda i: rows[i]["prompt"])]):
        if not todo or not count:
            continue
        ro = sample(model, tok, [prompt_of(i) for i in todo], n=count, max_new_tokens=cfg.max_new_tokens,
                    temperature=cfg.temperature, stop=["\n"], max_prompt_tokens=cfg.max_prompt_tokens,
                    seed=cfg.seed * 7919 + 3 * r + 1 + k)
        for j, i in enumerate(todo):
            refs[i] += [x if x.startswith(" ") else " " + x for x in ro.responses[j * count:(j + 1) * count]]
    del model
    scores = score_refinements(cfg.scorer, embed, [crits[i] for i in todo], [y0[i] for i in todo],
                               [refs[i] for i in todo]) if todo else None
    picks = dict(zip(todo, select_best(scores))) if todo else {}
    data = [{"prompt": rows[i]["prompt"], "completion": refs[i][k]} for i, k in picks.items() if refs[i][k].strip()]
    if cfg.approved:
        data += [{"prompt": rows[i]["prompt"], "completion": y0[i]} for i in range(len(rows))
                 if i not in picks and y0[i].strip()]
    # measurement against the gold (never used above)
    gold = lambda i, text: task.gold([rows[i]], [text])["gold"][0]  # noqa: E731
    fixed, fixed_first, g_sel, g_first, g_orig = [], [], [], [], []
    for i, k in picks.items():
        named = {x.category for x in believed[i]} & {x.category for x in task_issues(cfg.task, rows[i], y0[i])}
        if named:
            fixed.append(float(fixes_named(cfg.task, rows[i], refs[i][k], named)))
            fixed_first.append(float(fixes_named(cfg.task, rows[i], refs[i][0], named)))
        g_sel.append(gold(i, refs[i][k]))
        g_first.append(gold(i, refs[i][0]))
        g_orig.append(gold(i, y0[i]))
    if not data:
        raise InputError(f"ilf: round {r} produced no fine-tuning data (every refinement was empty)")
    round_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_jsonl(round_dir / "data.jsonl", data)
    sft = run_sft(SFTConfig(model=policy, data=str(round_dir / "data.jsonl"), out=str(round_dir / "model"),
                            max_steps=cfg.max_steps, batch_size=cfg.batch_size, micro_batch_size=cfg.micro_batch_size,
                            learning_rate=cfg.learning_rate, warmup_steps=cfg.warmup_steps,
                            weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip, eval_fraction=0.0,
                            eval_every=0, seed=cfg.seed + r, overwrite=True), quiet=True)
    metrics = {"round": r, "critiques": len(rows), "critiques_naming_a_problem": len(todo),
               "candidates_sampled": len(todo) * (n + n_plain), "finetune_examples": len(data),
               "fixed_named": _mean(fixed), "fixed_named_first": _mean(fixed_first), "fixed_named_n": len(fixed),
               "gold_answers": _mean([gold(i, y0[i]) for i in range(len(rows))]),
               "gold_refined_originals": _mean(g_orig), "gold_selected": _mean(g_sel), "gold_first": _mean(g_first),
               "sft_final_loss": sft.get("final_loss"), "seconds": round(time.time() - t0, 2),
               "policy": str(round_dir / "model")}
    atomic_write_json(round_dir / "done.json", metrics)
    if not quiet:
        print(f"ilf round {r}: {json.dumps({k: v for k, v in metrics.items() if k != 'policy'})}", flush=True)
    return metrics


def run_ilf(cfg: ILFConfig, quiet: bool = False) -> dict:
    """All rounds (finished ones are read back under ``--resume``); writes ``out/langrl_metrics.json``."""
    from langrl.io import atomic_write_json
    from langrl.models.specs import resolve_model_dir
    from langrl.train.checkpoint import check_out_dir
    from langrl.train.ilf.select import Embedder

    check_out_dir(cfg.out, cfg.resume, cfg.overwrite)
    resolve_model_dir(cfg.model, build=False)  # a bad spec fails before anything is sampled
    out = Path(cfg.out)
    if cfg.overwrite and not cfg.resume and out.exists():
        for old in out.glob("round-*"):
            shutil.rmtree(old)
    out.mkdir(parents=True, exist_ok=True)
    embed = Embedder(cfg.embedder) if cfg.scorer != "first" else None
    policy, rounds, t0 = cfg.model, [], time.time()
    for r in range(cfg.rounds):
        rd = out / f"round-{r}"
        done = rd / "done.json"
        if cfg.resume and done.is_file():
            rounds.append(json.loads(done.read_text()))
        else:
            if rd.exists():
                shutil.rmtree(rd)  # a round killed half-way is redone from its start (its seeds are fixed)
            rounds.append(run_round(cfg, r, policy, rd, embed, quiet))
        policy = rounds[-1]["policy"]
        if cfg.stop_at and r + 1 >= cfg.stop_at:
            break
    summary = {"command": "ilf", "task": cfg.task, "scorer": cfg.scorer, "rounds_done": len(rounds),
               "finished": len(rounds) == cfg.rounds, "annotator_actions": sum(x["critiques"] for x in rounds),
               "policy": policy, "rounds": rounds, "seconds": round(time.time() - t0, 2), "out": str(out)}
    atomic_write_json(out / "langrl_metrics.json", summary)
    return summary
