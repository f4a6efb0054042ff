"""One online-RL iteration in langrl vs the same work in bare PyTorch, and GRPO vs TRL's GRPOTrainer.

An iteration: sample n responses per prompt (KV-cached), score them, recompute the policy's log-probs and values,
the reference's log-probs, shape the rewards (−β·KL per token), GAE, then K epochs of clipped-PPO minibatch updates
(policy + shared value head). The bare version writes all of that inline on the same model, prompts, seeds and
settings (its sampler draws the same tokens as langrl's on the first iteration). With ``trl`` installed, the same GRPO
iteration (n samples per prompt, k3 KL in the loss, one update per batch) runs through ``trl.GRPOTrainer`` on the same
model directory, prompts and reward function.

Prints one JSON line: seconds per iteration of each, ``ratio_vs_bare`` = langrl / bare (target <= 1.15) and
``speedup_vs_trl`` = TRL / langrl for GRPO (target >= 5). Each side's time is the fastest of its timed iterations
(after a warm-up one): on a shared machine other processes only ever add time, so the minimum is the stable estimate.

    python benchmarks/online_step.py [--model tiny|DIR] [--prompts 8] [--n 4] [--tokens 32] [--iters 4]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def letter_frequency(prompts=None, completions=None, **_):
    """The reward both sides use: the share of 'e' characters (cheap, so the policy work dominates)."""
    return [c.count("e") / max(1, len(c)) for c in completions]


def langrl_times(model_dir, prompts_file, tmp, algo, a) -> list[float]:
    from langrl.config import from_dict
    from langrl.rewards import from_trl
    from langrl.train.rl.loop import RLConfig, run_rl

    extra = {"kl_in": "loss", "kl_estimator": "k3", "epochs": 1, "minibatch_size": 0} if algo == "grpo" else {
        "epochs": a.epochs, "minibatch_size": a.prompts * a.n // 2}
    cfg = from_dict(RLConfig, dict(algo=algo, policy=model_dir, prompts=str(prompts_file), out=str(tmp / algo),
                                       max_steps=a.iters + 1, prompts_per_step=a.prompts, samples_per_prompt=a.n,
                                       max_new_tokens=a.tokens, micro_batch_size=a.prompts * a.n, learning_rate=1e-5,
                                       kl_coef=0.04, log_samples=0, overwrite=True, **extra))
    run_rl(cfg, quiet=True, reward=from_trl(letter_frequency, "e"))
    import csv

    with open(tmp / algo / "metrics.csv") as f:
        return [float(r["time/step"]) for r in csv.DictReader(f)][1:]


def bare_times(model_dir, prompts, a) -> list[float]:
    """PPO with a shared value head, written inline: the reference the langrl loop is measured against."""
    import copy

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from langrl.rollout.sampler import cache_kwarg, cache_of
    from langrl.train.pg.collect import chunk_seed

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ref = copy.deepcopy(model).requires_grad_(False)
    head = torch.nn.Linear(model.config.hidden_size, 1, bias=False)
    torch.nn.init.zeros_(head.weight)
    opt = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=1e-5, betas=(0.9, 0.95))
    eos, pad, beta, T = tok.eos_token_id, tok.pad_token_id, 0.04, a.tokens
    rows = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts for _ in range(a.n)]
    b, P = len(rows), max(len(r) for r in rows)
    p_ids = torch.full((b, P), pad)
    p_mask = torch.zeros((b, P), dtype=torch.long)
    for i, r in enumerate(rows):
        p_ids[i, P - len(r):], p_mask[i, P - len(r):] = torch.tensor(r), 1

    def forward(m, ids, attn, t):
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        out = m(input_ids=ids, attention_mask=attn, position_ids=pos, logits_to_keep=t + 1, output_hidden_states=True)
        return out.logits[:, :-1].float(), out.hidden_states[-1][:, P - 1:P + t - 1]

    times = []
    for it in range(a.iters + 1):
        t0 = time.perf_counter()
        with torch.no_grad():  # sampling with a KV cache
            gen = torch.Generator().manual_seed(chunk_seed(0, it, 0))
            attn, pos = p_mask.clone(), (p_mask.cumsum(-1) - 1).clamp(min=0)
            out = model(input_ids=p_ids, attention_mask=attn, position_ids=pos, use_cache=True, logits_to_keep=1)
            cache, logits, nxt_pos = cache_of(out), out.logits[:, -1], pos[:, -1:] + 1
            toks, alive = torch.full((b, T), pad), torch.ones(b, dtype=torch.bool)
            lens = torch.zeros(b, dtype=torch.long)
            for s in range(T):
                nxt = torch.multinomial(torch.log_softmax(logits.float(), -1).exp(), 1, generator=gen).squeeze(-1)
                nxt = torch.where(alive, nxt, torch.full_like(nxt, pad))
                toks[:, s], lens = nxt, lens + alive.long()
                was = alive.clone()
                alive &= nxt != eos
                if not alive.any() or s == T - 1:
                    break
                attn = torch.cat([attn, was.long()[:, None]], 1)
                out = model(input_ids=nxt[:, None], attention_mask=attn, position_ids=nxt_pos, use_cache=True,
                            **{cache_kwarg(model): cache})
                cache, logits, nxt_pos = cache_of(out), out.logits[:, -1], nxt_pos + 1
            t = int(lens.max())
            toks = toks[:, :t]
            mask = (torch.arange(t)[None] < lens[:, None]).float()
            texts = [tok.decode(toks[i, :lens[i]], skip_special_tokens=True) for i in range(b)]
            score = torch.tensor(letter_frequency(completions=texts))
            ids, full_attn = torch.cat([p_ids, toks], 1), torch.cat([p_mask, mask.long()], 1)
            lg, hid = forward(model, ids, full_attn, t)
            old = torch.log_softmax(lg, -1).gather(-1, toks[..., None]).squeeze(-1) * mask
            values = head(hid).squeeze(-1) * mask
            ref_lp = torch.log_softmax(forward(ref, ids, full_attn, t)[0], -1).gather(-1, toks[..., None]).squeeze(-1)
            rewards = -beta * (old - ref_lp * mask)  # k1 KL per token in the reward
            rewards[torch.arange(b), lens - 1] += score
            adv, last, nv = torch.zeros_like(rewards), torch.zeros(b), torch.zeros(b)
            for j in reversed(range(t)):  # GAE, gamma 1, lambda 0.95
                delta = rewards[:, j] + nv - values[:, j]
                last = torch.where(mask[:, j] > 0, delta + 0.95 * last, last)
                nv = torch.where(mask[:, j] > 0, values[:, j], nv)
                adv[:, j] = last * mask[:, j]
            returns = adv + values
            mean = (adv * mask).sum() / mask.sum()
            var = (((adv - mean) * mask) ** 2).sum() / (mask.sum() - 1)
            adv = (adv - mean) / (var + 1e-8).sqrt() * mask
        mb = b // 2
        for e in range(a.epochs):
            perm = torch.randperm(b, generator=torch.Generator().manual_seed(e))
            for k in range(0, b, mb):
                i = perm[k:k + mb]
                lg, hid = forward(model, ids[i], full_attn[i], t)
                lp = torch.log_softmax(lg, -1).gather(-1, toks[i][..., None]).squeeze(-1)
                v = head(hid).squeeze(-1)
                ratio, m = (lp - old[i]).exp(), mask[i]
                pg = torch.maximum(-adv[i] * ratio, -adv[i] * ratio.clamp(0.8, 1.2))
                vc = values[i] + (v - values[i]).clamp(-0.2, 0.2)
                vl = 0.5 * torch.maximum((v - returns[i]) ** 2, (vc - returns[i]) ** 2)
                loss = ((pg + 0.1 * vl) * m).sum() / m.sum()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(head.parameters()), 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    return times[1:]


def trl_times(model_dir, prompts, tmp, a) -> list[float] | None:
    try:
        from trl import GRPOConfig, GRPOTrainer
    except ImportError:
        return None
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback

    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            marks.append(time.perf_counter())

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    cfg = GRPOConfig(output_dir=str(tmp / "trl"), per_device_train_batch_size=a.prompts * a.n, num_generations=a.n,
                     max_completion_length=a.tokens, learning_rate=1e-5, beta=0.04, num_iterations=1,
                     max_steps=a.iters + 2, logging_strategy="no", save_strategy="no", report_to="none", use_cpu=True,
                     temperature=1.0, gradient_accumulation_steps=1, dataloader_num_workers=0, seed=0,
                     disable_tqdm=True, loss_type="dapo")
    data = Dataset.from_list([{"prompt": p} for p in prompts * (a.iters + 2)])
    trainer = GRPOTrainer(model=model_dir, reward_funcs=letter_frequency, args=cfg, train_dataset=data,
                          processing_class=tok, callbacks=[Clock()])
    start = time.perf_counter()
    trainer.train()
    marks.insert(0, start)
    return [y - x for x, y in zip(marks, marks[1:])][2:]  # drop the set-up and warm-up steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--prompts", type=int, default=8, help="prompts per iteration")
    ap.add_argument("--n", type=int, default=4, help="samples per prompt")
    ap.add_argument("--tokens", type=int, default=32, help="max new tokens")
    ap.add_argument("--epochs", type=int, default=2, help="PPO epochs per batch")
    ap.add_argument("--iters", type=int, default=4, help="timed iterations (after one warm-up)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--no-trl", action="store_true")
    a = ap.parse_args()
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    from langrl.models.specs import resolve_model_dir
    from langrl.tasks import get_task

    model_dir = str(resolve_model_dir(a.model, quiet=True))
    tmp = Path(tempfile.mkdtemp())
    prompts = [r["prompt"] for r in get_task("reviews").prompts("train", a.prompts, 0)]
    prompts_file = tmp / "prompts.jsonl"
    prompts_file.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    best = min
    ppo, bare = best(langrl_times(model_dir, prompts_file, tmp, "ppo", a)), best(bare_times(model_dir, prompts, a))
    result = {"benchmark": "online_step", "model": a.model, "prompts": a.prompts, "n": a.n, "tokens": a.tokens,
              "epochs": a.epochs, "langrl_ppo_s": round(ppo, 4), "bare_ppo_s": round(bare, 4),
              "ratio_vs_bare": round(ppo / bare, 3), "target_vs_bare": "<= 1.15"}
    trl = None if a.no_trl else trl_times(model_dir, prompts, tmp, a)
    if trl:
        grpo = best(langrl_times(model_dir, prompts_file, tmp, "grpo", a))
        result.update({"langrl_grpo_s": round(grpo, 4), "trl_grpo_s": round(best(trl), 4),
                       "speedup_vs_trl": round(best(trl) / grpo, 2), "target_vs_trl": ">= 5"})
    else:
        result["trl"] = "not installed (pip install trl) or --no-trl"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
