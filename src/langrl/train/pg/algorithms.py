"""The policy-gradient algorithms as objects: built once from the config, then called with tensors only.

An algorithm is a small dataclass of exactly the settings it uses (PPO: ``clip_eps``, ``gamma``, ``lam``; GRPO:
``clip_eps``, ``n``, ``grpo_scale_std``; ...), plus class-level facts the loops read: does it need a value function,
NLPO's masking policy, at least two samples per prompt, and its defaults for the config fields left unset (resolved
once after parsing and saved with the run). :meth:`Algorithm.from_config` reads those settings from a resolved
config and refuses, at start-up, an algorithm-specific setting it would ignore (``--lam 0.5 --algo grpo``); the
constructor refuses any keyword it does not know. The loops never branch on the algorithm's name.

``ALGORITHMS`` (``langrl rl``: rows are whole responses) and ``TURN_ALGORITHMS`` (``langrl agent train``: rows are
turns of episodes, γ discounts turns) share the policy losses; only the advantage estimator changes
(:mod:`langrl.train.pg.advantages`). The KL term belongs to neither: :class:`langrl.train.pg.kl.KLPenalty`.

- PPO / NLPO: GAE(γ, λ) with the value function; PPO's clipped surrogate (Schulman et al. 2017, eq. 7).
- GRPO: group-normalised returns; the same clipped surrogate (its KL term, GRPO eq. 3, is the KL penalty in the loss:
  ``tests/pg/test_algorithms.py`` pins surrogate + penalty = ``langrl.losses.grpo_loss``).
- RLOO: leave-one-out baseline; REINFORCE: moving-average baseline (state saved with the checkpoint); both −A·log π.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar


from langrl.errors import InputError
from langrl.losses import ppo_policy_loss, reinforce_loss
from langrl.train.pg import advantages as est
from langrl.train.pg.advantages import AdvantageResult
from langrl.train.pg.stats import global_means

CONFIG_NAMES = {"n": ("samples_per_prompt", "group_size")}
"""Settings read from a config field of another name (the first the config has)."""
ALGORITHM_SETTINGS = ("clip_eps", "gamma", "lam", "grpo_scale_std", "baseline_decay")
"""Config fields that belong to some algorithms only: setting one the chosen algorithm ignores is an error."""


@dataclass
class Algorithm(ABC):
    name: ClassVar[str]
    uses_value: ClassVar[bool] = False
    uses_mask: ClassVar[bool] = False
    group_based: ClassVar[bool] = False
    """Needs at least 2 samples per prompt."""
    defaults: ClassVar[dict] = {}
    """Values for the config fields left unset (None)."""
    vector_estimator: ClassVar[str | None] = None
    """The group estimator applied per objective by ``--aggregation`` other than sum (GRPO, RLOO), else None."""

    @classmethod
    def settings(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)

    @classmethod
    def from_config(cls, cfg, prog: str = "rl") -> "Algorithm":
        """The algorithm with its settings read from the resolved ``cfg``; an algorithm-specific field set to a value
        other than its default that this algorithm does not use is an InputError naming it."""
        names = cls.settings()
        defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
        for f in ALGORITHM_SETTINGS:
            if f not in names and hasattr(cfg, f) and getattr(cfg, f) != defaults.get(f):
                raise InputError(f"{prog}: field '{f}' is not used by --algo {cls.name} (it uses "
                                 f"{', '.join(n for n in names if n != 'n') or 'none of them'}); "
                                 f"got {getattr(cfg, f)!r}")
        kw = {}
        for n in names:
            src = next(c for c in CONFIG_NAMES.get(n, (n,)) if hasattr(cfg, c))
            kw[n] = getattr(cfg, src)
        return cls(**kw)

    @abstractmethod
    def policy_loss(self, logprobs, old_logprobs, advantages, mask, normalizer):
        """(loss, parts): token-level, summed over ``mask`` and divided by ``normalizer``. Shapes: (b, t); advantages
        (b, t) or (b,)."""

    @abstractmethod
    def advantages(self, rewards, mask, values) -> AdvantageResult:
        """Implemented by each subclass."""

    def vector_advantages(self, columns, weights, rest, aggregation: str) -> AdvantageResult:
        """Advantages of a reward vector: ``columns`` (b, k) shaped objective scores, ``weights`` (k,), ``rest`` (b,)
        the rest of the sequence return (:func:`langrl.train.pg.advantages.vector_group_advantages`)."""
        if self.vector_estimator is None:
            raise ValueError(f"--algo {self.name} has no per-objective group estimator")
        return est.vector_group_advantages(columns, weights, rest, n=self.n, aggregation=aggregation,
                                           estimator=self.vector_estimator,
                                           scale_std=getattr(self, "grpo_scale_std", True))

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@dataclass
class _Clipped(Algorithm):
    clip_eps: float = 0.2

    def policy_loss(self, logprobs, old_logprobs, advantages, mask, normalizer):
        return ppo_policy_loss(logprobs, old_logprobs, advantages, mask, self.clip_eps, normalizer)


@dataclass
class _Reinforce(Algorithm):
    def policy_loss(self, logprobs, old_logprobs, advantages, mask, normalizer):
        """−A·log π (no ratio, no clipping): on-policy REINFORCE / RLOO."""
        return reinforce_loss(logprobs, advantages, mask, normalizer)


_TOKEN_KL = {"kl_in": "reward"}  # the estimator follows the placement: k1 in the reward, k3 in the loss


@dataclass
class PPO(_Clipped):
    name: ClassVar[str] = "ppo"
    uses_value: ClassVar[bool] = True
    defaults: ClassVar[dict] = {**_TOKEN_KL, "samples_per_prompt": 1, "epochs": 4, "whiten_advantages": True}
    gamma: float = 1.0
    lam: float = 0.95

    def advantages(self, rewards, mask, values) -> AdvantageResult:
        return est.gae_advantages(rewards, mask, values, gamma=self.gamma, lam=self.lam)


@dataclass
class NLPO(PPO):
    name: ClassVar[str] = "nlpo"
    uses_mask: ClassVar[bool] = True


@dataclass
class GRPO(_Clipped):
    name: ClassVar[str] = "grpo"
    group_based: ClassVar[bool] = True
    defaults: ClassVar[dict] = {"kl_in": "loss", "samples_per_prompt": 4, "epochs": 1, "whiten_advantages": False}
    vector_estimator: ClassVar[str | None] = "grpo"
    n: int = 4
    grpo_scale_std: bool = True

    def advantages(self, rewards, mask, values) -> AdvantageResult:
        return est.group_advantages(rewards, mask, n=self.n, scale_std=self.grpo_scale_std)


@dataclass
class RLOO(_Reinforce):
    name: ClassVar[str] = "rloo"
    group_based: ClassVar[bool] = True
    defaults: ClassVar[dict] = {**_TOKEN_KL, "samples_per_prompt": 4, "epochs": 1, "whiten_advantages": False}
    vector_estimator: ClassVar[str | None] = "rloo"
    n: int = 4

    def advantages(self, rewards, mask, values) -> AdvantageResult:
        return est.loo_advantages(rewards, mask, n=self.n)


@dataclass
class REINFORCE(_Reinforce):
    name: ClassVar[str] = "reinforce"
    defaults: ClassVar[dict] = {**_TOKEN_KL, "samples_per_prompt": 1, "epochs": 1, "whiten_advantages": False}
    baseline_decay: float = 0.9
    baseline: float | None = field(default=None, init=False)
    """The moving baseline (None before the first batch); saved with the checkpoint."""

    def advantages(self, rewards, mask, values) -> AdvantageResult:
        seq = est.sequence_returns(rewards, mask)
        mean = global_means({"return": (seq.sum(), len(seq))})["return"]  # the whole (global) batch's mean return
        res = est.moving_baseline_advantages(rewards, mask, baseline=self.baseline, decay=self.baseline_decay,
                                             return_mean=mean)
        self.baseline = res.baseline
        return res

    def state_dict(self) -> dict:
        return {"baseline": self.baseline}

    def load_state_dict(self, state: dict) -> None:
        self.baseline = state["baseline"]


# ---- multi-turn variants (``langrl agent train``): advantages(rewards, mask, values, episode)
@dataclass
class TurnPPO(PPO):
    def advantages(self, rewards, mask, values, episode) -> AdvantageResult:
        return est.turn_gae_advantages(rewards, mask, values, episode=episode, gamma=self.gamma, lam=self.lam)


@dataclass
class TurnGRPO(GRPO):
    gamma: float = 0.95

    def advantages(self, rewards, mask, values, episode) -> AdvantageResult:
        return est.group_episode_advantages(rewards, mask, episode=episode, gamma=self.gamma, n=self.n,
                                            scale_std=self.grpo_scale_std)


@dataclass
class TurnRLOO(RLOO):
    gamma: float = 0.95

    def advantages(self, rewards, mask, values, episode) -> AdvantageResult:
        return est.loo_episode_advantages(rewards, mask, episode=episode, gamma=self.gamma, n=self.n)


@dataclass
class TurnREINFORCE(REINFORCE):
    gamma: float = 0.95

    def advantages(self, rewards, mask, values, episode) -> AdvantageResult:
        res = est.reinforce_turn_advantages(rewards, mask, episode=episode, gamma=self.gamma, baseline=self.baseline,
                                            decay=self.baseline_decay)
        self.baseline = res.baseline
        return res


ALGORITHMS: dict[str, type[Algorithm]] = {a.name: a for a in (PPO, NLPO, GRPO, RLOO, REINFORCE)}
TURN_ALGORITHMS: dict[str, type[Algorithm]] = {a.name: a for a in (TurnPPO, TurnGRPO, TurnRLOO, TurnREINFORCE)}


def get_algorithm(name: str, table: dict[str, type[Algorithm]] = ALGORITHMS) -> type[Algorithm]:
    if name not in table:
        raise KeyError(f"unknown algorithm {name!r}; algorithms: {', '.join(table)}")
    return table[name]


DEFAULT_FIELDS = {"samples_per_prompt": ("samples_per_prompt", "group_size")}
"""A default of the algorithm tables given to a config field of another name (``langrl agent train``'s groups)."""


def resolve_config(cfg, table: dict[str, type[Algorithm]] = ALGORITHMS):
    """A copy of ``cfg`` with every unset (None) field given its algorithm's default (``table[cfg.algo].defaults``);
    the one place defaults that depend on the algorithm are decided, for ``langrl rl`` and ``langrl agent train``
    (``table=TURN_ALGORITHMS``). ``kl_estimator`` defaults by placement: k1 in the reward, k3 in the loss."""
    filled = {}
    for key, value in get_algorithm(cfg.algo, table).defaults.items():
        for name in DEFAULT_FIELDS.get(key, (key,)):
            if hasattr(cfg, name) and getattr(cfg, name) is None:
                filled[name] = value
    out = dataclasses.replace(cfg, **filled)
    if out.kl_estimator is None:
        out = dataclasses.replace(out, kl_estimator="k3" if out.kl_in == "loss" else "k1")
    return out


__all__ = ["ALGORITHMS", "TURN_ALGORITHMS", "Algorithm", "AdvantageResult", "GRPO", "NLPO", "PPO", "REINFORCE",
           "RLOO", "get_algorithm", "resolve_config"]
