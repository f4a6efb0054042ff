"""Speed of one DPO optimizer step: langrl vs a bare-PyTorch DPO step vs TRL's DPOTrainer, and the reference pass.

Same model directory, same preference pairs, same batch size, same optimizer (AdamW) and gradient clipping for all
three. Reference log-probs: langrl reads them from its cache and the bare step gets them precomputed (so the ratio
measures langrl's own overhead); TRL runs as configured by default (a reference forward in every step, as its users
get it). The reference pass itself is timed separately, with and without the cache.

    PYTHONPATH=src .venv/bin/python benchmarks/dpo_step.py            # a random 2-layer Llama built on the fly
    PYTHONPATH=src .venv/bin/python benchmarks/dpo_step.py --model tiny --steps 10

Prints one JSON line. Targets (issue 6): langrl ≤ 1.15× bare PyTorch, TRL ≥ 10× langrl. Timings are medians of
interleaved steps (bare and langrl alternate, so load on a shared machine hits both alike).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

GOOD = ["the movie was great and i loved every minute of it.", "a warm, funny and moving film; i would watch it again.",
        "the acting was superb and the story kept me hooked."]
BAD = ["the movie was bad and i hated every minute of it.", "a dull, slow and silly film; i walked out early.",
       "the acting was wooden and the story made no sense."]


def make_pairs(n: int) -> list[dict]:
    return [{"prompt": f"Review {i}: continue this review of film number {i} as positively as possible:",
             "chosen": " " + GOOD[i % 3], "rejected": " " + BAD[(i + 1) % 3]} for i in range(n)]


def build_toy_model(path: Path, layers: int, hidden: int) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from langrl.models.tiny import train_tokenizer

    text = [p["prompt"] + p["chosen"] + p["rejected"] for p in make_pairs(60)] * 5
    tok = train_tokenizer(text, vocab_size=512)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
                      num_key_value_heads=4, intermediate_size=2 * hidden, max_position_embeddings=256,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)


def bare_batch(data, units, pad_id):
    """The bare-PyTorch layout (DPO reference repo style): chosen rows then rejected rows, [prompt; response]
    right-padded, labels -100 on prompt and padding."""
    seqs = [(data.prompts[u.rows[k]], data.responses[u.rows[k]]) for k in (0, 1) for u in units]
    width = max(len(p) + len(r) for p, r in seqs)
    ids = torch.full((len(seqs), width), pad_id)
    labels = torch.full((len(seqs), width), -100)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (p, r) in enumerate(seqs):
        ids[i, :len(p) + len(r)] = torch.tensor(p + r)
        labels[i, len(p):len(p) + len(r)] = torch.tensor(r)
        mask[i, :len(p) + len(r)] = 1
    return ids, mask, labels


def bare_step(model, opt, ids, mask, labels, ref_c, ref_r, beta):
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    lab = labels[:, 1:]
    lp = torch.log_softmax(logits.float(), -1).gather(-1, lab.clamp_min(0)[..., None]).squeeze(-1)
    seq = (lp * (lab != -100)).sum(-1)
    b = ids.shape[0] // 2
    h = (seq[:b] - ref_c) - (seq[b:] - ref_r)
    loss = -torch.nn.functional.logsigmoid(beta * h).mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)


def time_trl(model_dir: str, pairs: list[dict], batch: int, steps: int, warmup: int,
             lr: float) -> tuple[float, float] | None:
    """(median step seconds, end-to-end seconds: DPOTrainer set-up + every step) or None without trl."""
    try:
        from datasets import Dataset
        from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
        from trl import DPOConfig, DPOTrainer
    except ImportError:
        return None
    ends: list[float] = []

    class Clock(TrainerCallback):  # time between consecutive step ends: batch loading + collation + step + logging
        def on_step_end(self, args, state, control, **kw):
            ends.append(time.perf_counter())

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with tempfile.TemporaryDirectory() as out:
        args = DPOConfig(output_dir=out, per_device_train_batch_size=batch, max_steps=warmup + steps + 1,
                         learning_rate=lr,
                         beta=0.1, report_to="none", save_strategy="no", logging_steps=10_000, use_cpu=True,
                         dataloader_num_workers=0, max_grad_norm=1.0, lr_scheduler_type="constant",
                         disable_tqdm=True)
        trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(pairs), processing_class=tok,
                             callbacks=[Clock()])
        trainer.train()
    total = time.perf_counter() - t0
    return statistics.median(b - a for a, b in zip(ends[warmup:], ends[warmup + 1:])), total


def time_langrl_run(model_dir: Path, pairs: list[dict], batch: int, steps: int, lr: float, home: Path) -> float:
    """End-to-end ``run_dpo`` seconds (load, tokenise, cold reference pass, every step, checkpoint)."""
    from langrl.config import from_dict
    from langrl.train.dpo.loop import DPOConfig, run_dpo

    data = home / "pairs.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    os.environ["LANGRL_HOME"] = str(home)  # an empty cache: the reference pass runs
    t0 = time.perf_counter()
    run_dpo(from_dict(DPOConfig, {"policy": str(model_dir), "data": str(data), "out": str(home / "run"),
                                  "max_steps": steps, "batch_size": batch, "micro_batch_size": batch,
                                  "learning_rate": lr, "eval_fraction": 0.0, "max_length": 1024}), quiet=True)
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="toy", help="'toy' (random Llama built here) or any langrl model spec")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--pairs", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = leave as is)")
    ap.add_argument("--no-trl", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from langrl.feedback import read_rows
    from langrl.models.specs import load_causal_lm, resolve_model_dir
    from langrl.train.dpo import ref_cache
    from langrl.train.data import global_batch_indices
    from langrl.train.dpo.data import build_units
    from langrl.train.dpo.objectives import OBJECTIVES
    from langrl.train.dpo.step import sharded_row_logps, train_step
    from langrl.train.optim import make_optimizer

    tmp = tempfile.TemporaryDirectory()
    if args.model == "toy":
        model_dir = Path(tmp.name) / "toy"
        build_toy_model(model_dir, args.layers, args.hidden)
    else:
        model_dir = resolve_model_dir(args.model)  # from the usual $LANGRL_HOME (tiny is built there once)
    os.environ["LANGRL_HOME"] = str(Path(tmp.name) / "home")  # an empty reference cache of our own
    pairs = make_pairs(args.pairs)
    lr, beta, b = 1e-5, 0.1, args.batch_size

    model, tok = load_causal_lm(str(model_dir))
    data = build_units(read_rows(pairs).records, tok, shape="pair", max_length=1024)
    pad = tok.pad_token_id

    # reference pass: without the cache (compute + write) and with it (fingerprint + load)
    def compute():
        return sharded_row_logps(model, data, pad, 32)

    ref, cold = ref_cache.reference_logps(data.prompts, data.responses, compute, model_dir=model_dir)
    _, warm = ref_cache.reference_logps(data.prompts, data.responses, compute, model_dir=model_dir)
    assert warm["hit"]

    bare_model, _ = load_causal_lm(str(model_dir))
    model.train()
    bare_model.train()
    objective = OBJECTIVES["dpo"](beta=beta)
    opt = make_optimizer(model.parameters(), lr)
    bare_opt = make_optimizer(bare_model.parameters(), lr)
    t_langrl, t_bare = [], []
    for step in range(args.warmup + args.steps):
        units = [data.units[i] for i in global_batch_indices(len(data.units), b, step, 0)]
        ids, mask, labels = bare_batch(data, units, pad)
        ref_c = torch.stack([ref[u.rows[0]] for u in units])
        ref_r = torch.stack([ref[u.rows[1]] for u in units])
        t0 = time.perf_counter()
        bare_step(bare_model, bare_opt, ids, mask, labels, ref_c, ref_r, beta)
        t1 = time.perf_counter()
        train_step(model, data, units, b, ref, pad, objective=objective, micro_batch_size=b)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t2 = time.perf_counter()
        if step >= args.warmup:
            t_bare.append(t1 - t0)
            t_langrl.append(t2 - t1)
    bare_s, langrl_s = statistics.median(t_bare), statistics.median(t_langrl)
    trl = None if args.no_trl else time_trl(str(model_dir), pairs, b, args.steps, args.warmup, lr)
    trl_s, trl_total = trl if trl else (None, None)
    langrl_total = time_langrl_run(model_dir, pairs, b, args.warmup + args.steps + 1, lr, Path(tmp.name) / "e2e")
    result = {
        "benchmark": "dpo_step", "model": args.model if args.model != "toy" else f"toy-{args.layers}x{args.hidden}",
        "params": sum(p.numel() for p in model.parameters()), "pairs": len(data.units), "batch_size": b,
        "threads": torch.get_num_threads(), "steps_timed": args.steps,
        "bare_step_s": round(bare_s, 5), "langrl_step_s": round(langrl_s, 5),
        "langrl_over_bare": round(langrl_s / bare_s, 3), "langrl_over_bare_target": 1.15,
        "trl_step_s": None if trl_s is None else round(trl_s, 5),
        "trl_over_langrl": None if trl_s is None else round(trl_s / langrl_s, 2), "trl_over_langrl_target": 10,
        "e2e_steps": args.warmup + args.steps + 1, "langrl_e2e_s": round(langrl_total, 3),
        "trl_e2e_s": None if trl_total is None else round(trl_total, 3),
        "trl_e2e_over_langrl": None if trl_total is None else round(trl_total / langrl_total, 2),
        "ref_pass_uncached_s": round(cold["seconds"], 4), "ref_pass_cached_s": round(warm["seconds"], 4),
        "ref_cache_speedup": round(cold["seconds"] / max(warm["seconds"], 1e-9), 1),
    }
    print(json.dumps(result))
    tmp.cleanup()
    return result


if __name__ == "__main__":
    main()
