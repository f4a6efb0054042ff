"""``critic:path=DIR``: a critique model as a reward — the probability that the critic writes "nothing to correct".

A critic is a causal LM fine-tuned to write the critique of (prompt, response) after :data:`CRITIC_PROMPT`
(``langrl critique critic-data`` makes its SFT records from critique files; ``langrl sft`` trains it). The reward of
a response is log P(the critic's critique is one of the approvals A), where A are the critiques that name no problem
(``approve``: ``;``-separated; default the simulated annotators' approvals):

    r(x, y) = log Σ_{a in A} P_critic(a | x, y) = logsumexp_a Σ_t log P_critic(a_t | x, y, a_<t)     (approval_logprob)

Use it in ``langrl rl --reward critic:path=DIR`` with the usual KL trust region and the reward-hacking watch.
"""
from __future__ import annotations

from typing import Any

import torch

from langrl.rewards.protocol import RewardOutput

CRITIC_PROMPT = "{prompt}{response}\nCritique:"


def critic_prompt(prompt: str, response: str) -> str:
    """The critic's input for one (prompt, response); the critique follows it after a space."""
    return CRITIC_PROMPT.format(prompt=prompt, response=response)


def default_approvals() -> list[str]:
    """The critiques the built-in simulated annotators write for a response without problems."""
    from langrl.tasks.language import PHRASINGS

    out = ["The answer is correct, complete and relevant.", "The solution is correct."]
    for table in PHRASINGS.values():
        out += [a for a in table["ok"] if a not in out]
    return out


def approval_logprob(seq_logprobs: torch.Tensor) -> torch.Tensor:
    """(b,) log Σ_a P(a): the log-probability that the critique is any of the approvals.

    Shapes: ``seq_logprobs`` (b, a) — Σ_t log P(a_t | ...) of each approval a for each response.
    """
    if seq_logprobs.dim() != 2:
        raise ValueError(f"expected (b, a) sequence log-probs, got {tuple(seq_logprobs.shape)}")
    return torch.logsumexp(seq_logprobs, dim=1)  # log Σ_a exp(log P(a))


class CriticReward:
    """A fine-tuned critic as a reward function (see the module docstring)."""

    def __init__(self, path: str, approve: str = "", batch_size: int = 16, name: str = "critic"):
        from langrl.errors import InputError
        from langrl.models.specs import load_causal_lm

        self.approvals = [a.strip() for a in approve.split(";") if a.strip()] or default_approvals()
        if not self.approvals:
            raise InputError("critic: approve: expected at least one approval critique")
        self.model, self.tok = load_causal_lm(path, quiet=True)
        self.batch_size, self.name = int(batch_size), name

    @torch.no_grad()
    def sequence_logprobs(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        """(b, a) Σ_t log P_critic(a_t | critic prompt, a_<t) of every approval a."""
        from langrl.train.data import collate, tokenize_sft

        pairs = [(critic_prompt(p, r), " " + a) for p, r in zip(prompts, responses) for a in self.approvals]
        out = []
        for i in range(0, len(pairs), self.batch_size):
            exs = [tokenize_sft(self.tok, {"prompt": c, "completion": a}, 512)[0] for c, a in pairs[i:i + self.batch_size]]
            batch = collate(exs, self.tok.pad_token_id)
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
            labels = batch["labels"][:, 1:]
            keep = labels != -100
            lp = torch.log_softmax(logits.float(), -1).gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
            out.append((lp * keep).sum(1))  # EOS included: the approval is the whole critique
        return torch.cat(out).reshape(len(prompts), len(self.approvals))

    def __call__(self, prompts: list[str] | None, responses: list[str], **columns: Any) -> RewardOutput:
        responses = list(responses)
        prompts = [""] * len(responses) if prompts is None else list(prompts)
        scores = approval_logprob(self.sequence_logprobs(prompts, responses))
        return RewardOutput(scores.unsqueeze(1).float(), [self.name])


def _register() -> None:
    try:
        from langrl.rewards.registry import register_reward
    except ImportError:
        return
    register_reward("critic", CriticReward, overwrite=True,
                    doc="a critique model (langrl critique critic-data + sft): log P(it approves the response)")


_register()
