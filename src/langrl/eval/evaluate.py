"""Evaluate a policy on held-out prompts: gold scores, proxy reward, KL to a reference, length, diversity.

KL is the Monte-Carlo estimate KL(π ‖ π_ref) ≈ mean over samples y ~ π of Σ_t [log π(y_t|·) − log π_ref(y_t|·)]
(the k1 estimator summed over the sequence; unbiased, temperature 1, no truncation), in nats per sequence.

Temperature: a policy trained by RL is judged at the temperature it was trained at (1: the distribution whose KL the
run paid for) AND near-greedy (:data:`NEAR_GREEDY`, T = 1e-4: almost always the most likely token, as a user decoding
greedily would see it) — an RL gain that only sharpens the sampled distribution shows in the first and not in the
second. The KL estimate is the sampled (T = 1, no top-k/top-p) pass's; a near-greedy pass reports none.

The samples come from langrl's sampler on ``model`` or, given ``engine`` (``--rollout-engine vllm``), from that
engine with the same settings (temperature, top-k, top-p, token budget, stop at EOS, n per prompt, chat template).
"""
from __future__ import annotations

import math
from collections import Counter

import torch

NEAR_GREEDY = 1e-4
"""The near-greedy evaluation temperature (softmax(logits / 1e-4): the argmax token unless two logits tie to ~1e-4)."""


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct-n (Li et al. 2016): unique word n-grams / total word n-grams over all ``texts`` (0 when none)."""
    grams = Counter()
    for text in texts:
        words = text.split()
        grams.update(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def best_of_n_kl(n: int) -> float:
    """Analytic KL of best-of-n sampling to the base policy: log n − (n − 1)/n (Stiennon et al. 2020, App. G)."""
    return math.log(n) - (n - 1) / n


def sequence_kl(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor) -> list[float]:
    """Per-sequence KL(π ‖ π_ref) estimate from tokens sampled from π: the sum over response tokens of Schulman's k3
    = (r − 1) − log r, r = π_ref/π. Unbiased like k1 = log π − log π_ref (E_π[r − 1] = 0 at every token), but never
    negative and of lower variance, so a small KL measured on a few held-out samples does not come out below zero.
    Shapes: ``logp``, ``ref_logp``, ``mask`` [B, T] (mask 1 on response tokens); returns B floats."""
    from langrl.losses.kl import kl_k3

    return (kl_k3(logp, ref_logp) * mask).sum(-1).tolist()  # Σ_t k3_t over the response


def nan_mean(xs) -> float:
    """Mean of the values that are neither None nor NaN (NaN when none are left)."""
    xs = [float(x) for x in xs if x is not None and not math.isnan(float(x))]
    return sum(xs) / len(xs) if xs else float("nan")


def mean_and_se(xs: list[float]) -> tuple[float, float]:
    """(mean, standard error of the mean = sample std / √n); NaN where undefined (no values; one value for the s.e.)."""
    n = len(xs)
    mean = sum(xs) / n if n else float("nan")
    se = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1) / n) if n > 1 else float("nan")
    return mean, se


@torch.no_grad()
def evaluate_responses(rows: list[dict], responses: list[str], *, task=None, proxy=None,
                       per_sample: bool = False) -> dict:
    """Gold (``task.gold``) and proxy (a RewardFunction's first/total column) means plus length and distinct-n.

    ``per_sample``: also ``gold_per_sample`` (the gold score of each response, in order, so two methods evaluated on
    the same rows can be compared pairwise) and ``gold_se`` (the standard error of their mean).
    """
    out: dict = {}
    if task is not None:
        for name, vals in task.gold(rows, responses).items():
            out[f"gold/{name}"] = nan_mean(vals)
            if per_sample and name == "gold":
                out["gold_per_sample"], out["gold_se"] = list(vals), mean_and_se(list(vals))[1]
    if proxy is not None:
        cols = {k: [r.get(k) for r in rows] for k in rows[0] if k not in ("prompt",)} if rows else {}
        from langrl.chat import prompt_text

        res = proxy([prompt_text(r["prompt"]) for r in rows], responses, **cols)
        name = getattr(proxy, "name", None)
        column = res.column(name) if name in getattr(res, "names", []) else res.scores[:, -1]
        out["proxy"] = nan_mean(column.tolist())
    out["length_words"] = nan_mean(len(r.split()) for r in responses)
    out["distinct_1"] = distinct_n(responses, 1)
    out["distinct_2"] = distinct_n(responses, 2)
    return out


@torch.no_grad()
def evaluate_policy(model, tokenizer, rows: list[dict], *, task=None, proxy=None, ref_model=None, n: int = 1,
                    max_new_tokens: int = 48, seed: int = 0, batch_size: int = 64,
                    per_sample: bool = False, chat_template: bool = True, system: str | None = None,
                    temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                    engine=None, condition=None, condition_format: str = "names") -> tuple[dict, list[str]]:
    """Sample ``n`` responses per row at ``temperature`` (and ``top_k``, ``top_p``; by ``engine`` when given, a
    :class:`langrl.rollout.vllm_engine.VLLMEngine`) and score them (``per_sample``: see :func:`evaluate_responses`;
    ``chat_template``/``system``: :func:`langrl.rollout.sample_prompts`). ``kl`` (with ``ref_model``) is reported
    at temperature 1 without truncation only: otherwise the samples come from a different distribution than the one
    the estimator is about. ``condition`` (a preference-conditioned policy's w, ``{name: weight}``): the prompts are
    sampled with its prefix (:mod:`langrl.rewards.conditioning`, in ``condition_format``) and scored without it. Returns (metrics, responses)."""
    from langrl.rollout import response_logprobs, sample_prompts

    untruncated = temperature == 1.0 and not top_k and top_p == 1.0  # the policy's own distribution
    responses, kls, lengths, rows_n = [], [], [], []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        settings = dict(n=n, max_new_tokens=max_new_tokens, seed=seed + start, chat_template=chat_template,
                        system=system, temperature=temperature, top_k=top_k, top_p=top_p)
        prompts = [r["prompt"] for r in chunk]
        if condition:
            from langrl.rewards.conditioning import condition_prompt

            prompts = [condition_prompt(p, condition, condition_format) for p in prompts]
        ro = (engine.sample_prompts(prompts, **settings) if engine is not None
              else sample_prompts(model, tokenizer, prompts, **settings))
        responses += ro.responses
        rows_n += [r for r in chunk for _ in range(n)]
        lengths += ro.response_mask.sum(-1).tolist()
        if ref_model is not None and untruncated:
            ref = response_logprobs(ref_model, ro.prompt_ids, ro.prompt_mask, ro.response_ids,
                                    ro.response_mask).logprobs
            kls += sequence_kl(ro.logprobs, ref, ro.response_mask)
    metrics = evaluate_responses(rows_n, responses, task=task, proxy=proxy, per_sample=per_sample)
    metrics["length_tokens"] = nan_mean(lengths)
    if ref_model is not None and untruncated:
        metrics["kl"] = nan_mean(kls)
    metrics["temperature"] = temperature
    metrics["n"] = len(responses)
    return metrics, responses
