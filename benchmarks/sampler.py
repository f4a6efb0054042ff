"""Sampler throughput: langrl's KV-cached sampler vs transformers' ``model.generate`` at equal settings.

Same model, prompts, batch, max_new_tokens, temperature 1, no truncation, no early stop (EOS suppressed via
min_new_tokens for generate and a logits mask for langrl so both produce exactly max_new_tokens per row). Prints one
JSON line: tokens/s of each and ``ratio`` = langrl / transformers (target >= 1.0).

    python benchmarks/sampler.py [--model tiny|smollm2|DIR] [--batch 16] [--new 64] [--repeats 3]
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
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--new", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from langrl.models.specs import load_causal_lm
    from langrl.rollout import encode_prompts, sample

    model, tok = load_causal_lm(args.model, quiet=True)
    prompts = [f"Q: Ann has {i} apples. She buys {i % 7 + 1} more. How many apples does she have?\nA:"
               for i in range(args.batch)]
    ids, mask = encode_prompts(tok, prompts)
    tokens = args.batch * args.new

    def ours():
        sample(model, tok, prompts, n=1, max_new_tokens=args.new, seed=0, logits_mask=NoEOS(tok.eos_token_id))

    def theirs():
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                           max_new_tokens=args.new, min_new_tokens=args.new, pad_token_id=tok.pad_token_id)

    def best(fn):
        fn()  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    t_ours, t_hf = best(ours), best(theirs)
    print(json.dumps({"benchmark": "sampler", "model": args.model, "batch": args.batch, "new_tokens": args.new,
                      "langrl_tok_s": round(tokens / t_ours, 1), "transformers_tok_s": round(tokens / t_hf, 1),
                      "ratio": round(t_hf / t_ours, 3), "target": ">= 1.0"}))


if __name__ == "__main__":
    main()
