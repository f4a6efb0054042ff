"""One langrl SFT step vs the same model's bare PyTorch step (forward, backward, AdamW step) on the same batch.

Prints one JSON line with the seconds per step of each and ``ratio`` = langrl / bare (target <= 1.15).

    python benchmarks/sft_step.py [--model tiny|DIR] [--batch 16] [--steps 10]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    import torch

    from langrl.config import from_dict
    from langrl.models.specs import load_causal_lm, resolve_model_dir
    from langrl.tasks import get_task
    from langrl.train.data import collate, tokenize_sft
    from langrl.train.sft import SFTConfig, nll_sum, run_sft

    model_dir = str(resolve_model_dir(args.model, quiet=True))
    tmp = Path(tempfile.mkdtemp())
    records = get_task("arithmetic").sft_examples(args.batch * (args.steps + 1), 0)
    data = tmp / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))

    # langrl: time the whole run minus a 1-step run (model load, tokenisation and the final save cancel out)
    def run(steps: int, out: str) -> float:
        cfg = from_dict(SFTConfig, {"model": model_dir, "data": str(data), "out": str(tmp / out), "max_steps": steps,
                                    "batch_size": args.batch, "micro_batch_size": args.batch, "eval_fraction": 0,
                                    "eval_every": 0, "warmup_steps": 1})
        t0 = time.perf_counter()
        run_sft(cfg, quiet=True)
        return time.perf_counter() - t0

    run(1, "warm")
    t_langrl = (run(args.steps + 1, "a") - run(1, "b")) / args.steps

    model, tok = load_causal_lm(model_dir, quiet=True)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batches = [collate([tokenize_sft(tok, r, 256)[0] for r in records[i * args.batch:(i + 1) * args.batch]],
                       tok.pad_token_id) for i in range(args.steps + 1)]

    def bare_step(batch):
        s, n = nll_sum(model, batch)
        (s / n).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    bare_step(batches[0])
    t0 = time.perf_counter()
    for b in batches[1:]:
        bare_step(b)
    t_bare = (time.perf_counter() - t0) / args.steps
    print(json.dumps({"benchmark": "sft_step", "model": args.model, "batch": args.batch,
                      "langrl_s_per_step": round(t_langrl, 4), "bare_s_per_step": round(t_bare, 4),
                      "ratio": round(t_langrl / t_bare, 3), "target": "<= 1.15"}))


if __name__ == "__main__":
    main()
