"""What a conditioning prefix costs, pass by pass, on identical work: the three costly passes of a GRPO iteration
(sampling, the no-grad log-prob pass, the update's forward + backward) over the same batch of ``task:hh`` prompts,
once without a prefix and once with each format's (w = (0.5, 0.5)), interleaved in one process.

Unlike ``benchmarks/conditioned_step.py`` (two whole RL runs, whose sampled responses and so whose padded lengths
differ), every format here does exactly the same work apart from the prefix's tokens: sampling draws ``--tokens``
tokens for every row (EOS is masked out, so no row stops early), and the log-prob and update passes score the same
responses (the plain prompts' samples) after each format's prompt. Times are this process's CPU seconds
(``time.process_time``; one torch thread), which other processes on a shared machine inflate far less than the wall
clock; each pass is the median over ``--repeats`` rounds, the formats' order rotating from round to round.

Prints one JSON line: the prompt tokens of each format (mean, and the padded width), per pass and format the median
seconds and its ratio to no prefix, ``iteration_ratio``: (sample + 2 × logprobs + update) with the prefix over
without (a GRPO iteration with the KL in the loss runs the reference and the policy log-prob passes), the quartiles
of that ratio over the rounds (its spread), and the 1-minute load average before and after.

    python benchmarks/prefix_cost.py [--model tiny|DIR] [--prompts 8] [--n 4] [--tokens 26] [--repeats 15]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

FORMATS = (None, "byte", "short", "compact", "names")


class NoEos:
    """A logits mask that forbids EOS, so every row samples exactly ``max_new_tokens`` tokens."""

    def __init__(self, eos: int):
        self.eos = eos

    def reset(self, prompt_ids, prompt_mask) -> None:
        pass

    def allowed(self, logits: torch.Tensor) -> torch.Tensor:
        ok = torch.ones_like(logits, dtype=torch.bool)
        ok[:, self.eos] = False
        return ok

    def advance(self, tokens) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=26, help="tokens sampled per row (hh responses average ~26)")
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from langrl.models.specs import resolve_model_dir
    from langrl.rewards.conditioning import condition_prompt
    from langrl.rollout.logprobs import response_logprobs
    from langrl.rollout.sampler import encode_prompts, sample
    from langrl.tasks import get_task

    path = resolve_model_dir(a.model, quiet=True)
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
    prompts = [r["prompt"] for r in get_task("hh").prompts("train", a.prompts, 0)]
    w = {"helpful": 0.5, "harmless": 0.5}
    texts = {f: [condition_prompt(p, w, f) if f else p for p in prompts] for f in FORMATS}
    model.eval()
    plain = sample(model, tok, texts[None], n=a.n, max_new_tokens=a.tokens, seed=0, logits_mask=NoEos(tok.eos_token_id))
    inputs = {f: encode_prompts(tok, [t for t in texts[f] for _ in range(a.n)]) for f in FORMATS}

    def sampling(f):
        sample(model, tok, texts[f], n=a.n, max_new_tokens=a.tokens, seed=0, logits_mask=NoEos(tok.eos_token_id))

    def logprobs(f):
        with torch.no_grad():
            response_logprobs(model, *inputs[f], plain.response_ids, plain.response_mask)

    def update(f):
        out = response_logprobs(model, *inputs[f], plain.response_ids, plain.response_mask)
        (out.logprobs * plain.response_mask).sum().backward()
        model.zero_grad(set_to_none=True)

    passes = {"sample": sampling, "logprobs": logprobs, "update": update}
    times = {p: {f: [] for f in FORMATS} for p in passes}
    for f in FORMATS:  # warm-up
        for fn in passes.values():
            fn(f)
    for r in range(a.repeats):
        order = FORMATS[r % len(FORMATS):] + FORMATS[:r % len(FORMATS)]
        for f in order:
            for name, fn in passes.items():
                t0 = time.process_time()
                fn(f)
                times[name][f].append(time.process_time() - t0)
    med = {p: {str(f): statistics.median(v) for f, v in fs.items()} for p, fs in times.items()}
    # each round's own iteration ratio (its formats ran side by side in time): the spread of the estimate
    per_round = {str(f): sorted((times["sample"][f][r] + 2 * times["logprobs"][f][r] + times["update"][f][r])
                                / (times["sample"][None][r] + 2 * times["logprobs"][None][r] + times["update"][None][r])
                                for r in range(a.repeats)) for f in FORMATS if f is not None}
    iteration = {str(f): med["sample"][str(f)] + 2 * med["logprobs"][str(f)] + med["update"][str(f)] for f in FORMATS}
    print(json.dumps({
        "benchmark": "prefix_cost", "model": a.model, "rows": a.prompts * a.n, "tokens": a.tokens,
        "repeats": a.repeats,
        "prompt_tokens": {str(f): {"mean": round(float(m.sum(1).float().mean()), 2), "padded": int(m.shape[1])}
                          for f, (_, m) in inputs.items()},
        "median_s": {p: {f: round(v, 4) for f, v in fs.items()} for p, fs in med.items()},
        "ratio": {p: {f: round(v / fs["None"], 3) for f, v in fs.items() if f != "None"} for p, fs in med.items()},
        "iteration_s": {f: round(v, 4) for f, v in iteration.items()},
        "iteration_ratio": {f: round(v / iteration["None"], 3) for f, v in iteration.items() if f != "None"},
        "round_ratio_quartiles": {f: [round(v[len(v) // 4], 3), round(statistics.median(v), 3),
                                      round(v[(3 * len(v)) // 4], 3)] for f, v in per_round.items()},
        "load": [round(x, 2) for x in (load, os.getloadavg()[0])]}))


if __name__ == "__main__":
    main()
