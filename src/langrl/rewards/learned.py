"""``rm:path=DIR``: a trained reward model (or ensemble) as a reward function.

    --reward rm:path=runs/rm                       # standardised sequence reward, objective "rm"
    --reward rm:path=runs/rm_ens,uncertainty=0.5   # mean - 0.5 x ensemble std (pessimistic under uncertainty)
    --reward rm:path=runs/rm_spans,name=fg         # fine-grained: one objective per category + dense segment rewards
    --reward rm:path=runs/rm_hh,head=helpful       # attribute model (rm train --objectives): one head, objective "helpful"

Sequence reward: the mean over heads of each head's score standardised with its training mean/std (``standardize``,
on by default; the registry's own ``normalize=`` key is a running normalisation on top),
minus ``uncertainty`` times the std over heads. Fine-grained models (trained on span feedback) add, per category c,
an objective ``NAME/c`` whose segments carry R_c(segment j) from P_j(c) by
:func:`langrl.rewards.segments.segment_values` (``segment_value=signed``, the default: 1 - 2 P_j(c), the expected value
of the paper's +1 (no error) / -1 (error) segment reward, Wu et al. 2023; ``fraction``: -P_j(c) / n, summing to minus
the expected share of bad segments; ``penalty``: -P_j(c)), times the category's weight in ``category_weights``
(``irrelevant:0.3;untruthful:0.5``, as the paper's relevance and factuality rewards; unnamed categories 1), placed on
the segment's last token by :func:`langrl.rewards.segments.place_segment_rewards`; the column is the sum over segments.

Attribute models (``rm train --objectives helpful,harmless``): ``head=NAME`` gives that head's standardised score as
one objective (named NAME unless ``name=`` says otherwise), so ``--reward rm:path=D,head=helpful --reward
rm:path=D,head=harmless`` is a reward vector for ``langrl rl --weights/--aggregation`` (the model is loaded once);
without ``head`` every head is its own column ``NAME/OBJECTIVE`` under one weight.
"""
from __future__ import annotations

from typing import Any

import torch

from langrl.rewards.protocol import RewardOutput, Segment
from langrl.rewards.segments import segment_values


def parse_category_weights(text: str) -> dict[str, float]:
    """``"irrelevant:0.3;untruthful:0.5"`` -> ``{"irrelevant": 0.3, "untruthful": 0.5}`` ("" -> {})."""
    from langrl.errors import InputError

    out: dict[str, float] = {}
    for part in filter(None, (x.strip() for x in text.split(";"))):
        cat, sep, value = part.partition(":")
        try:
            out[cat.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not cat.strip():
            raise InputError(f"rm: category_weights: expected CATEGORY:WEIGHT;... (e.g. irrelevant:0.3), got {part!r}")
    return out


class LearnedReward:
    """A trained reward model as a reward function (see the module docstring)."""

    def __init__(self, path: str, standardize: bool = True, uncertainty: float = 0.0, batch_size: int = 32,
                 name: str | None = None, segment_value: str = "signed", category_weights: str = "", head: str = ""):
        from langrl.errors import InputError
        from langrl.models.rm.model import load_reward_model
        from langrl.rewards.segments import SEGMENT_VALUES

        if segment_value not in SEGMENT_VALUES:
            raise InputError(f"rm: segment_value: expected one of {', '.join(SEGMENT_VALUES)}, got {segment_value!r}")
        self.segment_value, self.category_weights = segment_value, parse_category_weights(category_weights)

        self.model = _load(path, load_reward_model)
        self.path, self.standardize, self.uncertainty = path, standardize, float(uncertainty)
        self.objectives = list(self.model.meta.get("objectives") or [])
        if head and head not in self.objectives:
            raise InputError(f"rm: head: {head!r} is not a head of {path} (its heads: "
                             f"{', '.join(self.objectives) or 'none; train with rm train --objectives'})")
        if self.objectives and self.uncertainty:
            raise InputError(f"rm: uncertainty: {path} has one head per objective, not an ensemble")
        self.batch_size, self.name, self.head = int(batch_size), name or head or "rm", head
        unknown = sorted(set(self.category_weights) - set(self.categories))
        if unknown:
            raise InputError(f"rm: category_weights: {', '.join(unknown)} not among the model's categories "
                             f"({', '.join(self.categories) or 'none'})")

    @property
    def categories(self) -> list[str]:
        return list(self.model.categories)

    def __call__(self, prompts: list[str] | None, responses: list[str], **columns: Any) -> RewardOutput:
        responses = list(responses)
        prompts = [""] * len(responses) if prompts is None else list(prompts)
        cols, names, info = [], [], {}
        if self.objectives:  # attribute heads: the named one, or every head as its own column
            heads = self.model.score_heads(prompts, responses, self.batch_size, self.standardize)  # (b, K)
            picked = [self.objectives.index(self.head)] if self.head else range(len(self.objectives))
            cols += [heads[:, k] for k in picked]
            names += [self.name] if self.head else [f"{self.name}/{o}" for o in self.objectives]
        elif self.model.meta.get("sequence_head", True):
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
                    values = segment_values([p[k] for p in r["probs"]], self.segment_value,
                                            self.category_weights.get(cat, 1.0))
                    segments[i] += [Segment(end=e, value=v, objective=objective) for (_, e), v in zip(r["segments"],
                                                                                                     values)]
                    col.append(sum(values))
                cols.append(torch.tensor(col, dtype=torch.float32))
                names.append(objective)
        return RewardOutput(torch.stack(cols, dim=1).float(), names, segments, info)


_MODELS: dict = {}  # (resolved path, config mtime) -> attribute model: the head= terms of a run share one model


def _load(path: str, load):
    """``load(path)``; an attribute model (``objectives`` in its config) is loaded once for all its ``head=`` terms."""
    import json
    from pathlib import Path

    from langrl.models.rm.model import check_reward_model_dir

    cfg = check_reward_model_dir(path)
    try:
        shared = bool(json.loads(cfg.read_text()).get("objectives"))
    except (json.JSONDecodeError, AttributeError):
        shared = False  # the loader reports a broken config
    if not shared:
        return load(path)
    key = (str(Path(path).resolve()), cfg.stat().st_mtime_ns)
    if key not in _MODELS:
        _MODELS.clear()  # one model kept: the terms of one run read one directory
        _MODELS[key] = load(path)
    return _MODELS[key]


def _register() -> None:
    try:
        from langrl.rewards.registry import register_reward
    except ImportError:  # the registry is not there: LearnedReward still works when built directly
        return
    register_reward("rm", LearnedReward, overwrite=True,
                    doc="a trained reward model dir (langrl rm train): standardised score, optional ensemble penalty, "
                        "head=NAME of an attribute model")


_register()
