"""Rollout engines at equal settings: langrl's sampler, transformers' ``model.generate`` and vLLM.

Part 1 (``generate``): tokens/s of each engine on the same model, prompts, ``--prompts`` × ``--n`` samples,
``--new`` tokens each (EOS suppressed everywhere, so every row makes exactly ``--new`` tokens: a logits mask for
langrl, ``min_new_tokens`` for generate, ``ignore_eos`` for vLLM), temperature 1, no truncation; fastest of
``--repeats`` after one warm-up. vLLM's start-up (engine build, and torch.compile unless ``--enforce-eager``) is
reported separately.

Part 2 (``rl_iteration``): one ``langrl rl --algo grpo`` iteration per engine (``--rollout-engine native|vllm``,
same prompts, n, tokens; the cheap ``length`` reward), split into the loop's phases (``time/sample`` — generation and,
for vLLM, the weight push —, ``time/score``, ``time/logprobs``, ``time/update``), from the last of ``--rl-steps``
iterations. The trainer itself runs where langrl runs it (the CPU); only the engines use ``--device``.

Prints one JSON line per measurement.

    python benchmarks/rollout_engines.py [--model tiny|smollm2|DIR] [--prompts 16] [--n 4] [--new 48]
        [--device cpu|cuda] [--dtype float32|bfloat16] [--engines native,hf,vllm] [--rl-steps 2] [--threads N]
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import torch
from sampler import NoEOS  # benchmarks/sampler.py: the mask that keeps every sequence at full length

PROMPTS = [f"Q: Ann has {i} apples. She buys {i % 7 + 1} more. How many apples does she have?\nA:" for i in range(256)]


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def best(fn, repeats, device):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def generation(args, engines):
    from langrl.models.specs import load_causal_lm
    from langrl.rollout import encode_prompts, sample

    dtype = getattr(torch, args.dtype)
    model, tok = load_causal_lm(args.model, dtype=dtype, quiet=True)
    model = model.to(args.device)
    prompts = PROMPTS[:args.prompts]
    tokens = args.prompts * args.n * args.new
    out = {}
    if "native" in engines:
        t = best(lambda: sample(model, tok, prompts, n=args.n, max_new_tokens=args.new, seed=0,
                                logits_mask=NoEOS(tok.eos_token_id)), args.repeats, args.device)
        out["native"] = tokens / t
    if "hf" in engines:
        ids, mask = encode_prompts(tok, [p for p in prompts for _ in range(args.n)])
        ids, mask = ids.to(args.device), mask.to(args.device)

        def hf():
            with torch.no_grad():
                model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0,
                               top_p=1.0, max_new_tokens=args.new, min_new_tokens=args.new,
                               pad_token_id=tok.pad_token_id)

        out["hf_generate"] = tokens / best(hf, args.repeats, args.device)
    startup = None
    if "vllm" in engines:
        from vllm import SamplingParams

        from langrl.rollout.vllm_engine import VLLMEngine

        t0 = time.perf_counter()
        options = {"enforce_eager": True} if args.enforce_eager else {"enforce_eager": False}
        eng = VLLMEngine(model.cpu() if args.device == "cpu" else model, tok, seed=0, engine_options=options,
                         sampling={"max_prompt_tokens": 64, "max_new_tokens": args.new})
        startup = time.perf_counter() - t0
        reqs = [{"prompt_token_ids": tok(p, add_special_tokens=False)["input_ids"]} for p in prompts]
        params = SamplingParams(n=args.n, temperature=1.0, top_p=1.0, top_k=0, max_tokens=args.new,
                                ignore_eos=True, seed=0, logprobs=0)
        out["vllm"] = tokens / best(lambda: eng.llm.generate(reqs, params, use_tqdm=False), args.repeats,
                                    args.device)
        t0 = time.perf_counter()
        eng.sync(model)
        out["vllm_weight_sync_s"] = time.perf_counter() - t0
        eng.close()
        del eng
    row = {"bench": "generate", "model": args.model, "device": args.device, "dtype": args.dtype,
           "prompts": args.prompts, "n": args.n, "new_tokens": args.new,
           **{f"{k}_tokens_per_s" if not k.endswith("_s") else k: round(v, 3) for k, v in out.items()}}
    if startup is not None:
        row["vllm_startup_s"] = round(startup, 1)
    print(json.dumps(row), flush=True)


def rl_iteration(args, engine):
    from langrl.config import from_dict
    from langrl.train.rl.loop import RLConfig, run_rl

    with tempfile.TemporaryDirectory() as tmp:
        prompts = Path(tmp) / "prompts.jsonl"
        prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS[:args.prompts]))
        cfg = from_dict(RLConfig, dict(
            algo="grpo", policy=args.model, prompts=str(prompts), reward=["length"], out=str(Path(tmp) / "out"),
            max_steps=args.rl_steps, prompts_per_step=args.prompts, samples_per_prompt=args.n,
            max_new_tokens=args.new, micro_batch_size=16, rollout_engine=engine, learning_rate=1e-6,
            engine_option=["enforce_eager=true"] if engine == "vllm" and args.enforce_eager else []))
        t0 = time.perf_counter()
        run_rl(cfg, quiet=True)
        total = time.perf_counter() - t0
        with open(Path(tmp) / "out" / "metrics.csv") as f:
            last = list(csv.DictReader(f))[-1]
    keys = ("time/sample", "time/score", "time/logprobs", "time/update", "time/step")
    print(json.dumps({"bench": "rl_iteration", "engine": engine, "model": args.model, "prompts": args.prompts,
                      "n": args.n, "new_tokens": args.new, "run_s_incl_startup": round(total, 1),
                      "response_length": round(float(last["response_length"]), 1),
                      **{k: round(float(last[k]), 3) for k in keys}}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--new", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--engines", default="native,hf,vllm")
    ap.add_argument("--rl-steps", type=int, default=2)
    ap.add_argument("--enforce-eager", type=int, default=int(not torch.cuda.is_available()),
                    help="vLLM without torch.compile/CUDA graphs (default on a CPU: compiling costs minutes)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    engines = [e for e in args.engines.split(",") if e]
    if "vllm" in engines and importlib.util.find_spec("vllm") is None:
        print(json.dumps({"bench": "note", "vllm": "not installed: skipped (pip install 'langrl[vllm]')"}))
        engines.remove("vllm")
    generation(args, engines)
    if args.rl_steps:
        for engine in [e for e in engines if e in ("native", "vllm")]:
            rl_iteration(args, engine)


if __name__ == "__main__":
    main()
