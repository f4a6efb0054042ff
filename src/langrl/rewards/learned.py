"""``rm:path=DIR``: a trained reward model (or ensemble) as a reward function.

    --reward rm:path=runs/rm                       # standardised sequence reward, objective "rm"
    --reward rm:path=runs/rm_ens,uncertainty=0.5   # mean - 0.5 x ensemble std (pessimistic under uncertainty)
    --reward rm:path=runs/rm_spans,name=fg         # fine-grained: one objective per category + dense segment rewards

Sequence reward: the mean over heads of each head's score standardised with its training mean/std (``standardize``,
on by default; the registry's own ``normalize=`` key is a running normalisation on top),
minus ``uncertainty`` times the std over heads. Fine-grained models (trained on span feedback) add, per category c,
an objective ``NAME/c`` whose segments carry R_c(segment j) = 1 - 2 P_j(c) — the expected value of the paper's
+1 (no error) / -1 (error) segment reward (Wu et al. 2023) — placed on the segment's last token by
:func:`langrl.rewards.segments.place_segment_rewards`; the objective's column is the sum over segments.
"""
from __future__ import annotations

from typing import Any

import torch

from langrl.rewards.protocol import RewardOutput, Segment


class LearnedReward:
    """A trained reward model as a reward function (see the module docstring)."""

    def __init__(self, path: str, standardize: bool = True, uncertainty: float = 0.0, batch_size: int = 32,
                 name: str = "rm"):
        from langrl.models.rm.model import load_reward_model

        self.model = load_reward_model(path)
        self.path, self.standardize, self.uncertainty = path, standardize, float(uncertainty)
        self.batch_size, self.name = int(batch_size), name

    @property
    def categories(self) -> list[str]:
        return list(self.model.categories)

    def __call__(self, prompts: list[str] | None, responses: list[str], **columns: Any) -> RewardOutput:
        responses = list(responses)
        prompts = [""] * len(responses) if prompts is None else list(prompts)
        cols, names, info = [], [], {}
        if self.model.meta.get("sequence_head", True):
            heads = self.model.score_heads(prompts, responses, self.batch_size, self.standardize)  # (b, E)
            std = heads.std(1, unbiased=False)
            cols.append(heads.mean(1) - self.uncertainty * std)
            names.append(self.name)
            info["std"] = std.tolist()
        segments = None
        if self.categories:
            res = self.model.segment_probs(prompts, responses, self.batch_size)
            segments = [[] for _ in responses]
            for k, cat in enumerate(self.categories):
                objective = f"{self.name}/{cat}"
                col = []
                for i, r in enumerate(res):
                    values = [1 - 2 * p[k] for p in r["probs"]]
                    segments[i] += [Segment(end=e, value=v, objective=objective) for (_, e), v in zip(r["segments"],
                                                                                                     values)]
                    col.append(sum(values))
                cols.append(torch.tensor(col, dtype=torch.float32))
                names.append(objective)
        return RewardOutput(torch.stack(cols, dim=1).float(), names, segments, info)


def _register() -> None:
    try:
        from langrl.rewards.registry import register_reward
    except ImportError:  # the registry is not there: LearnedReward still works when built directly
        return
    register_reward("rm", LearnedReward, overwrite=True,
                    doc="a trained reward model dir (langrl rm train): standardised score, optional ensemble penalty")


_register()
