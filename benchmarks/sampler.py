"""Sampler throughput: langrl's KV-cached sampler vs transformers' ``model.generate`` at equal settings.

Same model, prompts, batch, max_new_tokens, temperature 1, no truncation, no early stop (EOS suppressed via
min_new_tokens for generate and a logits mask for langrl so both produce exactly max_new_tokens per row). Prints one
JSON line per batch size: tokens/s of each and ``ratio`` = langrl / transformers (target >= 1.0), then a Markdown table.

With ``--lora R`` the model carries LoRA adapters of rank R (B filled so they are not the identity), and langrl is
timed twice: with the adapters active (three matmuls per adapted layer) and merged for sampling
(:func:`langrl.models.lora.merged_for_sampling`, what ``langrl rl`` does); ``generate`` runs the adapters active.

    python benchmarks/sampler.py [--model tiny|smollm2|DIR] [--batch 1,8,32] [--new 32] [--repeats 3] [--lora 8]
"""
from __future__ import annotations

import argparse
import json
import time

import torch


class NoEOS:
    def __init__(self, eos):
        self.eos = eos

    def reset(self, ids, mask):
        pass

    def allowed(self, logits):
        ok = torch.ones_like(logits, dtype=torch.bool)
        ok[:, self.eos] = False
        return ok

    def advance(self, tokens):
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--batch", default="16", help="batch size(s), comma-separated: 1,8,32")
    ap.add_argument("--new", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lora", type=int, default=0, help="LoRA rank of the sampled policy (0 = none)")
    args = ap.parse_args()
    from langrl.models.lora import apply_lora, merged_for_sampling
    from langrl.models.specs import load_causal_lm
    from langrl.rollout import encode_prompts, sample

    model, tok = load_causal_lm(args.model, quiet=True)
    if args.lora:
        model = apply_lora(model, args.lora).eval()
        torch.manual_seed(0)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.data.normal_(0, 1e-3)

    def best(fn):
        fn()  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    rows = []
    for batch in [int(b) for b in str(args.batch).split(",")]:
        prompts = [f"Q: Ann has {i} apples. She buys {i % 7 + 1} more. How many apples does she have?\nA:"
                   for i in range(batch)]
        ids, mask = encode_prompts(tok, prompts)
        tokens = batch * args.new

        def ours():
            sample(model, tok, prompts, n=1, max_new_tokens=args.new, seed=0, logits_mask=NoEOS(tok.eos_token_id))

        def ours_merged():
            with merged_for_sampling(model):
                ours()

        def theirs():
            with torch.no_grad():
                model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0,
                               top_p=1.0, max_new_tokens=args.new, min_new_tokens=args.new,
                               pad_token_id=tok.pad_token_id)

        t_ours, t_hf = best(ours), best(theirs)
        row = {"benchmark": "sampler", "model": args.model, "lora": args.lora, "batch": batch,
               "new_tokens": args.new, "langrl_tok_s": round(tokens / t_ours, 1),
               "transformers_tok_s": round(tokens / t_hf, 1), "ratio": round(t_hf / t_ours, 3), "target": ">= 1.0"}
        if args.lora:
            t_merged = best(ours_merged)
            row.update(langrl_merged_tok_s=round(tokens / t_merged, 1), merged_ratio=round(t_hf / t_merged, 3),
                       merge_speedup=round(t_ours / t_merged, 3))
        print(json.dumps(row), flush=True)
        rows.append(row)
    head = "| model | LoRA | batch | langrl tok/s | " + ("merged tok/s | " if args.lora else "") + \
        "generate tok/s | ratio |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        merged = f"{r['langrl_merged_tok_s']} | " if args.lora else ""
        ratio = r["merged_ratio"] if args.lora else r["ratio"]
        print(f"| {r['model']} | {r['lora'] or '-'} | {r['batch']} | {r['langrl_tok_s']} | {merged}"
              f"{r['transformers_tok_s']} | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
